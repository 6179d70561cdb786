"""The sandbox channel adapter: talks HTTP to ``manage.py sandbox_channel`` like to WeChat Pay v3.

Notifications carry ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``, ``Wechatpay-Serial`` and
``Wechatpay-Signature`` (base64 RSA-SHA256 over "timestamp\\nnonce\\nbody\\n") made with the
channel's private key; we verify with its public key, which we get out of band (a file the
sandbox writes at first start, like a platform certificate downloaded from the merchant portal).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import time
from datetime import date, datetime
from pathlib import Path

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings

from okwallet.payments.channels.base import (
    CardCheck,
    Channel,
    ChannelError,
    CreatedOrder,
    Notification,
    OrderStatus,
    SignatureError,
)

MAX_SKEW_SECONDS = 300
TIMEOUT = (2, 5)


def sandbox_dir() -> Path:
    path = Path(os.environ.get("OKWALLET_SANDBOX_DIR", Path(settings.VAR_DIR) / "sandbox_channel"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def sandbox_url() -> str:
    return os.environ.get(
        "OKWALLET_SANDBOX_URL", getattr(settings, "OKWALLET_SANDBOX_URL", "http://127.0.0.1:8765")
    )


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


class SandboxChannel(Channel):
    code = "sandbox"
    name = "Sandbox Pay"

    def __init__(self, base_url: str | None = None, public_key_path: Path | None = None):
        self._base_url = base_url
        self._public_key_path = public_key_path
        self._public_key = None
        self._session = requests.Session()

    @property
    def base_url(self) -> str:
        return (self._base_url or sandbox_url()).rstrip("/")

    def public_key(self):
        path = self._public_key_path or sandbox_dir() / "public.pem"
        if self._public_key is None or getattr(self, "_key_mtime", None) != path.stat().st_mtime:
            self._public_key = serialization.load_pem_public_key(path.read_bytes())
            self._key_mtime = path.stat().st_mtime
        return self._public_key

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        try:
            response = self._session.request(method, self.base_url + path, json=payload, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ChannelError("channel_unavailable", str(exc)) from exc
        if response.status_code >= 500:
            raise ChannelError("channel_unavailable", f"HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise ChannelError("channel_bad_response", response.text[:200]) from exc
        if response.status_code >= 400:
            raise ChannelError(data.get("code", "channel_refused"), data.get("message", ""))
        return data

    def create_order(
        self, *, reference, amount_fen, method, description, notify_url, return_url="", card=None
    ):
        data = self._call(
            "POST",
            "/v3/pay/transactions",
            {
                "out_trade_no": reference,
                "amount_fen": amount_fen,
                "method": method,
                "description": description,
                "notify_url": notify_url,
                "return_url": return_url,
                "card": card,
            },
        )
        return CreatedOrder(channel_ref=data["transaction_id"], pay_url=data.get("pay_url", ""))

    @staticmethod
    def _status(data: dict) -> OrderStatus:
        state = {
            "SUCCESS": "paid",
            "NOTPAY": "pending",
            "PROCESSING": "pending",
            "CLOSED": "closed",
            "FAIL": "failed",
            "NOT_FOUND": "unknown",
        }.get(data.get("trade_state", ""), "unknown")
        paid_at = datetime.fromisoformat(data["success_time"]) if data.get("success_time") else None
        return OrderStatus(
            reference=data.get("out_trade_no", ""),
            state=state,
            amount_fen=data.get("amount_fen"),
            channel_ref=data.get("transaction_id", ""),
            paid_at=paid_at,
            error_code=data.get("error_code", ""),
        )

    def query_order(self, *, reference):
        return self._status(self._call("GET", f"/v3/pay/transactions/out-trade-no/{reference}"))

    def create_payout(self, *, reference, amount_fen, card, notify_url):
        data = self._call(
            "POST",
            "/v3/payouts",
            {"out_trade_no": reference, "amount_fen": amount_fen, "card": card, "notify_url": notify_url},
        )
        return CreatedOrder(channel_ref=data["transaction_id"])

    def query_payout(self, *, reference):
        return self._status(self._call("GET", f"/v3/payouts/out-trade-no/{reference}"))

    # The sandbox's answers (like UnionPay's authentication service) → CardCheck results.
    CARD_CODES = {
        "OK": "verified",
        "HOLDER_NAME_MISMATCH": "holder_mismatch",
        "ID_NUMBER_MISMATCH": "id_number_mismatch",
        "PHONE_MISMATCH": "phone_mismatch",
        "CARD_STATUS_ABNORMAL": "card_inactive",
    }

    def verify_card(self, *, number, holder_name, id_number, phone):
        mobile = phone[3:] if phone.startswith("+86") else phone  # banks keep the 11 digits
        data = self._call(
            "POST",
            "/v3/cards/verify",
            {"card_number": number, "holder_name": holder_name, "id_number": id_number, "mobile": mobile},
        )
        code = str(data.get("code", ""))
        if data.get("verified") is True:
            return CardCheck(result="verified", channel_code=code)
        result = self.CARD_CODES.get(code, "refused")
        return CardCheck(result="refused" if result == "verified" else result, channel_code=code)

    def parse_notification(self, *, headers, body):
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = lower.get("wechatpay-timestamp", "")
        nonce = lower.get("wechatpay-nonce", "")
        signature = lower.get("wechatpay-signature", "")
        if not (timestamp and nonce and signature):
            raise SignatureError("missing_signature_headers")
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise SignatureError("bad_timestamp") from None
        if skew > MAX_SKEW_SECONDS:
            raise SignatureError("stale_timestamp")
        try:
            self.public_key().verify(
                base64.b64decode(signature, validate=True),
                signed_message(timestamp, nonce, body),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise SignatureError("bad_signature") from None
        try:
            data = json.loads(body)
            resource = data["resource"]
            event = {
                "TRANSACTION.SUCCESS": "deposit.succeeded",
                "REFUND.SUCCESS": "deposit.refunded",
                "PAYOUT.SUCCESS": "payout.succeeded",
                "PAYOUT.FAIL": "payout.failed",
            }[data["event_type"]]
            refund_id = str(resource.get("out_refund_no", "")) if event == "deposit.refunded" else ""
            if event == "deposit.refunded" and not refund_id:
                raise KeyError("out_refund_no")
            amount = resource["amount_fen"]
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise TypeError("amount")
            return Notification(
                event=event,
                reference=str(resource["out_trade_no"]),
                amount_fen=amount,
                channel_ref=str(resource.get("transaction_id", "")),
                nonce=nonce,
                error_code=str(resource.get("error_code", "")),
                raw=data,
                refund_id=refund_id[:64],
                refund_reason=str(resource.get("refund_reason", ""))[:20] if refund_id else "",
            )
        except (ValueError, KeyError, TypeError):
            raise SignatureError("malformed") from None

    def statement(self, *, day: date):
        try:
            response = self._session.get(f"{self.base_url}/v3/bill/{day.isoformat()}.csv", timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise ChannelError("channel_unavailable", str(exc)) from exc
        if response.status_code != 200:
            raise ChannelError("statement_unavailable", f"HTTP {response.status_code}")
        rows = []
        for row in csv.DictReader(io.StringIO(response.text)):
            rows.append(
                {
                    "reference": row["out_trade_no"],
                    "channel_ref": row["transaction_id"],
                    "kind": row["type"],
                    "amount_fen": int(row["amount_fen"]),
                    "state": row["state"],
                }
            )
        return rows

    def control(self, **settings_) -> dict:
        """Tell the sandbox to delay/drop/duplicate/reorder notifications or fail payouts (tests, demos)."""
        return self._call("POST", "/sandbox/control", settings_)

    def simulate_payment(self, *, reference: str) -> dict:
        return self._call("POST", f"/sandbox/pay/{reference}", {})

    def simulate_refund(self, *, reference: str, amount_fen: int, reason: str = "refund") -> dict:
        """The sandbox bank takes (part of) a paid deposit back and notifies us (REFUND.SUCCESS)."""
        return self._call(
            "POST", "/sandbox/refund", {"out_trade_no": reference, "amount_fen": amount_fen, "reason": reason}
        )
