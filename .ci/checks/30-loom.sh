#!/usr/bin/env bash
# Model checking with loom: every interleaving of the models in tests/loom.rs, up to three
# preemptions per execution. Its own target directory: `--cfg loom` rebuilds every dependency.
# Loom reports a lost wake-up itself (every thread blocked); the time limit only bounds a model
# whose state space grew by mistake.
set -euo pipefail

RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
    timeout 1800 cargo test --release --target-dir target/loom --test loom
# The waiter lists alone (src/waiters.rs): a notification racing a poll, a discard, a listener
# dropped with its notification.
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
    timeout 600 cargo test --release --target-dir target/loom --lib waiters::loom_models
