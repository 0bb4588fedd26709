//! The committed seeds: exactly the seed book's (for `manager_ops`), and every seed of every
//! target runs clean. Runs on stable, without libFuzzer: `cargo test --manifest-path
//! fuzz/Cargo.toml`. `LOCKORDER_WRITE_SEEDS=1` rewrites `seeds/manager_ops/` from the book.

use std::fs;
use std::path::{Path, PathBuf};

use lockorder_fuzz::{keys_data, manager_ops, registration};

fn dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target)
}

/// The files of a seed directory, by name.
fn files(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir(target))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn manager_ops_seeds_are_the_book() {
    let mut book: Vec<(String, Vec<u8>)> = manager_ops::seeds::book()
        .into_iter()
        .map(|(name, bytes)| (name.to_string(), bytes))
        .collect();
    book.sort();
    if std::env::var_os("LOCKORDER_WRITE_SEEDS").is_some() {
        for (name, _) in files("manager_ops") {
            fs::remove_file(dir("manager_ops").join(name)).unwrap();
        }
        for (name, bytes) in &book {
            fs::write(dir("manager_ops").join(name), bytes).unwrap();
        }
    }
    let committed = files("manager_ops");
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&committed), names(&book), "seed files vs the book");
    for ((name, bytes), (_, written)) in committed.iter().zip(&book) {
        assert_eq!(
            bytes, written,
            "seeds/manager_ops/{name} is not the book's (LOCKORDER_WRITE_SEEDS=1 rewrites it)"
        );
    }
}

#[test]
fn manager_ops_seeds_run_clean() {
    for (name, bytes) in files("manager_ops") {
        println!("{name}");
        manager_ops::run(manager_ops::Input::decode(&bytes));
    }
}

#[test]
fn registration_seeds_run_clean() {
    for (name, bytes) in files("registration") {
        println!("{name}");
        registration::run(registration::Input::decode(&bytes));
    }
}

#[test]
fn keys_data_seeds_run_clean() {
    for (name, bytes) in files("keys_data") {
        println!("{name}");
        keys_data::run(keys_data::Input::decode(&bytes));
    }
}

/// Many pseudo-random inputs, so that the model is exercised without libFuzzer too.
#[test]
fn keys_data_random_inputs_run_clean() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..if cfg!(debug_assertions) {
        2_000
    } else {
        20_000
    } {
        let len = 8 + (seed % 200) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        keys_data::run(keys_data::Input::decode(&bytes));
    }
}
