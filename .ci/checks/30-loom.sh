#!/usr/bin/env bash
# Model checking with loom: every interleaving of the models in tests/loom.rs, up to three
# preemptions per execution. Its own target directory: `--cfg loom` rebuilds every dependency.
set -euo pipefail

RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
    cargo test --release --target-dir target/loom --test loom
