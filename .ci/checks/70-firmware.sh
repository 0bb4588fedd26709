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
#     deadlocks in the waiter lists' spin lock, and the firmware's watchdog reports it;
#  4. planted bugs: each fault of src/fault.rs, built into the core, makes the firmware fail in
#     the check that should catch it, on both MCUs.
# Every QEMU run is under `timeout`; emulated time is deterministic (-icount).
# The firmware builds with --locked: after a change to the core's dependencies, refresh its lock
# file with `cd .ci/firmware && cargo update -p lockorder`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=thumbv7m-none-eabi # Cortex-M3: the size firmwares and the negative case run here
m0=thumbv6m-none-eabi     # Cortex-M0: the check firmware and the planted bugs run here too

# QEMU and the targets come from .ci/install.sh.
installed() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }
if ! command -v qemu-system-arm >/dev/null || ! installed "$target"; then
    echo
    echo "SKIP: qemu-system-arm or the $target target is missing (.ci/install.sh); the firmware was not built or run on QEMU"
    echo
    exit 0
fi
targets=("$target")
if installed "$m0"; then
    targets+=("$m0")
else
    echo
    echo "SKIP: the $m0 target is missing (.ci/install.sh); the firmware runs on the Cortex-M3 only"
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

echo "--- negative case: the waiter lists' spin lock (no critical-section) and an interrupt"
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

echo "--- planted bugs (src/fault.rs) must make the firmware fail"
# Built with `--cfg lockorder_fault` (RUSTFLAGS replaces the config's flags, so the linker script
# comes too) in a target directory of its own, so that the dependencies are built once: planting
# the next fault (LOCKORDER_FAULT) rebuilds lockorder and the firmware only.
fault_flags="-C link-arg=-Tlink.x --cfg lockorder_fault"
fault_dir="$root/target/firmware-fault"

# plant NAME CHECK: builds the check firmware with the fault NAME planted, and requires the run
# to fail in CHECK on every MCU.
plant() {
    local name=$1 check=$2 t status verdict log
    RUSTFLAGS=$fault_flags LOCKORDER_FAULT=$name CARGO_TARGET_DIR=$fault_dir \
        build .ci/firmware --bin checks "${target_flags[@]}"
    for t in "${targets[@]}"; do
        log="$logs/fault-$name-$t.log"
        status=0
        qemu "$fault_dir/$t/release/checks" "$log" "$t" >/dev/null || status=$?
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

# The faults and the check that must catch each one: .ci/faults.txt (whose list of faults
# .ci/checks/72-faults-host.sh compares with src/fault.rs). A fault of code the firmware does
# not have (the blocking `.wait()`, which needs `std`) has `-` for its check: host only.
while read -r name check _ <&3; do
    [ "$check" = - ] || plant "$name" "$check"
done 3< <(grep -v -e '^#' -e '^[[:space:]]*$' .ci/faults.txt)

echo "ok: the firmware passed on the emulated ${targets[*]}; the spin lock deadlocked as expected; $planted planted bugs were caught on each"
