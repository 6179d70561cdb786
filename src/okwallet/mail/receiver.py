"""SMTP and LMTP receiver built on aiosmtpd: a mail server delivers to us, we store then file.

We answer ``250`` only after the raw message is committed to the database (it is then ours to
lose, so we don't); anything that prevents storing gets a temporary ``451`` so the sending
server retries. Processing (parse, classify, thread, ticket) runs right after and never turns a
stored message into an error for the sender.
"""

from __future__ import annotations

import logging

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from okwallet.mail import conf
from okwallet.mail.ingest import InboundItem, mail_process, mail_store_raw

log = logging.getLogger(__name__)

# A 25 MB attachment is about 34 MB in base64; leave room for the rest of the message.
DEFAULT_DATA_SIZE_LIMIT = 40 * 1024 * 1024


def _accepted(address: str) -> bool:
    domains = {d.lower().lstrip("@") for d in conf.setting("OKWALLET_MAIL_ACCEPT_DOMAINS", ())}
    if not domains:
        return True
    return address.rsplit("@", 1)[-1].lower().rstrip(">") in domains


def store_and_process(raw: bytes, envelope_from: str, envelope_to: list[str], source: str, peer: str) -> str:
    close_old_connections()
    try:
        stored: dict = {}
        ids, _duplicates = mail_store_raw(
            items=[InboundItem(raw=raw, envelope_from=envelope_from, envelope_to=envelope_to)],
            source=source,
            source_detail=f"{source}:{peer}"[:200],
            keep=stored,
        )
        try:
            mail_process(ids=ids, rows=stored)
        except Exception:  # noqa: BLE001 - stored; an agent sees it, the sender must not retry
            log.exception("processing of stored message(s) %s failed", ids)
        return ",".join(str(i) for i in ids) or "duplicate"
    finally:
        close_old_connections()


class IngestHandler:
    def __init__(self, source: str = "smtp") -> None:
        self.source = source

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if not _accepted(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        try:
            ref = await sync_to_async(store_and_process, thread_sensitive=True)(
                bytes(raw), envelope.mail_from or "", list(envelope.rcpt_tos), self.source, peer
            )
        except Exception:  # noqa: BLE001 - not stored: the sender keeps it and retries
            log.exception("could not store an inbound message")
            status = "451 4.3.0 Temporary failure, please try again later"
        else:
            status = f"250 2.0.0 OK stored as {ref}"
        if self.source == "lmtp":
            # LMTP answers DATA once per accepted recipient (RFC 2033 4.2).
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status


class ReceiverController(Controller):
    def __init__(
        self, *, host: str, port: int, lmtp: bool = False, data_size_limit: int = DEFAULT_DATA_SIZE_LIMIT
    ):
        self.lmtp = lmtp
        super().__init__(
            IngestHandler("lmtp" if lmtp else "smtp"),
            hostname=host,
            port=port,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            server_hostname=conf.message_id_domain(),
        )

    def factory(self):
        cls = LMTP if self.lmtp else SMTP
        return cls(self.handler, **self.SMTP_kwargs)
