"""Writes of the email channel (docs/interfaces.md: ``mail_send_ticket_reply``)."""

from okwallet.mail.ingest import (
    InboundItem,
    IngestResult,
    mail_ingest,
    mail_ingest_raw,
    mail_process,
    mail_store_raw,
)
from okwallet.mail.outbound import mail_send_ticket_reply, outbound_deliver, outbound_retry

__all__ = [
    "InboundItem",
    "IngestResult",
    "mail_ingest",
    "mail_ingest_raw",
    "mail_process",
    "mail_send_ticket_reply",
    "mail_store_raw",
    "outbound_deliver",
    "outbound_retry",
]
