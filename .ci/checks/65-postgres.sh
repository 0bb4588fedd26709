#!/usr/bin/env bash
# lockorder-postgres, the workspace member that takes lockorder's sets across processes on
# PostgreSQL (its lints and docs are in the main workspace-wide steps): its dependencies' licenses,
# then its tests, which start a throwaway cluster from the installed binaries when DATABASE_URL is
# unset. PostgreSQL is installed when missing; if that is impossible, a loud SKIP line says so.
# With DATABASE_URL set, its user must be a superuser: the tests create roles (two-role
# privileges, connection limits, bounded sessions counted per role) and schemas. About a minute
# of tests, then a short benchmark run.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The main cargo-deny step checks the root package's graph; this one adds the members'.
TOOLS="${LOCKORDER_CI_TOOLS:-$HOME/.cache/lockorder-ci-tools}"
"$TOOLS/bin/cargo-deny" --offline --workspace check bans licenses sources

have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
        { command -v initdb >/dev/null && command -v pg_ctl >/dev/null; }
}

if [ -z "${DATABASE_URL:-}" ] && ! have_postgres; then
    echo "--- PostgreSQL is not installed: installing it (apt-get install postgresql)"
    if ! { timeout 600 apt-get update && timeout 900 apt-get install -y postgresql; } ||
        ! have_postgres; then
        printf '\nSKIP: lockorder-postgres tests: PostgreSQL could not be installed and DATABASE_URL is unset\n\n'
        exit 0
    fi
fi

cargo test --locked -p lockorder-postgres
# The benchmark still builds and runs (a short smoke run; the numbers in docs/performance.md come from a
# full one).
LOCKORDER_BENCH_QUICK=1 cargo bench --locked -p lockorder-postgres --bench postgres
