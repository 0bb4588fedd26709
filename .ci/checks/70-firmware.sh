#!/usr/bin/env bash
# lockorder in firmware on an emulated Cortex-M3 (QEMU's lm3s6965evb) and an emulated Cortex-M0
# without compare-and-swap (QEMU's microbit, nRF51; lockorder's `portable-atomic` feature),
# .ci/firmware:
#  1. the check firmware runs green on both (its exit status is the verdict);
#  2. the size firmwares run, and their flash and RAM are compared (lockorder, built and declared
#     with `hierarchy!`, against embassy-sync mutexes, over a baseline without locks); a declared
#     hierarchy runs with a global allocator that refuses every allocation; instructions per
#     uncontended acquire + release are counted on both MCUs;
#  3. negative case: without lockorder's `critical-section` feature, the interrupt check
#     deadlocks in event-listener's spin lock, and the firmware's watchdog reports it;
#  4. planted bugs: bugs put into a copy of the core make the firmware fail, each in the check
#     that should catch it, on both MCUs.
# Every QEMU run is under `timeout`; emulated time is deterministic (-icount).
# The firmware builds with --locked: after a change to the core's dependencies, refresh its lock
# file with `cd .ci/firmware && cargo update -p lockorder`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=thumbv7m-none-eabi # Cortex-M3: the size firmwares and the negative case run here
m0=thumbv6m-none-eabi     # Cortex-M0: the check firmware and the planted bugs run here too

if ! command -v qemu-system-arm >/dev/null; then
    echo "--- installing qemu-system-arm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq qemu-system-arm >/dev/null
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target" &&
    ! timeout 180 rustup target add "$target"; then
    echo
    echo "SKIP: could not add the $target target; the firmware was not built or run on QEMU"
    echo
    exit 0
fi
targets=("$target")
if rustup target list --installed 2>/dev/null | grep -qx "$m0" || timeout 180 rustup target add "$m0"; then
    targets+=("$m0")
else
    echo
    echo "SKIP: could not add the $m0 target; the firmware runs on the Cortex-M3 only"
    echo
fi
# --target flags for every MCU the checks run on.
target_flags=()
for t in "${targets[@]}"; do target_flags+=(--target "$t"); done

export CARGO_TARGET_DIR="$root/target/firmware"
out="$CARGO_TARGET_DIR/$target/release"
logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$logs"

# qemu ELF LOG [TARGET]: runs the firmware on the MCU of TARGET (default: the Cortex-M3),
# prints and keeps its output, returns QEMU's exit status.
# Standard input must be open (QEMU's -nographic console fails on a closed one).
qemu() {
    local status=0 machine
    case "${3:-$target}" in
    "$m0") machine=(-machine microbit) ;;
    *) machine=(-cpu cortex-m3 -machine lm3s6965evb) ;;
    esac
    timeout 60 qemu-system-arm "${machine[@]}" -nographic \
        -semihosting-config enable=on,target=native -icount shift=7,sleep=off \
        -kernel "$1" </dev/null >"$2" 2>&1 || status=$?
    grep -v '^Timer with period zero' "$2" || true
    return "$status"
}

# build DIR ARGS...: builds in the firmware package at DIR (its .cargo/config.toml applies).
build() {
    local dir=$1
    shift
    (cd "$dir" && cargo build --locked --release "$@")
}

# on_every_mcu BIN VERDICT WHAT: runs the firmware BIN (built for each MCU) on every MCU; its
# output must hold the line VERDICT and no failure.
on_every_mcu() {
    local bin=$1 verdict=$2 what=$3 t status log
    for t in "${targets[@]}"; do
        echo "--- $what on $t"
        log="$logs/$bin-$t.log"
        status=0
        qemu "$CARGO_TARGET_DIR/$t/release/$bin" "$log" "$t" || status=$?
        if [ "$status" -ne 0 ] || grep -q '^FAIL' "$log" || ! grep -qx "$verdict" "$log"; then
            echo "FAIL: $bin failed on the emulated $t (QEMU exit status $status)"
            exit 1
        fi
    done
}

build .ci/firmware --bins
if [ "${#targets[@]}" -gt 1 ]; then
    build .ci/firmware --bin checks --bin cost --target "$m0"
