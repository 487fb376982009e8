"""Seed 001's order system in Python, on PostgreSQL, paid through Midtrans Snap.

settle starts it (`settle drive examples/drive/shop_bug.toml`) with:
  PORT                 where to listen (127.0.0.1)
  SETTLE_PROVIDER_URL  Midtrans's base URL (settle's model)
  SETTLE_SERVER_KEY    the Midtrans server key (it signs notifications)
  SETTLE_DATABASE_URL  the shop's PostgreSQL database
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

import midtransclient
import psycopg

BUG = os.environ.get("SHOP_BUG") == "1"
KEY = os.environ["SETTLE_SERVER_KEY"]
DB = os.environ["SETTLE_DATABASE_URL"]
BASE = os.environ["SETTLE_PROVIDER_URL"].rstrip("/")

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


FINAL = {"settlement": "PAID", "expire": "EXPIRED", "deny": "DENIED", "cancel": "CANCELLED", "failure": "FAILED"}


def now_ms():
    return int(time.time() * 1000)


def connect():
    return psycopg.connect(DB, autocommit=False)


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
            oid = conn.execute("INSERT INTO orders (order_code, status, created_at, total_amount) VALUES (%s, 'PENDING', %s, %s) RETURNING id",
                               (code, t, amount * 100)).fetchone()[0]
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
        conn.execute(SCHEMA)
        run = conn.execute("SELECT provider_url FROM shop_run").fetchone()
        if run is None or run[0] != BASE:
            conn.execute("TRUNCATE fulfilments, payment_sync_logs, order_payments, orders, shop_run")
            conn.execute("INSERT INTO shop_run (provider_url) VALUES (%s)", (BASE,))
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
