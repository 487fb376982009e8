"""Seed 001's order system in Python, on PostgreSQL or MySQL/MariaDB, paid through Midtrans Snap.

settle starts it (`settle drive examples/drive/shop_bug.toml`) with:
  PORT                 where to listen (127.0.0.1)
  SETTLE_PROVIDER_URL  Midtrans's base URL (settle's model)
  SETTLE_SERVER_KEY    the Midtrans server key (it signs notifications)
  SETTLE_DATABASE_URL  the shop's database: postgres://… (psycopg) or mysql://… (PyMySQL)
and SHOP_BUG=1 for seed 001's bug: a notification for an order whose row is not written yet is
acknowledged (200) and lost. Without it, the team's fix: the handler retries the lookup 3 times,
500 ms apart, then answers 500 so Midtrans retries; and /jobs/reconcile asks the status API about
every PENDING order.

SHOP_API=core charges through the Core API instead (`CoreApi.charge`, `POST /v2/charge`, a BCA
virtual account): the charge is pending at once and its `pending` notification races the row the
same way.

A new settle run (a new SETTLE_PROVIDER_URL) starts from empty tables; a restart within the run
(settle's crash plan) keeps them, as a real service's restart would.

The checkout calls Snap first and writes the order after Snap answers, as seed 001's Go service
did; that is the window settle's race holds open.
"""

import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from urllib.parse import unquote, urlsplit

import midtransclient

BUG = os.environ.get("SHOP_BUG") == "1"
KEY = os.environ["SETTLE_SERVER_KEY"]
DB = os.environ["SETTLE_DATABASE_URL"]
BASE = os.environ["SETTLE_PROVIDER_URL"].rstrip("/")
MYSQL = DB.startswith(("mysql://", "mariadb://"))
if MYSQL:
    import pymysql
else:
    import psycopg

CORE = os.environ.get("SHOP_API") == "core"