fi
on_every_mcu checks '19 passed, 0 failed' "the check firmware"

echo "--- size: lockorder against embassy-sync mutexes, over a firmware without locks"
for fw in size_base size_mutex size_lockorder size_static; do
    status=0
    qemu "$out/$fw" "$logs/$fw.log" || status=$?
    if [ "$status" -ne 0 ] || ! grep -qx '1 passed, 0 failed' "$logs/$fw.log"; then
        echo "FAIL: $fw failed on the emulated MCU (QEMU exit status $status)"
        exit 1
    fi
done
python3 .ci/firmware/size-report.py "$out" "$logs"

on_every_mcu cost '1 passed, 0 failed' \
    "instructions per uncontended acquire + release (counted under -icount)"

echo "--- no allocator: a declared hierarchy, with a global allocator that refuses everything"
build .ci/firmware --bin static_noalloc --features refuse-alloc
status=0
qemu "$out/static_noalloc" "$logs/static_noalloc.log" || status=$?
if [ "$status" -ne 0 ] || ! grep -qx '4 passed, 0 failed' "$logs/static_noalloc.log"; then
    echo "FAIL: static_noalloc failed without an allocator (QEMU exit status $status)"
    exit 1
fi
# Teeth: the same firmware, waiting for a busy lock (which allocates), must fail.
NOALLOC_TEETH=1 build .ci/firmware --bin static_noalloc --features refuse-alloc
status=0
qemu "$out/static_noalloc" "$logs/static_noalloc-teeth.log" >/dev/null || status=$?
if [ "$status" -ne 1 ] || ! grep -q '^memory allocation of [0-9]* bytes failed' "$logs/static_noalloc-teeth.log"; then
    echo "FAIL: static_noalloc waiting for a busy lock should fail to allocate (QEMU exit status $status):"
    cat "$logs/static_noalloc-teeth.log"
    exit 1
fi
echo "ok: without an allocator the declared hierarchy passed; a wait, which allocates, failed as expected"

echo "--- negative case: event-listener's spin lock (no critical-section) and an interrupt"
build .ci/firmware --bin checks --no-default-features
status=0
qemu "$out/checks" "$logs/spin.log" || status=$?
expected='FAIL interrupt-releases-into-waiting-task: stuck for .* inside the interrupt handler'
if [ "$status" -ne 1 ] || ! grep -q "$expected" "$logs/spin.log" ||
    ! grep -q '^ok interrupt-try-acquire' "$logs/spin.log"; then
    echo "FAIL: without critical-section the firmware should pass every check up to the"
    echo "interrupt check and then hang inside the interrupt handler (QEMU exit status $status)"
    exit 1
fi
echo "ok: without critical-section, the interrupt handler deadlocked in the spin lock, as expected"

echo "--- planted bugs in a copy of the core must make the firmware fail"
mutants="$CARGO_TARGET_DIR/mutants"
rm -rf "$mutants"
mkdir -p "$mutants"

# plant NAME FILE OLD NEW CHECK: copies the core, replaces the one occurrence of OLD in FILE
# with NEW, builds the check firmware on it, and requires the run to fail in CHECK on every MCU.
plant() {
    local name=$1 file=$2 old=$3 new=$4 check=$5
    local copy="$mutants/$name"
    mkdir -p "$copy/.ci"
    # The whole package and its workspace, less build output and the fuzz crate.
    local item
    for item in *; do
        case "$item" in target | fuzz) ;; *) cp -r "$item" "$copy/" ;; esac
    done
    cp -r .ci/firmware "$copy/.ci/"
    OLD=$old NEW=$new python3 - "$copy/$file" <<'EOF'
import os, sys
path, old, new = sys.argv[1], os.environ["OLD"], os.environ["NEW"]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"FAIL: cannot plant the bug: {path} has {text.count(old)} copies of {old!r}; "
             "the core changed, update .ci/checks/70-firmware.sh")
