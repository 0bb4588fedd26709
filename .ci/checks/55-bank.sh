#!/usr/bin/env bash
# The bank example: accounts as a lock family with Protected balances, keyed transfers in both
# directions on tokio and a blocking auditor. It exits non-zero when money is not conserved, or
# when a helper that locks against the order is not refused; the time limit turns a deadlock
# into a failure. About 2 s once built.
set -euo pipefail
timeout 600 cargo run --example bank
