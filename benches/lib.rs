//! Nothing here: this package holds the benchmarks (`cargo bench -p lockorder-benches`).
