#!/usr/bin/env bash
# Proves that lockorder is no_std: (1) without its `std` feature no dependency has `std` on;
# (2) a freestanding program (no std, no libc start-up) links lockorder and runs it correctly,
# with the waiter lists' spin lock and with a critical section; (3) that program does not build
# once lockorder's `std` is on, so the proof has teeth; (4) best effort, the library builds for
# a bare-metal Cortex-M target, and for a Cortex-M0 (no compare-and-swap) with `portable-atomic`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

echo "--- no \`std\` feature anywhere in the graph without lockorder's std"
for features in "" "embassy-time" "critical-section" "embassy-time,critical-section" \
    "portable-atomic" "embassy-time,portable-atomic"; do
    tree=$(cargo tree --locked --no-default-features --features "$features" -e normal,features)
    if grep 'feature "std"' <<<"$tree"; then
        echo "FAIL: with --no-default-features --features '$features', a dependency enables std:"
        cargo tree --locked --no-default-features --features "$features" -e normal,features \
            -i "$(grep -o '[a-z_-]* feature "std"' <<<"$tree" | head -n1 | cut -d' ' -f1)" || true
        exit 1
    fi
    echo "ok: --features '$features'"
done

echo "--- a freestanding x86_64 Linux program runs lockorder without std"
export CARGO_TARGET_DIR="$root/target/nostd-check"
manifest=.ci/nostd-check/Cargo.toml
bin="$CARGO_TARGET_DIR/release/nostd-check"
for features in "" "critical-section"; do
    RUSTFLAGS="-C link-arg=-nostartfiles -C link-arg=-lc" \
        cargo build --locked --release --manifest-path "$manifest" --features "$features"
    status=0
    "$bin" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAIL: nostd-check (features '$features') exited with $status (its failed check)"
        exit 1
    fi
done

echo "--- the same program must not build with lockorder's std on"
log="$CARGO_TARGET_DIR/with-std.log"
if RUSTFLAGS="-C link-arg=-nostartfiles -C link-arg=-lc" \
    cargo build --locked --release --manifest-path "$manifest" --features std >"$log" 2>&1; then
    echo "FAIL: nostd-check built with lockorder's std feature on: the no_std proof has no teeth"
    exit 1
fi
if ! grep -q 'duplicate lang item `panic_impl`' "$log"; then
    echo "FAIL: with std on, nostd-check failed for another reason than std's panic handler:"
    cat "$log"
    exit 1
fi
echo "ok: with std on it fails: $(grep -m1 'duplicate lang item' "$log")"
unset CARGO_TARGET_DIR

# bare_metal TARGET FEATURES...: builds the library for TARGET with each feature list, if the
# target is installed (.ci/install.sh adds it, best effort: a loud SKIP otherwise).
bare_metal() {
    local target=$1 features
    shift
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        echo
        echo "SKIP: the $target target is not installed; the bare-metal build was not checked"
        echo
        return
    fi
    for features in "$@"; do
        cargo build --locked --lib --no-default-features --features "$features" --target "$target"
        echo "ok: lockorder builds for $target with features '$features'"
    done
}

echo "--- bare metal: thumbv7em-none-eabihf (best effort)"
bare_metal thumbv7em-none-eabihf "" embassy-time,critical-section
echo "--- bare metal without compare-and-swap: thumbv6m-none-eabi (best effort)"
bare_metal thumbv6m-none-eabi embassy-time,portable-atomic stats,portable-atomic
