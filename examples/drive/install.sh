#!/usr/bin/env bash
# Installs the Python examples' dependencies (psycopg, Midtrans's official `midtransclient`) from
# PyPI into target/drive-python, where examples/drive/*.toml put them on PYTHONPATH, and creates
# their PostgreSQL databases (settle_drive: shop.py; settle_drive_revenue: revenue.py). Run from the repository root. Exits non-zero when something is missing.
set -euo pipefail
prefix=target/drive-python
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: python3 (3.11 or newer) is needed for examples/drive" >&2
    exit 1
fi
if ! PYTHONPATH=$prefix python3 -c 'import psycopg, midtransclient' 2>/dev/null; then
    echo "installing psycopg[binary]==${PSYCOPG_VERSION:-3.3.9} and midtransclient==${MIDTRANSCLIENT_VERSION:-1.4.2} into $prefix"
    mkdir -p "$prefix"
    python3 -m pip install --quiet --disable-pip-version-check --target "$prefix" \
        "psycopg[binary]==${PSYCOPG_VERSION:-3.3.9}" "midtransclient==${MIDTRANSCLIENT_VERSION:-1.4.2}"
fi
url=${SETTLE_DRIVE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
for db in settle_drive settle_drive_revenue; do
    psql "$url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
        || psql "$url" -qc "CREATE DATABASE $db"
done
