#!/usr/bin/env bash
# Installs the Python examples' dependencies (psycopg, PyMySQL, Midtrans's official `midtransclient`)
# from PyPI into target/drive-python, where examples/drive/*.toml put them on PYTHONPATH, and creates
# their PostgreSQL databases (settle_drive: shop.py; settle_drive_revenue: revenue.py) and the
# MySQL/MariaDB database settle_drive (shop.py on MySQL). Run from the repository root. Exits
# non-zero when something is missing (a MySQL server only under CI=true).
set -euo pipefail
prefix=target/drive-python
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: python3 (3.11 or newer) is needed for examples/drive" >&2
    exit 1
fi
if ! PYTHONPATH=$prefix python3 -c 'import psycopg, pymysql, midtransclient' 2>/dev/null; then
    echo "installing psycopg[binary]==${PSYCOPG_VERSION:-3.3.9}, PyMySQL==${PYMYSQL_VERSION:-1.1.1} and midtransclient==${MIDTRANSCLIENT_VERSION:-1.4.2} into $prefix"
    mkdir -p "$prefix"
    python3 -m pip install --quiet --disable-pip-version-check --target "$prefix" \
        "psycopg[binary]==${PSYCOPG_VERSION:-3.3.9}" "PyMySQL==${PYMYSQL_VERSION:-1.1.1}" \
        "midtransclient==${MIDTRANSCLIENT_VERSION:-1.4.2}"
fi
url=${SETTLE_DRIVE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
for db in settle_drive settle_drive_revenue; do
    psql "$url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
        || psql "$url" -qc "CREATE DATABASE $db"
done
# shop.py on MySQL/MariaDB (shop_fixed_mysql.toml): its database, created with PyMySQL. A MySQL
# server that is not there is a warning (the PostgreSQL examples still run), an error under CI=true.
if ! PYTHONPATH=$prefix python3 - <<PY
import pymysql
c = pymysql.connect(host="${SETTLE_DRIVE_MYSQL_HOST:-127.0.0.1}", port=${SETTLE_DRIVE_MYSQL_PORT:-3306},
                    user="${SETTLE_DRIVE_MYSQL_USER:-root}", password="${SETTLE_DRIVE_MYSQL_PASSWORD:-}")
c.cursor().execute("CREATE DATABASE IF NOT EXISTS settle_drive")
PY
then
    if [ "${CI:-}" = "true" ]; then
        echo "error: cannot create the MySQL database settle_drive (CI=true: shop_fixed_mysql.toml must run)" >&2
        exit 1
    fi
    echo "warning: cannot create the MySQL database settle_drive: shop_fixed_mysql.toml will not run" >&2
fi