snap = midtransclient.Snap(is_production=False, server_key=KEY)
core = midtransclient.CoreApi(is_production=False, server_key=KEY)
# midtransclient has no setting for its base URL: its URLs are attributes of its ApiConfig, which
# an instance attribute overrides.
snap.api_config.SNAP_SANDBOX_BASE_URL = BASE + "/snap/v1"
snap.api_config.CORE_SANDBOX_BASE_URL = BASE
core.api_config.CORE_SANDBOX_BASE_URL = BASE

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (id BIGSERIAL PRIMARY KEY, order_code TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL, paid_at BIGINT, created_at BIGINT NOT NULL, total_amount BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS order_payments (order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
  payment_status TEXT NOT NULL, paid_at BIGINT, created_at BIGINT NOT NULL, gross_amount BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS payment_sync_logs (id BIGSERIAL PRIMARY KEY, order_code TEXT NOT NULL,
  old_status TEXT, new_status TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fulfilments (id BIGSERIAL PRIMARY KEY, order_id BIGINT NOT NULL REFERENCES orders (id));
CREATE TABLE IF NOT EXISTS shop_run (provider_url TEXT NOT NULL);
"""
MYSQL_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_code VARCHAR(64) NOT NULL UNIQUE,
  status VARCHAR(16) NOT NULL, paid_at BIGINT, created_at BIGINT NOT NULL, total_amount BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS order_payments (order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
  payment_status VARCHAR(16) NOT NULL, paid_at BIGINT, created_at BIGINT NOT NULL, gross_amount BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS payment_sync_logs (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_code VARCHAR(64) NOT NULL,
  old_status VARCHAR(16), new_status VARCHAR(16) NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fulfilments (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_id BIGINT NOT NULL REFERENCES orders (id));
CREATE TABLE IF NOT EXISTS shop_run (provider_url TEXT NOT NULL)
"""


FINAL = {"settlement": "PAID", "expire": "EXPIRED", "deny": "DENIED", "cancel": "CANCELLED", "failure": "FAILED"}


def now_ms():
    return int(time.time() * 1000)


class MySQL:
    """A PyMySQL connection used as the shop uses psycopg's: `execute` answers a cursor, and the
    `with` block commits (or rolls back on an exception) and closes."""

    def __init__(self):
        u = urlsplit(DB)
        self.conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or "root"),
                                    password=unquote(u.password or ""), database=u.path.lstrip("/"), autocommit=False)

    def execute(self, sql, params=None):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        try:
            self.conn.commit() if kind is None else self.conn.rollback()
        finally:
            self.conn.close()


def connect():
    return MySQL() if MYSQL else psycopg.connect(DB, autocommit=False)


def insert_id(conn, sql, params):
    """Runs an INSERT into a table with an `id` key and answers the new row's id."""
    if MYSQL:
        return conn.execute(sql, params).lastrowid
    return conn.execute(sql + " RETURNING id", params).fetchone()[0]


def target(status, fraud):
    if status == "capture" and fraud == "accept":
        return "PAID"
    return FINAL.get(status)


def apply(conn, code, to):
    """Moves order `code` to `to` (PENDING → anything, PAID → a reversal); False if no row."""
    row = conn.execute("SELECT id, status FROM orders WHERE order_code = %s FOR UPDATE", (code,)).fetchone()
    if row is None:
        return False
    oid, status = row
    if to is None or status == to or (status != "PENDING" and not (status == "PAID" and to in ("DENIED", "CANCELLED", "FAILED"))):
        return True
    paid_at = now_ms() if to == "PAID" else None
    conn.execute("UPDATE orders SET status = %s, paid_at = %s WHERE id = %s", (to, paid_at, oid))
    conn.execute("UPDATE order_payments SET payment_status = %s, paid_at = %s WHERE order_id = %s", (to, paid_at, oid))
    conn.execute("INSERT INTO payment_sync_logs (order_code, old_status, new_status, created_at) VALUES (%s, %s, %s, %s)",
                 (code, status, to, now_ms()))
    if to == "PAID":
        conn.execute("INSERT INTO fulfilments (order_id) VALUES (%s)", (oid,))
    return True


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(200 if self.path == "/health" else 404, b"ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/checkout":
            self.checkout(json.loads(body))
        elif self.path == "/webhooks/midtrans":
            self.webhook(json.loads(body))
        elif self.path == "/jobs/reconcile":
            self.reconcile()
        else:
            self.answer(404)

    def checkout(self, c):
        code, amount = c["order_id"], int(c["amount"])
        try:
            details = {"order_id": code, "gross_amount": amount}
            if CORE:
                charged = core.charge({"payment_type": "bank_transfer", "transaction_details": details,
                                       "bank_transfer": {"bank": "bca"}})
                if charged.get("transaction_status") != "pending":
                    raise ValueError(f"the charge answered {charged!r}")
            else:
                snap.create_transaction({"transaction_details": details})
        except Exception as e:  # the client raises on any non-2xx
            self.answer(502, str(e).encode())
            return
        with connect() as conn:
            t = now_ms()
            oid = insert_id(conn, "INSERT INTO orders (order_code, status, created_at, total_amount) VALUES (%s, 'PENDING', %s, %s)",
                            (code, t, amount * 100))
            conn.execute("INSERT INTO order_payments (order_id, payment_status, created_at, gross_amount) VALUES (%s, 'PENDING', %s, %s)",
                         (oid, t, amount * 100))
        self.answer(200, code.encode())

    def webhook(self, n):
        signed = n["order_id"] + n["status_code"] + n["gross_amount"] + KEY
        if hashlib.sha512(signed.encode()).hexdigest() != n.get("signature_key"):
            self.answer(403)
            return
        to = target(n["transaction_status"], n.get("fraud_status"))
        tries = 1 if BUG else 3
        for i in range(tries):
            with connect() as conn:
                if apply(conn, n["order_id"], to):
                    self.answer(200)
                    return
            if i + 1 < tries:
                time.sleep(0.5)
        # The row is not there. The bug acknowledges and the notification is lost; the fix
        # answers 500 so that Midtrans sends it again.
        self.answer(200 if BUG else 500)

    def reconcile(self):
        if BUG:
            self.answer(200, b"no reconciliation in the buggy build")
            return
        with connect() as conn:
            pending = [r[0] for r in conn.execute("SELECT order_code FROM orders WHERE status = 'PENDING'").fetchall()]
        for code in pending:
            try:
                s = snap.transactions.status(code)
            except Exception:
                continue
            with connect() as conn:
                apply(conn, code, target(s.get("transaction_status"), s.get("fraud_status")))
        self.answer(200, str(len(pending)).encode())


if __name__ == "__main__":
    with connect() as conn:
        if MYSQL:
            for statement in MYSQL_SCHEMA.split(";"):
                conn.execute(statement)
        else:
            conn.execute(SCHEMA)
        run = conn.execute("SELECT provider_url FROM shop_run").fetchone()
        if run is None or run[0] != BASE:
            if MYSQL:
                for table in ("fulfilments", "payment_sync_logs", "order_payments", "orders", "shop_run"):
                    conn.execute(f"DELETE FROM {table}")
            else:
                conn.execute("TRUNCATE fulfilments, payment_sync_logs, order_payments, orders, shop_run")
            conn.execute("INSERT INTO shop_run (provider_url) VALUES (%s)", (BASE,))
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
