#!/usr/bin/env bash
# lockorder-postgres, the workspace member that takes lockorder's sets across processes on
# PostgreSQL: its benchmark still builds and runs (a short smoke run; the numbers in
# docs/performance.md come from a full one). Its lints, docs and dependency licenses are in the
# main workspace-wide steps, and its tests run once, in the last step (`cargo test --workspace
# --all-features`): they start a throwaway cluster from the installed binaries when DATABASE_URL
# is unset (.ci/install.sh installs PostgreSQL when missing). With DATABASE_URL set, its user
# must be a superuser: the tests create roles and schemas.
set -euo pipefail
cd "$(dirname "$0")/../.."

have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
        { command -v initdb >/dev/null && command -v pg_ctl >/dev/null; }
}

if [ -z "${DATABASE_URL:-}" ] && ! have_postgres; then
    printf '\nSKIP: the lockorder-postgres benchmark: PostgreSQL is not installed (.ci/install.sh) and DATABASE_URL is unset\n\n'
    exit 0
fi

LOCKORDER_BENCH_QUICK=1 cargo bench --locked -p lockorder-postgres --bench postgres
