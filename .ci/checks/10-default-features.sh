#!/usr/bin/env bash
# The suite with default features: `--all-features` switches event-listener to its
# critical-section backend and turns statistics on, so the std backend and the stats-off code
# are tested here.
set -euo pipefail
cargo test --lib --tests
