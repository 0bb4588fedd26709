#!/usr/bin/env bash
# ThreadSanitizer and Miri, both best effort: they need the nightly `rust-src` (and `miri`)
# components (.ci/install.sh adds them); without them each prints a SKIP line.
#
# * ThreadSanitizer (with the standard library rebuilt instrumented, -Zbuild-std) runs the unit
#   and integration tests: a release that does not happen-before the next holder's accesses is a
#   reported data race on the stress test's plain counters.
# * Miri interprets a small subset (unit tests, the stress test at its Miri size, the evil
#   tests, and `Protected`'s and the task keys' tests, `Protected` being the crate's one module
#   with `unsafe`): undefined behaviour, data races, and memory leaked at exit.
# A lost wake-up is a hang (Miri reports it as a deadlock); the generous time limits turn a hang
# into a failure.
set -euo pipefail

TARGET=x86_64-unknown-linux-gnu

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "SKIP: ThreadSanitizer and Miri need a nightly toolchain, and none is installed"
    exit 0
fi

have() {
    rustup component list --toolchain nightly --installed 2>/dev/null | grep -q "^$1"
}

if have rust-src; then
    RUSTFLAGS="-Zsanitizer=thread" \
        timeout 900 cargo +nightly test -Zbuild-std --target "$TARGET" --target-dir target/tsan --lib --tests
else
    echo "SKIP: ThreadSanitizer needs the nightly rust-src component (.ci/install.sh), which is missing"
fi

if have rust-src && have miri; then
    cargo +nightly miri setup
    timeout 900 cargo +nightly miri test --target-dir target/miri --lib --test stress --test evil \
        --test protected --test keys
else
    echo "SKIP: Miri needs the nightly miri and rust-src components (.ci/install.sh), which are missing"
fi
