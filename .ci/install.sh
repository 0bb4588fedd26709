#!/usr/bin/env bash
# Every tool CI needs beyond the stable toolchain, installed in one place, each best effort: what
# cannot be installed gets a loud SKIP line here, and the steps that need it skip with one too.
# Run by .ci/run first; run it by hand before a single .ci/checks script on a new machine.
# Tools built from source are pinned and cached outside the repository (CI runs in a fresh clone
# on the same machine): $LOCKORDER_CI_TOOLS, default ~/.cache/lockorder-ci-tools.
set -uo pipefail
cd "$(dirname "$0")/.."

TOOLS="${LOCKORDER_CI_TOOLS:-$HOME/.cache/lockorder-ci-tools}"
skip() { printf '\nSKIP: %s\n\n' "$1"; }

# tool NAME VERSION WHO: cargo install --locked, unless the cached binary has that version.
tool() {
    "$TOOLS/bin/$1" --version 2>/dev/null | grep -qF "$2" && return
    timeout 900 cargo install --locked --root "$TOOLS" "$1@$2" ||
        skip "could not install $1 $2: $3 will skip"
}

# target TRIPLE WHO: a rustup target of the stable toolchain.
target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return
    timeout 180 rustup target add "$1" || skip "could not add the $1 target: $2 will skip"
}

# package BINARY PACKAGE WHO: a Debian package, for the command BINARY.
package() {
    command -v "$1" >/dev/null && return
    { timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 \
        apt-get install -y -qq "$2" >/dev/null; } || skip "could not install $2: $3 will skip"
}

echo "--- cargo tools"
tool cargo-deny 0.20.2 "the dependency policy check (cargo-deny)"
tool cargo-fuzz 0.13.2 "fuzzing (60-fuzz)"

echo "--- toolchains and components"
if ! cargo +nightly --version >/dev/null 2>&1 &&
    ! timeout 300 rustup toolchain install nightly --profile minimal; then
    skip "no nightly toolchain: AddressSanitizer, ThreadSanitizer, Miri, fuzzing and the docs.rs build will skip"
else
    for component in rust-src miri; do
        rustup component list --toolchain nightly --installed 2>/dev/null | grep -q "^$component" ||
            timeout 300 rustup component add --toolchain nightly "$component" ||
            skip "could not add the nightly $component: ThreadSanitizer and Miri (50-tsan-miri) will skip"
    done
fi
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
rustup run "$msrv" rustc --version >/dev/null 2>&1 ||
    timeout 300 rustup toolchain install "$msrv" --profile minimal ||
    skip "could not install Rust $msrv: the MSRV check (15-package-msrv) will skip"

echo "--- bare-metal targets"
target thumbv7em-none-eabihf "its bare-metal build (20-nostd)"
target thumbv6m-none-eabi "its bare-metal build (20-nostd) and the Cortex-M0 firmware (70-firmware)"
target thumbv7m-none-eabi "the firmware on QEMU (70-firmware)"

echo "--- system packages"
package qemu-system-arm qemu-system-arm "the firmware on QEMU (70-firmware)"
if [ -z "${DATABASE_URL:-}" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    package initdb postgresql "lockorder-postgres's tests and benchmark (65-postgres, the final tests)"
fi
exit 0
