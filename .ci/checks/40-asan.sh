#!/usr/bin/env bash
# The library's unit tests and every integration test (stress, evil, alloc, ...) with default
# features, under AddressSanitizer: use-after-free, double free and out-of-bounds accesses,
# including in the dependencies' unsafe code that the tests drive. This is the suite's one run
# with default features (the last step of .ci/run runs it with `--all-features`, which puts
# the waiter lists behind the critical section and turns statistics on): here std's mutex and
# the stats-off code are tested. Without a nightly toolchain it runs without the sanitizer.
# Doctests are left out: rustdoc does not pass the sanitizer flags through consistently. A lost
# wake-up is a hang; the generous time limit turns it into a failure.
set -euo pipefail

if ! cargo +nightly --version >/dev/null 2>&1; then
    printf '\nSKIP: AddressSanitizer needs a nightly toolchain (.ci/install.sh): the default-features suite runs without it\n\n'
    timeout 600 cargo test --lib --tests
    exit 0
fi

RUSTFLAGS="-Zsanitizer=address" \
    timeout 600 cargo +nightly test --target x86_64-unknown-linux-gnu --target-dir target/asan --lib --tests
