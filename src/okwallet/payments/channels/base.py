"""What every payment channel adapter offers (Alipay, WeChat Pay, UnionPay, the sandbox)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


class ChannelError(Exception):
    """The channel could not be reached or refused the request."""

    def __init__(self, code: str, message: str = ""):
        self.code = code
        super().__init__(f"{code}: {message}")


class SignatureError(Exception):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class OrderStatus:
    reference: str  # our out_trade_no
    state: str  # "paid" | "pending" | "closed" | "failed" | "unknown"
    amount_fen: int | None = None
    channel_ref: str = ""
    paid_at: datetime | None = None
    error_code: str = ""


@dataclass(frozen=True)
class Notification:
    event: str  # "deposit.succeeded" | "deposit.refunded" | "payout.succeeded" | "payout.failed"
    reference: str
    amount_fen: int  # for "deposit.refunded": the amount taken back
    channel_ref: str
    nonce: str
    error_code: str = ""
    raw: dict = field(default_factory=dict)
    refund_id: str = ""  # "deposit.refunded": the channel's refund number (idempotency)
    refund_reason: str = ""  # "deposit.refunded": "refund" or "chargeback"


@dataclass(frozen=True)
class CardCheck:
    """The bank's four-element check (四要素: card number, holder name, ID number, reserved phone).

    ``result`` is one of ``CARD_RESULTS``; each adapter maps its channel's answer onto them (and
    keeps the channel's own code in ``channel_code`` for support)."""

    result: str
    channel_code: str = ""

    @property
    def ok(self) -> bool:
        return self.result == "verified"


CARD_RESULTS = (
    "verified",
    "holder_mismatch",  # the bank holds the card under another name
    "id_number_mismatch",  # ... for another ID number
    "phone_mismatch",  # the phone is not the one reserved with the bank (银行预留手机号)
    "card_inactive",  # reported lost, cancelled, dormant
    "refused",  # any other refusal
)


@dataclass(frozen=True)
class CreatedOrder:
    channel_ref: str
    pay_url: str = ""


class Channel:
    code = "base"
    name = "Payment channel"

    def create_order(
        self,
        *,
        reference: str,
        amount_fen: int,
        method: str,
        description: str,
        notify_url: str,
        return_url: str = "",
        card: dict | None = None,
    ) -> CreatedOrder:
        raise NotImplementedError

    def query_order(self, *, reference: str) -> OrderStatus:
        raise NotImplementedError

    def create_payout(self, *, reference: str, amount_fen: int, card: dict, notify_url: str) -> CreatedOrder:
        raise NotImplementedError

    def query_payout(self, *, reference: str) -> OrderStatus:
        raise NotImplementedError

    def verify_card(self, *, number: str, holder_name: str, id_number: str, phone: str) -> CardCheck:
        """Four-element check with the issuing bank. ``id_number`` is the full 18-character ID
        number, ``phone`` the E.164 mobile number the customer says the bank holds. Raises
        ``ChannelError`` when the channel cannot answer."""
        raise NotImplementedError

    def parse_notification(self, *, headers: dict, body: bytes) -> Notification:
        """Verify the signature and freshness, then parse; raises ``SignatureError``."""
        raise NotImplementedError

    def statement(self, *, day: date) -> list[dict]:
        """Rows of the channel's daily statement: reference, channel_ref, kind, amount_fen, state."""
        raise NotImplementedError

    ack_body = b'{"code": "SUCCESS", "message": "OK"}'
