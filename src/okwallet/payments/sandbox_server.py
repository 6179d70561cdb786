"""The sandbox payment channel: a separate HTTP server that behaves like Alipay / WeChat Pay.

Run it with ``manage.py sandbox_channel --port 8765``. It keeps its own state (SQLite in its
directory) and its own RSA key pair (the public key is what merchants verify with), creates
orders and payouts, shows a cashier page, sends signed asynchronous notifications with WeChat
Pay's retry schedule (compressible with ``--time-scale``), answers order queries and serves a
daily statement CSV. ``POST /sandbox/control`` makes it misbehave: delay, drop, duplicate or
reorder notifications, fail payouts, refuse card verification. Card verification is a
four-element check against ``TEST_CARDS``.

Only the standard library, ``cryptography`` and ``requests``: it does not touch our database.
"""

from __future__ import annotations

import base64
import csv
import heapq
import html
import io
import json
import secrets
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# WeChat Pay's notification retry intervals (seconds): 15s, 15s, 30s, 3m, 10m, 20m, 30m ... up to 24h.
RETRY_SCHEDULE = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600]
SHANGHAI = timezone(timedelta(hours=8))

# The sandbox bank's records for its test cards (docs/wallet.md, "Sandbox test cards"): what the
# four-element check (card number, holder name, ID number, reserved mobile) compares against.
# Any other card number is taken to be held exactly as the merchant sends it (every element
# matches), so demos and tests can bind any Luhn-valid card of a supported bank.
TEST_CARDS = {
    "6217000000001111": {  # 建设银行, 王小明; reserved mobile = the demo customer's
        "holder_name": "王小明",
        "id_number": "110101199003071233",
        "mobile": "13800138001",
        "status": "normal",
    },
    "6228480000002227": {  # 农业银行, 王小明's card reported lost
        "holder_name": "王小明",
        "id_number": "110101199003071233",
        "mobile": "13800138001",
        "status": "lost",
    },
}


def card_verify(data: dict, *, refuse: bool = False) -> tuple[bool, str]:
    """The four-element check: (verified, code). Elements are compared in the order a bank's
    authentication service reports them: card status, holder name, ID number, reserved mobile."""
    number = str(data.get("card_number", ""))
    given = {key: str(data.get(key) or "").strip() for key in ("holder_name", "id_number", "mobile")}
    if len(number) < 12 or not all(given.values()):
        raise ValueError("PARAM_ERROR")
    if refuse:
        return False, "VERIFY_REFUSED"
    record = TEST_CARDS.get(number)
    if record is None:
        return True, "OK"
    if record["status"] != "normal":
        return False, "CARD_STATUS_ABNORMAL"
    if given["holder_name"] != record["holder_name"]:
        return False, "HOLDER_NAME_MISMATCH"
    if given["id_number"].upper() != record["id_number"]:
        return False, "ID_NUMBER_MISMATCH"
    if given["mobile"][-11:] != record["mobile"]:
        return False, "PHONE_MISMATCH"
    return True, "OK"


