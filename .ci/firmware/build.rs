//! Puts the board's `memory.x` where cortex-m-rt's `link.x` looks for it: the Cortex-M0
//! (`thumbv6m`, QEMU's microbit) has 16K of RAM, the Cortex-M3 (lm3s6965evb) 64K. Sets
//! `cfg(armv6m)` for the Cortex-M0.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    let memory = if target.starts_with("thumbv6m") {
        println!("cargo::rustc-cfg=armv6m");
        "memory-m0.x"
    } else {
        "memory-m3.x"
    };
    fs::copy(memory, out.join("memory.x")).unwrap();
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed=memory-m3.x");
    println!("cargo::rerun-if-changed=memory-m0.x");
}
