#!/usr/bin/env bash
# The real-thread stress test (tests/stress.rs), many runs, with the waiter lists
# behind the critical section (feature `critical-section`): its one global lock widens the
# window between a change of a lock word and the notification that goes with it, where a lost
# wake-up lives. A wake-up absorbed by a listener about to be discarded (hand-off rows G1 and
# G4) hung about one run in fifteen here, and one in a hundred or more with the default lists.
# Each run has a time limit, so a hang fails this step, by run, instead of stalling CI. About
# 2 s per run.
#
# LOCKORDER_STRESS_RUNS sets the number of runs (default 40).
set -euo pipefail
cd "$(dirname "$0")/../.."

runs="${LOCKORDER_STRESS_RUNS:-40}"
build=(cargo test --locked -p lockorder --features critical-section --test stress --no-run)
"${build[@]}"
bin="$("${build[@]}" 2>&1 | sed -n 's/.*Executable tests\/stress.rs (\(.*\))$/\1/p')"
[ -x "$bin" ] || { echo "no stress test binary found" >&2; exit 1; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for run in $(seq 1 "$runs"); do
    if ! timeout 120 "$bin" --test-threads=3 >"$log" 2>&1; then
        echo "stress run $run of $runs failed or hung (limit 120 s):" >&2
        cat "$log" >&2
        exit 1
    fi
done
echo "stress: $runs runs, all finished"
