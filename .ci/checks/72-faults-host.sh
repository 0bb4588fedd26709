#!/usr/bin/env bash
# Planted bugs on the host: each fault of src/fault.rs, built into the core (`--cfg
# lockorder_fault`, `LOCKORDER_FAULT=<name>`), must make the host test named beside it in
# .ci/faults.txt fail; built without a fault, every one of those tests passes (the control).
# .ci/faults.txt must list exactly the faults of src/fault.rs. Its own target directory, with
# fixed RUSTFLAGS: the dependencies are built once, and each fault rebuilds the crate only
# (incrementally). About a minute cold, 30 s warm.
set -euo pipefail
cd "$(dirname "$0")/../.."

export RUSTFLAGS="--cfg lockorder_fault"
export CARGO_TARGET_DIR="$PWD/target/fault"

echo "--- .ci/faults.txt lists the faults of src/fault.rs"
python3 - <<'PY'
import re, sys
source = open("src/fault.rs").read()
table = source[source.index("FAULTS"):]
table = table[: table.index("];")]
defined = re.findall(r'\(\s*"([a-z0-9-]+)"\s*,', table)
listed = [line.split()[0] for line in open(".ci/faults.txt") if line.strip() and not line.startswith("#")]
if sorted(defined) != sorted(listed) or len(set(listed)) != len(listed):
    sys.exit(f"FAIL: src/fault.rs defines {sorted(defined)}\nbut .ci/faults.txt lists {sorted(listed)}")
print(f"ok: {len(defined)} faults")
PY

# run FAULT TARGET TEST: builds with FAULT planted (none if empty), then runs TEST alone, under
# a time limit (a planted lost wake-up may hang). Returns the test's status; prints its log on
# a build failure.
run() {
    local fault=$1 target=$2 test=$3 flags
    if [ "$target" = lib ]; then flags=(--lib); else flags=(--test "$target"); fi
    if ! LOCKORDER_FAULT=$fault cargo test --locked -q -p lockorder "${flags[@]}" --no-run 2>"$CARGO_TARGET_DIR/build.log"; then
        cat "$CARGO_TARGET_DIR/build.log"
        echo "FAIL: lockorder does not build with the fault '$fault' planted"
        exit 1
    fi
    LOCKORDER_FAULT=$fault timeout 120 cargo test --locked -q -p lockorder "${flags[@]}" -- \
        --exact "$test" >"$CARGO_TARGET_DIR/test.log" 2>&1
}

mkdir -p "$CARGO_TARGET_DIR"
echo "--- control: without a fault, every test of the list passes"
while read -r _ _ target test <&3; do
    if ! run "" "$target" "$test"; then
        cat "$CARGO_TARGET_DIR/test.log"
        echo "FAIL: $target $test fails with no fault planted"
        exit 1
    fi
    if ! grep -q "1 passed" "$CARGO_TARGET_DIR/test.log"; then
        cat "$CARGO_TARGET_DIR/test.log"
        echo "FAIL: no test of $target is named $test (.ci/faults.txt)"
        exit 1
    fi
done 3< <(grep -v -e '^#' -e '^[[:space:]]*$' .ci/faults.txt | sort -u -k3,4)

echo "--- each planted fault fails its test"
caught=0
while read -r fault _ target test <&3; do
    status=0
    run "$fault" "$target" "$test" || status=$?
    if [ "$status" = 0 ]; then
        echo "FAIL: planted bug '$fault' was not caught by the host test $target $test"
        exit 1
    fi
    if [ "$status" = 124 ]; then
        # The test hung (a planted lost wake-up): caught, by the time limit.
        echo "ok: planted bug '$fault' caught by $target $test (it hung; stopped after 120 s)"
        caught=$((caught + 1))
        continue
    fi
    if ! grep -qF -- "$test" "$CARGO_TARGET_DIR/test.log" || ! grep -q "FAILED" "$CARGO_TARGET_DIR/test.log"; then
        cat "$CARGO_TARGET_DIR/test.log"
        echo "FAIL: with '$fault' planted, $target $test did not fail as a test (above)"
        exit 1
    fi
    echo "ok: planted bug '$fault' caught by $target $test"
    caught=$((caught + 1))
done 3< <(grep -v -e '^#' -e '^[[:space:]]*$' .ci/faults.txt)
echo "ok: $caught planted bugs caught by the host tests"
