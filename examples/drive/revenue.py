"""Seed 002's revenue sync in Python, on PostgreSQL, reading Fanvue's earnings API.

settle starts it (`settle drive examples/drive/revenue_bug.toml`) with:
  PORT                       where to listen (127.0.0.1)
  SETTLE_PROVIDER_URL        Fanvue's base URL (settle's model)
  SETTLE_FANVUE_API_VERSION  the X-Fanvue-API-Version to send
  SETTLE_FANVUE_CREATORS     JSON [{"name", "creator", "token"}]: the connected creators
  SETTLE_DATABASE_URL        the service's PostgreSQL database (seed 002's schema)
  SETTLE_TIME_SCALE          simulated ms per real ms: Retry-After and back-off pauses are divided by it
and REVENUE_BUG=1 for the incremental sync the seed's team wrote first: it remembers the date of
the newest row it stored and asks for `startDate=last_seen`, keeping rows with `date > last_seen`
so as not to store the last one twice. Rows that share that timestamp (a batch import) and did
not fit on the page are never read. REVENUE_BUG=cursor is the fix's pagination with seed 002's
other bug: the cursor is saved in its own transaction before the page's rows, so a failure
between the two leaves the cursor past a page that was never stored. Without it, the fix: Fanvue's own `nextCursor` pagination,
one transaction per page (rows, cursor, revenue_total), the cursor left a lookback behind the
newest row read, and the unique index on fanvue_id dropping what is read twice.

A new settle run (a new SETTLE_PROVIDER_URL) starts from empty tables; a restart within the run
(settle's crash plan) keeps them, as a real service's restart would.

POST /jobs/sync syncs every model (the seed's revenue heartbeat; settle calls it every 10
simulated minutes). GET /health answers 200 once the tables exist.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

BUG = os.environ.get("REVENUE_BUG") == "1"
CURSOR_FIRST = os.environ.get("REVENUE_BUG") == "cursor"
DB = os.environ["SETTLE_DATABASE_URL"]
BASE = os.environ["SETTLE_PROVIDER_URL"].rstrip("/")
VERSION = os.environ["SETTLE_FANVUE_API_VERSION"]
CREATORS = json.loads(os.environ["SETTLE_FANVUE_CREATORS"])
SCALE = max(1, int(os.environ.get("SETTLE_TIME_SCALE", "1")))
PAGE_SIZE = 20
LOOKBACK_MS = 5 * 60 * 1000
RETRIES = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE,
  fanvue_creator_uuid VARCHAR(64) NOT NULL, fanvue_access_token VARCHAR(128),
  revenue_total BIGINT NOT NULL DEFAULT 0, last_transaction_sync BIGINT, updated_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fanvue_transactions (id BIGSERIAL PRIMARY KEY, model_id BIGINT NOT NULL REFERENCES models (id),
  fanvue_id VARCHAR(64) NOT NULL UNIQUE, transaction_date BIGINT NOT NULL, amount BIGINT NOT NULL,
  net_amount BIGINT NOT NULL, source VARCHAR(32) NOT NULL, related_fanvue_id VARCHAR(64), created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS revenue_run (provider_url TEXT NOT NULL);
"""


def now_ms():
    return int(time.time() * 1000)


def sleep_sim(ms):
    """Waits `ms` of simulated time (settle's clock runs SETTLE_TIME_SCALE times faster)."""
    time.sleep(ms / SCALE / 1000)


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(text):
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(round(t.timestamp() * 1000))


def fetch(token, params):
    """One earnings page: ("page", body) | ("stop", why). Waits out 429s; retries 5xx a few times."""
    url = BASE + "/insights/earnings?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token, "X-Fanvue-API-Version": VERSION})
    failures, pause = 0, 1000
    while True:
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return "page", json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 429:
                sleep_sim(int(e.headers.get("Retry-After", "60")) * 1000)
                continue
            if e.code < 500:
                return "stop", f"earnings answered {e.code}: {e.read()[:200]!r}"
            why = f"earnings answered {e.code}"
        except (urllib.error.URLError, TimeoutError) as e:
            why = f"earnings request failed: {e}"
        failures += 1
        if failures > RETRIES:
            return "stop", why
        sleep_sim(pause)
        pause = min(pause * 2, 30_000)


def insert_rows(conn, model_id, rows):
    """Inserts a page's rows; a row read twice is dropped by the unique index."""
    for r in rows:
        conn.execute(
            "INSERT INTO fanvue_transactions (model_id, fanvue_id, transaction_date, amount, net_amount, source,"
            " related_fanvue_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (fanvue_id) DO NOTHING",
            (model_id, r["id"], parse_iso(r["date"]), r["gross"], r["net"], r["source"],
             r.get("relatedTransactionId"), now_ms()))


