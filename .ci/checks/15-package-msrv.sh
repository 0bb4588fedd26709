#!/usr/bin/env bash
# Publishing readiness: the package holds the library, its tests and examples, README and licenses
# only, packs without warnings, and builds on its own; the docs.rs build (nightly, --cfg docsrs) is
# warning-free; the crate builds on the Rust version it declares (best effort: that toolchain
# comes from .ci/install.sh), and the README states that version.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "--- cargo package: contents"
list=$(cargo package --locked --offline --allow-dirty --list -p lockorder 2>/dev/null)
echo "$list"
if grep -E '^(\.ci|ci|benches|fuzz|compat|docs)/' <<<"$list"; then
    echo "FAIL: the package ships files that belong to the repository only (above)"
    exit 1
fi
for f in LICENSE-MIT LICENSE-APACHE README.md src/lib.rs; do
    grep -qx "$f" <<<"$list" || { echo "FAIL: the package lacks $f"; exit 1; }
done

echo "--- cargo package: the packaged crate builds on its own, without warnings"
out=$(cargo package --locked --offline --allow-dirty -p lockorder 2>&1) || { echo "$out"; exit 1; }
echo "$out"
if grep -q "^warning" <<<"$out"; then
    echo "FAIL: cargo package warns (above)"
    exit 1
fi

echo "--- docs.rs build"
if cargo +nightly --version >/dev/null 2>&1; then
    RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo +nightly doc --locked --no-deps --all-features \
        -p lockorder --target-dir target/docsrs
else
    printf '\nSKIP: the docs.rs build needs a nightly toolchain, and none is installed\n\n'
fi

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
echo "--- MSRV: Rust $msrv"
grep -qF "Rust $msrv or later" README.md ||
    { echo "FAIL: README.md's prerequisites do not say \"Rust $msrv or later\""; exit 1; }
if rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    for features in "--no-default-features" "" "--all-features"; do
        # shellcheck disable=SC2086
        cargo "+$msrv" check --locked -p lockorder --lib $features --target-dir target/msrv
    done
    echo "ok: lockorder builds on Rust $msrv"
else
    printf '\nSKIP: Rust %s is not installed (.ci/install.sh); the declared MSRV was not checked\n\n' "$msrv"
fi