def ensure_keys(directory: Path) -> tuple[object, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / "private.pem"
    public_path = directory / "public.pem"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        private_path.chmod(0o600)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    return key, public_path


def sign_headers(private_key, body: bytes, *, timestamp: int | None = None, nonce: str | None = None) -> dict:
    """The WeChat Pay v3 signature headers for one notification body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    message = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    signature = base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": "SANDBOX-1",
        "Content-Type": "application/json",
    }


class SandboxState:
    def __init__(self, directory: Path, time_scale: float = 1.0, public_url: str = ""):
        self.directory = directory
        self.time_scale = time_scale
        self.public_url = public_url
        self.private_key, self.public_path = ensure_keys(directory)
        self.db = sqlite3.connect(
            directory / "sandbox.sqlite3", check_same_thread=False, isolation_level=None
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS orders (out_trade_no TEXT PRIMARY KEY, transaction_id TEXT UNIQUE, kind TEXT,"
            " amount_fen INTEGER, method TEXT, notify_url TEXT, return_url TEXT, state TEXT, error_code TEXT,"
            " created_at TEXT, success_time TEXT, card TEXT, notified INTEGER DEFAULT 0, attempts INTEGER DEFAULT 0)"
        )
        # Refunds and chargebacks of paid deposits, reported to the deposit's notify_url.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS refunds (out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT, amount_fen INTEGER,"
            " reason TEXT, created_at TEXT, notified INTEGER DEFAULT 0, attempts INTEGER DEFAULT 0)"
        )
        self.lock = threading.RLock()
        self.control = {
            "notify": "normal",
            "delay_s": 0.0,
            "fail_payouts": False,
            "fail_code": "ACCOUNT_ERROR",
            "payout_delay_s": 2.0,
            "card_autopay": True,
            "refuse_cards": False,
            "reorder_window_s": 2.0,
        }
        self.queue: list = []
        self.held: list = []  # reorder mode
        self.cond = threading.Condition()
        self.seq = 0
        self.stop = threading.Event()
        self.sent: list[dict] = []  # (for the control endpoint's report)
        threading.Thread(target=self._dispatch_loop, daemon=True).start()
        self._requeue_unnotified()

    # -- storage -----------------------------------------------------------------------
    def order(self, out_trade_no: str) -> dict | None:
        with self.lock:
            cur = self.db.execute("SELECT * FROM orders WHERE out_trade_no = ?", (out_trade_no,))
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([c[0] for c in cur.description], row, strict=True))

    def order_by_tid(self, transaction_id: str) -> dict | None:
        with self.lock:
            row = self.db.execute(
                "SELECT out_trade_no FROM orders WHERE transaction_id = ?", (transaction_id,)
            ).fetchone()
        return self.order(row[0]) if row else None

    def create(self, *, kind: str, data: dict) -> tuple[dict, bool]:
        ref = str(data.get("out_trade_no", ""))[:64]
        amount = data.get("amount_fen")
        if not ref or isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("PARAM_ERROR")
        with self.lock:
            existing = self.order(ref)
            if existing is not None:
                if existing["amount_fen"] != amount or existing["kind"] != kind:
                    raise ValueError("OUT_TRADE_NO_USED")
                return existing, False
            tid = (
                ("42" if kind == "deposit" else "10")
                + datetime.now(SHANGHAI).strftime("%Y%m%d")
                + secrets.token_hex(8)
            )
            self.db.execute(
                "INSERT INTO orders (out_trade_no, transaction_id, kind, amount_fen, method, notify_url, return_url, state,"
                " error_code, created_at, card) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    ref,
                    tid,
                    kind,
                    amount,
                    data.get("method", "card" if kind == "payout" else ""),
                    data.get("notify_url", ""),
                    data.get("return_url", ""),
                    "NOTPAY" if kind == "deposit" else "PROCESSING",
                    "",
                    datetime.now(UTC).isoformat(),
                    json.dumps(data.get("card") or {}),
                ),
            )
        order = self.order(ref)
        if kind == "deposit" and order["method"] == "card" and self.control["card_autopay"]:
            self.pay(ref)
        if kind == "payout":
            threading.Timer(
                self.control["payout_delay_s"] * self.time_scale, self._finish_payout, args=(ref,)
            ).start()
        return self.order(ref), True

    def pay(self, ref: str) -> dict | None:
        with self.lock:
            order = self.order(ref)
            if order is None or order["kind"] != "deposit":
                return None
            if order["state"] == "NOTPAY":
                self.db.execute(
                    "UPDATE orders SET state='SUCCESS', success_time=? WHERE out_trade_no=?",
                    (datetime.now(UTC).isoformat(), ref),
                )
                self._schedule(ref, 0)
        return self.order(ref)

    def _finish_payout(self, ref: str) -> None:
        with self.lock:
            order = self.order(ref)
            if order is None or order["state"] != "PROCESSING":
                return
            if self.control["fail_payouts"]:
                self.db.execute(
                    "UPDATE orders SET state='FAIL', error_code=? WHERE out_trade_no=?",
                    (self.control["fail_code"], ref),
                )
            else:
                self.db.execute(
                    "UPDATE orders SET state='SUCCESS', success_time=? WHERE out_trade_no=?",
                    (datetime.now(UTC).isoformat(), ref),
                )
            self._schedule(ref, 0)

    def _requeue_unnotified(self) -> None:
        with self.lock:
            refs = [
                r[0]
                for r in self.db.execute(
                    "SELECT out_trade_no FROM orders WHERE notified = 0 AND state IN ('SUCCESS', 'FAIL')"
                )
            ]
        for ref in refs:
            self._schedule(ref, 0)

    # -- notifications ---------------------------------------------------------------------
    def _schedule(self, ref: str, attempt: int, delay: float | None = None) -> None:
        mode = self.control["notify"]
        if attempt == 0:
            if mode == "drop":
                return
            if mode == "reorder":
                with self.cond:
                    self.held.append(ref)
                    if len(self.held) == 1:
                        threading.Timer(
                            self.control["reorder_window_s"] * self.time_scale, self._release_held
                        ).start()
                return
        if delay is None:
            delay = (
                self.control["delay_s"]
                if attempt == 0
                else RETRY_SCHEDULE[min(attempt - 1, len(RETRY_SCHEDULE) - 1)]
            )
            delay *= self.time_scale
        with self.cond:
            self.seq += 1
            heapq.heappush(self.queue, (time.monotonic() + delay, self.seq, ref, attempt))
            if attempt == 0 and mode == "duplicate":
                self.seq += 1
                heapq.heappush(self.queue, (time.monotonic() + delay + 0.05, self.seq, ref, -1))
            self.cond.notify()

    def _release_held(self) -> None:
        with self.cond:
            held, self.held = self.held, []
        for ref in reversed(held):  # newest first
            with self.cond:
                self.seq += 1
                heapq.heappush(self.queue, (time.monotonic(), self.seq, ref, 0))
                self.cond.notify()

    def _dispatch_loop(self) -> None:
        while not self.stop.is_set():
            with self.cond:
                while not self.queue or self.queue[0][0] > time.monotonic():
                    timeout = (self.queue[0][0] - time.monotonic()) if self.queue else 1.0
                    self.cond.wait(max(0.01, min(timeout, 1.0)))
                    if self.stop.is_set():
                        return
                _due, _seq, ref, attempt = heapq.heappop(self.queue)
            threading.Thread(target=self._deliver, args=(ref, attempt), daemon=True).start()

    def notification_body(self, order: dict) -> bytes:
        event = {"deposit": "TRANSACTION.SUCCESS", "payout": "PAYOUT.SUCCESS"}[order["kind"]]
        if order["kind"] == "payout" and order["state"] == "FAIL":
            event = "PAYOUT.FAIL"
        resource = {
            "out_trade_no": order["out_trade_no"],
            "transaction_id": order["transaction_id"],
            "amount_fen": order["amount_fen"],
            "trade_state": order["state"],
            "success_time": order["success_time"],
            "error_code": order["error_code"],
        }
        return json.dumps(
            {
                "id": secrets.token_hex(12),
                "create_time": datetime.now(UTC).isoformat(),
                "event_type": event,
                "resource": resource,
            },
            ensure_ascii=False,
        ).encode()

    def _post_signed(self, url: str, body: bytes) -> bool:
        """POST a signed notification; True when the wallet acknowledged it."""
        try:
            response = requests.post(url, data=body, headers=sign_headers(self.private_key, body), timeout=5)
        except requests.RequestException:
            return False
        return response.status_code in (200, 204)

    def _deliver(self, ref: str, attempt: int) -> None:
        order = self.order(ref)
        if order is None or not order["notify_url"]:
            return
        body = self.notification_body(order)
        ok = self._post_signed(order["notify_url"], body)
        with self.lock:
            self.db.execute(
                "UPDATE orders SET attempts = attempts + 1, notified = MAX(notified, ?) WHERE out_trade_no = ?",
                (1 if ok else 0, ref),
            )
            self.sent.append({"ref": ref, "attempt": attempt, "ok": ok, "at": time.time()})
            del self.sent[:-500]
        if not ok and attempt >= 0 and attempt < len(RETRY_SCHEDULE):
            self._schedule(ref, attempt + 1)

    # -- refunds and chargebacks ---------------------------------------------------------
    def refund(self, *, out_trade_no: str, amount_fen, reason: str = "refund") -> dict:
        """The bank or the channel takes (part of) a paid deposit back; the wallet hears of it by a
        signed ``REFUND.SUCCESS`` notification, retried like the others until acknowledged."""
        order = self.order(out_trade_no)
        if order is None or order["kind"] != "deposit":
            raise ValueError("ORDER_NOT_EXIST")
        if order["state"] != "SUCCESS":
            raise ValueError("TRADE_NOT_PAID")
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise ValueError("PARAM_ERROR")
        if reason not in ("refund", "chargeback"):
            raise ValueError("PARAM_ERROR")
        with self.lock:
            done = self.db.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM refunds WHERE out_trade_no = ?", (out_trade_no,)
            ).fetchone()[0]
            if done + amount_fen > order["amount_fen"]:
                raise ValueError("REFUND_EXCEEDS_ORDER")
            refund_no = "RF" + secrets.token_hex(8).upper()
            self.db.execute(
                "INSERT INTO refunds (out_refund_no, out_trade_no, amount_fen, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                (refund_no, out_trade_no, amount_fen, reason, datetime.now(UTC).isoformat()),
            )
        if self.control["notify"] != "drop":  # "drop": the notification is lost, the statement lists it
            threading.Thread(target=self._deliver_refund, args=(refund_no, 0), daemon=True).start()
        return {
            "out_refund_no": refund_no,
            "out_trade_no": out_trade_no,
            "amount_fen": amount_fen,
            "reason": reason,
        }

    def refund_body(self, refund_no: str) -> tuple[dict, bytes] | None:
        with self.lock:
            row = self.db.execute(
                "SELECT out_trade_no, amount_fen, reason, created_at FROM refunds WHERE out_refund_no = ?",
                (refund_no,),
            ).fetchone()
        if row is None:
            return None
        order = self.order(row[0])
        resource = {
            "out_trade_no": row[0],
            "transaction_id": order["transaction_id"],
            "out_refund_no": refund_no,
            "amount_fen": row[1],
            "refund_reason": row[2],
            "success_time": row[3],
        }
        body = json.dumps(
            {
                "id": secrets.token_hex(12),
                "create_time": datetime.now(UTC).isoformat(),
                "event_type": "REFUND.SUCCESS",
                "resource": resource,
            },
            ensure_ascii=False,
        ).encode()
        return order, body

    def _deliver_refund(self, refund_no: str, attempt: int) -> None:
        found = self.refund_body(refund_no)
        if found is None or not found[0]["notify_url"]:
            return
        order, body = found
        ok = self._post_signed(order["notify_url"], body)
        with self.lock:
            self.db.execute(
                "UPDATE refunds SET attempts = attempts + 1, notified = MAX(notified, ?) WHERE out_refund_no = ?",
                (1 if ok else 0, refund_no),
            )
        if not ok and attempt < len(RETRY_SCHEDULE):
            delay = RETRY_SCHEDULE[attempt] * self.time_scale
            threading.Timer(delay, self._deliver_refund, args=(refund_no, attempt + 1)).start()

    # -- statement -------------------------------------------------------------------------
    def statement_csv(self, day: str) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["success_time", "out_trade_no", "transaction_id", "type", "amount_fen", "state"])
        with self.lock:
            rows = self.db.execute(
                "SELECT success_time, out_trade_no, transaction_id, kind, amount_fen, state FROM orders"
                " WHERE state = 'SUCCESS' ORDER BY success_time"
            ).fetchall()
            # A refund or chargeback is a row of its own, like a real bill's refund lines: the
            # original order, the refund number, REFUND or CHARGEBACK.
            rows += self.db.execute(
                "SELECT created_at, out_trade_no, out_refund_no, UPPER(reason), amount_fen, 'REFUND' FROM refunds"
                " ORDER BY created_at"
            ).fetchall()
        for row in rows:
            local_day = datetime.fromisoformat(row[0]).astimezone(SHANGHAI).date().isoformat()
            if local_day == day:
                writer.writerow(row)
        return out.getvalue()


def make_handler(state: SandboxState):
    class Handler(BaseHTTPRequestHandler):
        server_version = "SandboxPay/1.0"

        def log_message(self, fmt, *args):  # quiet; errors still go to stderr below
            pass

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            raw = self.rfile.read(min(length, 1_000_000))
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                return {}
            return json.loads(raw or b"{}")

        @staticmethod
        def _query_view(order: dict | None) -> dict:
            if order is None:
                return {"trade_state": "NOT_FOUND"}
            return {
                k: order[k]
                for k in ("out_trade_no", "transaction_id", "amount_fen", "success_time", "error_code")
            } | {"trade_state": order["state"]}

        def do_GET(self):
            path = urlparse(self.path).path
            parts = path.strip("/").split("/")
            if path == "/healthz":
                return self._json(200, {"ok": True})
            if path.startswith("/v3/pay/transactions/out-trade-no/"):
                return self._json(200, self._query_view(state.order(parts[-1])))
            if path.startswith("/v3/payouts/out-trade-no/"):
                return self._json(200, self._query_view(state.order(parts[-1])))
            if path.startswith("/v3/bill/") and path.endswith(".csv"):
                body = state.statement_csv(parts[-1][:-4]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return self.wfile.write(body)
            if path.startswith("/pay/"):
                order = state.order_by_tid(parts[-1])
                if order is None:
                    return self._json(404, {"code": "ORDER_NOT_EXIST", "message": "no such order"})
                amount = f"¥{order['amount_fen'] // 100:,}.{order['amount_fen'] % 100:02d}"
                paid = order["state"] == "SUCCESS"
                page = f"""<!DOCTYPE html><html lang="zh-Hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>沙箱支付收银台 Sandbox Pay</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}button{{font-size:1.2rem;padding:.6rem 2rem;background:#1677ff;color:#fff;border:0;border-radius:6px}}</style></head>
<body><main><h1>沙箱支付 Sandbox Pay</h1><p>订单 Order: {html.escape(order["out_trade_no"])}</p>
<p style="font-size:2rem"><strong>{amount}</strong></p>
{"<p>已支付 Paid</p>" if paid else f'<form method="post"><button type="submit" id="pay">确认付款 Pay {amount}</button></form>'}
</main></body></html>""".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                return self.wfile.write(page)
            if path == "/sandbox/control":
                return self._json(200, {"control": state.control, "sent": state.sent[-50:]})
            return self._json(404, {"code": "NOT_FOUND", "message": path})

        def do_POST(self):
            path = urlparse(self.path).path
            parts = path.strip("/").split("/")
            try:
                if path.startswith("/pay/"):
                    self._body()
                    order = state.order_by_tid(parts[-1])
                    if order is None:
                        return self._json(404, {"code": "ORDER_NOT_EXIST", "message": "no such order"})
                    state.pay(order["out_trade_no"])
                    self.send_response(303)
                    self.send_header("Location", order["return_url"] or f"/pay/{parts[-1]}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                data = self._body()
                if path == "/v3/pay/transactions":
                    order, _created = state.create(kind="deposit", data=data)
                    pay_url = (
                        ""
                        if order["state"] == "SUCCESS"
                        else f"{state.public_url}/pay/{order['transaction_id']}"
                    )
                    return self._json(
                        200,
                        {
                            "transaction_id": order["transaction_id"],
                            "pay_url": pay_url,
                            "trade_state": order["state"],
                        },
                    )
                if path == "/v3/payouts":
                    order, _created = state.create(kind="payout", data=data)
                    return self._json(
                        200, {"transaction_id": order["transaction_id"], "trade_state": order["state"]}
                    )
                if path == "/v3/cards/verify":
                    ok, code = card_verify(data, refuse=bool(state.control["refuse_cards"]))
                    return self._json(200, {"verified": ok, "code": code})
                if path.startswith("/sandbox/pay/"):
                    order = state.pay(parts[-1])
                    if order is None:
                        return self._json(404, {"code": "ORDER_NOT_EXIST", "message": "no such order"})
                    return self._json(200, self._query_view(order))
                if path == "/sandbox/control":
                    for key, value in data.items():
                        if key in state.control:
                            state.control[key] = value
                    return self._json(200, {"control": state.control})
                if path == "/sandbox/refund":
                    refund = state.refund(
                        out_trade_no=str(data.get("out_trade_no", "")),
                        amount_fen=data.get("amount_fen"),
                        reason=str(data.get("reason", "refund")),
                    )
                    return self._json(200, refund)
                if path == "/sandbox/resend":
                    state._schedule(str(data.get("out_trade_no", "")), 0, delay=0)
                    return self._json(200, {"ok": True})
            except ValueError as exc:
                return self._json(
                    400, {"code": str(exc) if str(exc).isupper() else "PARAM_ERROR", "message": str(exc)}
                )
            return self._json(404, {"code": "NOT_FOUND", "message": path})

    return Handler


def serve(*, host: str, port: int, directory: Path, time_scale: float = 1.0, ready=None) -> None:
    state = SandboxState(directory, time_scale=time_scale)
    server = ThreadingHTTPServer((host, port), make_handler(state))
    state.public_url = f"http://{host}:{server.server_port}"
    server.daemon_threads = True
    if ready:
        ready(server, state)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        state.stop.set()
        server.server_close()
