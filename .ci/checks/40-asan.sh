#!/usr/bin/env bash
# AddressSanitizer over the library's unit tests and every integration test (stress, evil,
# alloc, ...): use-after-free, double free and out-of-bounds accesses, including in the
# dependencies' unsafe code that the tests drive. Doctests are left out: rustdoc does not pass
# the sanitizer flags through consistently. Needs only the nightly toolchain. A lost wake-up is
# a hang; the generous time limit turns it into a failure.
set -euo pipefail

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "SKIP: AddressSanitizer needs a nightly toolchain, and none is installed"
    exit 0
fi

RUSTFLAGS="-Zsanitizer=address" \
    timeout 600 cargo +nightly test --target x86_64-unknown-linux-gnu --target-dir target/asan --lib --tests