open(path, "w").write(text.replace(old, new))
EOF
    build "$copy/.ci/firmware" --bin checks "${target_flags[@]}"
    local t status verdict log
    for t in "${targets[@]}"; do
        log="$logs/mutant-$name-$t.log"
        status=0
        qemu "$CARGO_TARGET_DIR/$t/release/checks" "$log" "$t" >/dev/null || status=$?
        verdict=$(grep -m1 '^FAIL' "$log" || true)
        if [ "$status" -eq 0 ] || [[ "$verdict" != "FAIL $check:"* ]]; then
            echo "FAIL: planted bug '$name' was not caught by check $check on $t (QEMU exit status $status):"
            cat "$log"
            exit 1
        fi
        echo "ok: planted bug '$name' caught on $t (exit $status): $verdict"
    done
    planted=$((planted + 1))
}
planted=0

# The raw lock (src/raw.rs).
plant raw-lock-ignores-holder src/raw.rs \
    'if state & HOLDERS != 0 {' 'if false && state & HOLDERS != 0 {' ordering
plant raw-release-wakes-nobody src/raw.rs \
    'if old & (WAIT_S | WAIT_X | RESERVED) != 0 {' \
    'if false && old & (WAIT_S | WAIT_X | RESERVED) != 0 {' ordering
# The timeout path (src/acquire.rs).
plant timeout-never-fires src/acquire.rs \
    '.is_some_and(|sleep| sleep.poll(self.0).is_ready())' \
    '.is_some_and(|sleep| false && sleep.poll(self.0).is_ready())' timeout
plant timeout-twice-as-long src/acquire.rs \
    'sleep_for(timeout)' 'sleep_for(timeout * 2)' timeout
plant timeout-keeps-partial-set src/acquire.rs \
    $'*state = State::Done;\n        walk.release(table);' \
    '*state = State::Done;' timeout
# Cancellation (the walk's release, src/walk.rs).
plant cancel-keeps-wake-up src/walk.rs \
    'if listener.discard() && turn != Turn::Reserved {' \
    'if listener.discard() && false && turn != Turn::Reserved {' \
    cancel-passes-wake-up
# Bounded waiting: a woken waiter refused because a newcomer got in reserves the lock
# (src/walk.rs); while it is reserved, other takers yield and a release wakes that waiter alone;
# its take lifts the reservation and re-arms the queues' waiting bits (src/raw.rs).
plant reservation-never-taken src/walk.rs \
    'Turn::Woken if busy == Busy::Held => match raw.reserve() {' \
    'Turn::Woken if false && busy == Busy::Held => match raw.reserve() {' ordering
plant newcomers-ignore-reservation src/raw.rs \
    '_ if state & RESERVED != 0 => return Err(Busy::Yield),' \
    '_ if false && state & RESERVED != 0 => return Err(Busy::Yield),' ordering
plant release-ignores-reservation src/raw.rs \
    $'fn wake_after_release(&self, old: u32) {\n        if old & RESERVED != 0 {' \
    $'fn wake_after_release(&self, old: u32) {\n        if false && old & RESERVED != 0 {' ordering
plant reserved-take-leaves-queues-unarmed src/raw.rs \
    'Turn::Reserved => (next & !RESERVED) | WAIT_S | WAIT_X,' \
    'Turn::Reserved => next & !RESERVED,' hand-off
# Shared mode (src/raw.rs).
plant shared-take-ignores-writer src/raw.rs \
    'if holders == EXCLUSIVE || holders == MAX_READERS {' \
    'if holders == MAX_READERS {' shared-exclusion
plant last-reader-wakes-nobody src/raw.rs \
    'if holders == 1 && old & (WAIT_S | WAIT_X | RESERVED) != 0 {' \
    'if false && holders == 1 && old & (WAIT_S | WAIT_X | RESERVED) != 0 {' shared-exclusion
plant new-readers-ignore-waiting-writer src/raw.rs \
    'Turn::New => self.writers_waiting.load(Ordering::Relaxed) != 0,' \
    'Turn::New => false,' writer-preference
plant writer-giving-up-strands-readers src/raw.rs \
    'return state & WAIT_S != 0 && state & HOLDERS != EXCLUSIVE;' \
    'return false && state & WAIT_S != 0 && state & HOLDERS != EXCLUSIVE;' writer-preference
rm -rf "$mutants"

# Leave the real firmware in place for whoever looks next.
build .ci/firmware --bins >/dev/null 2>&1
echo "ok: the firmware passed on the emulated ${targets[*]}; the spin lock deadlocked as expected; $planted planted bugs were caught on each"