def store(conn, model_id, rows, cursor):
    """Stores a page's rows, moves the cursor and recomputes revenue_total, in one transaction."""
    with conn.transaction():
        insert_rows(conn, model_id, rows)
        conn.execute(
            "UPDATE models SET last_transaction_sync = %s, updated_at = %s, revenue_total ="
            " (SELECT COALESCE(SUM(amount), 0) FROM fanvue_transactions WHERE model_id = %s) WHERE id = %s",
            (cursor, now_ms(), model_id, model_id))


def store_cursor_first(conn, model_id, rows, cursor):
    """REVENUE_BUG=cursor: the cursor is saved in its own transaction before the page's rows, so
    a failure between the two (a dropped connection, a crash) leaves the cursor past rows that
    were never stored, and the next sync starts after them."""
    with conn.transaction():
        conn.execute("UPDATE models SET last_transaction_sync = %s, updated_at = %s WHERE id = %s",
                     (cursor, now_ms(), model_id))
    with conn.transaction():
        insert_rows(conn, model_id, rows)
        conn.execute(
            "UPDATE models SET updated_at = %s, revenue_total ="
            " (SELECT COALESCE(SUM(amount), 0) FROM fanvue_transactions WHERE model_id = %s) WHERE id = %s",
            (now_ms(), model_id, model_id))


def sync_fixed(conn, model_id, token, cursor):
    """Fanvue's keyset pagination from the cursor; the cursor lands a lookback behind the newest
    row read."""
    params = {"size": PAGE_SIZE}
    if cursor is not None:
        params["startDate"] = iso(cursor)
    newest = cursor
    while True:
        kind, page = fetch(token, params)
        if kind == "stop":
            return page
        rows = page["data"]
        if rows:
            newest = max(newest or 0, parse_iso(rows[-1]["date"]))
        target = None if newest is None else max(cursor or 0, newest - LOOKBACK_MS)
        (store_cursor_first if CURSOR_FIRST else store)(conn, model_id, rows, target)
        if not page.get("nextCursor"):
            return "done"
        params["cursor"] = page["nextCursor"]


def sync_bug(conn, model_id, token, last_seen):
    """The first version: `startDate=last_seen`, keep `date > last_seen`, and go again."""
    while True:
        params = {"size": PAGE_SIZE}
        if last_seen is not None:
            params["startDate"] = iso(last_seen)
        kind, page = fetch(token, params)
        if kind == "stop":
            return page
        new = [r for r in page["data"] if last_seen is None or parse_iso(r["date"]) > last_seen]
        if not new:
            return "done"
        last_seen = parse_iso(new[-1]["date"])
        store(conn, model_id, new, last_seen)
        if not page.get("nextCursor"):
            return "done"


def sync_all():
    out = []
    with psycopg.connect(DB, autocommit=True) as conn:
        models = conn.execute("SELECT id, name, fanvue_access_token, last_transaction_sync FROM models ORDER BY id").fetchall()
        for model_id, name, token, cursor in models:
            how = (sync_bug if BUG else sync_fixed)(conn, model_id, token, cursor)
            out.append(f"{name}: {how}")
    return out


class Handler(BaseHTTPRequestHandler):
    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, {"ok": True})
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        if self.path == "/jobs/sync":
            try:
                return self.answer(200, {"synced": sync_all()})
            except Exception as e:  # the heartbeat logs and tries again next time
                return self.answer(500, {"error": str(e)})
        self.answer(404, {"error": "not found"})

    def log_message(self, *args):
        pass


def connect_at_boot():
    # A restart can land inside a database outage (settle's proxy refuses connections then):
    # keep trying for a while, as a service under a supervisor would, instead of dying at boot.
    for attempt in range(60):
        try:
            return psycopg.connect(DB, autocommit=True)
        except psycopg.OperationalError:
            if attempt == 59:
                raise
            time.sleep(0.25)


def main():
    with connect_at_boot() as conn:
        conn.execute(SCHEMA)
        run = conn.execute("SELECT provider_url FROM revenue_run").fetchone()
        if run is None or run[0] != BASE:
            with conn.transaction():
                conn.execute("TRUNCATE fanvue_transactions, models, revenue_run")
                conn.execute("INSERT INTO revenue_run (provider_url) VALUES (%s)", (BASE,))
                for i, c in enumerate(CREATORS, start=1):
                    conn.execute(
                        "INSERT INTO models (id, name, fanvue_creator_uuid, fanvue_access_token, revenue_total, updated_at)"
                        " VALUES (%s, %s, %s, %s, 0, %s)", (i, c["name"], c["creator"], c["token"], now_ms()))
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
