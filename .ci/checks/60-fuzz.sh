#!/usr/bin/env bash
# Differential fuzzing (fuzz/): every cargo-fuzz target runs for a bounded time, starting from
# the seeds committed in fuzz/seeds/<target>/. Any disagreement with the model, panic or
# AddressSanitizer report fails CI; the crashing input is left in fuzz/artifacts/<target>/ and
# the log says how to reproduce and minimize it.
#
# LOCKORDER_FUZZ_SECONDS sets the time per target (default 40).
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLS="${LOCKORDER_CI_TOOLS:-$HOME/.cache/lockorder-ci-tools}"
export PATH="$TOOLS/bin:$PATH"
seconds="${LOCKORDER_FUZZ_SECONDS:-40}"

# The harness is code too (it is its own workspace, outside the main fmt and clippy runs).
cargo fmt --manifest-path fuzz/Cargo.toml --check
cargo clippy --locked --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
# The committed seeds are the seed book's and run clean (stable, no libFuzzer: seconds).
cargo test --locked --manifest-path fuzz/Cargo.toml --test seeds

# The nightly toolchain and cargo-fuzz come from .ci/install.sh.
if ! cargo +nightly --version >/dev/null 2>&1 || ! "$TOOLS/bin/cargo-fuzz" --version >/dev/null 2>&1; then
    printf '\nSKIP: fuzzing needs a nightly toolchain and cargo-fuzz (.ci/install.sh); one is missing\n\n'
    exit 0
fi

# libFuzzer adds new inputs to the first corpus directory only: a scratch one, so that the
# committed seeds (the second) stay as they are.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# cargo-fuzz has no --locked: check the committed lock file first.
cargo +nightly fetch --locked --manifest-path fuzz/Cargo.toml
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
    echo "--- fuzz $target for ${seconds}s"
    mkdir -p "$scratch/$target"
    cargo +nightly fuzz run "$target" "$scratch/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=20 -print_final_stats=1 2>&1 |
        { grep -v -E '^(#[0-9]+\s+(NEW|REDUCE|pulse)|\s+NEW_FUNC|"|###### )' || true; }
done

if [ -n "$(git status --porcelain -- fuzz/seeds)" ]; then
    echo "fuzzing changed the committed seeds in fuzz/seeds" >&2
    exit 1
fi
