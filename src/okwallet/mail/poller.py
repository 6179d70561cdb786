"""The IMAP poller: read a mailbox in batches, store, file, then move what was filed.

Each batch is one FETCH of up to 200 messages; its raw bytes and the mailbox position
(UIDVALIDITY, last UID) are committed together, then processed, then moved to the processed
folder. A crash anywhere re-reads at most one batch, which idempotency makes harmless; mail
left in the folder by a crash between commit and move is moved on the next pass.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import close_old_connections
from django.db.models import F

from okwallet.core.timeutil import now_utc
from okwallet.mail.imap import MailboxReader
from okwallet.mail.imap import MailboxState as ImapState
from okwallet.mail.ingest import InboundItem, IngestResult, mail_process, mail_store_raw
from okwallet.mail.models import MailboxState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    use_ssl: bool = False
    starttls: bool = False
    move: bool = True
    batch_size: int = 200
    # Capabilities to pretend the server lacks (tests of the fallbacks, broken servers).
    ignore_capabilities: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"

    def reader(self, **kwargs) -> MailboxReader:
        return MailboxReader(
            self.host,
            self.port,
            self.username,
            self.password,
            folder=self.folder,
            processed_folder=self.processed_folder,
            use_ssl=self.use_ssl,
            starttls=self.starttls,
            batch_size=self.batch_size,
            ignore_capabilities=self.ignore_capabilities,
            **kwargs,
        )


def _stored_state(name: str) -> ImapState:
    row = MailboxState.objects.filter(mailbox=name).first()
    if row is None:
        return ImapState()
    return ImapState(uidvalidity=row.uidvalidity, last_uid=int(row.last_uid))


def _move_leftovers(reader: MailboxReader, state: ImapState) -> int:
    """Messages at or below the stored UID were stored already: finish moving them."""
    if state.uidvalidity is None or state.last_uid <= 0 or reader.uidvalidity != state.uidvalidity:
        return 0
    uids = [u for u in reader._c().search(["UID", f"1:{state.last_uid}"]) if u <= state.last_uid]
    if uids:
        reader.move(uids)
    return len(uids)


def mail_poll_once(*, reader: MailboxReader, config: MailboxConfig, limit: int | None = None) -> IngestResult:
    """One pass over the mailbox with a connected reader; returns what was filed."""
    total = IngestResult()
    state = _stored_state(config.name)
    if config.move:
        reader.select()
        _move_leftovers(reader, state)
    for batch in reader.poll(state, limit=limit):
        if batch.uidvalidity_changed:
            log.warning("%s: UIDVALIDITY changed; reading the folder again from the start", config.name)
        items = [InboundItem(raw=m.raw) for m in batch.messages]
        stored: dict = {}
        ids, duplicates = mail_store_raw(
            items=items,
            source="imap",
            source_detail=f"imap:{config.name}",
            mailbox_state=(config.name, batch.state.uidvalidity, batch.state.last_uid),
            keep=stored,
        )
        result = mail_process(ids=ids, rows=stored) if ids else IngestResult()
        result.stored, result.duplicates = len(ids), duplicates
        total.add(result)
        if batch.messages:
            MailboxState.objects.filter(mailbox=config.name).update(
                messages_seen=F("messages_seen") + len(batch.messages), last_error=""
            )
            if config.move:
                reader.move([m.uid for m in batch.messages])
    MailboxState.objects.filter(mailbox=config.name).update(last_polled_at=now_utc())
    total.rows = []
    return total


def mail_poll_forever(
    *, config: MailboxConfig, idle_timeout: float = 300, poll_interval: float = 60, stop=None, stdout=None
) -> None:
    """Poll, then wait with IDLE (or sleep), reconnecting with back-off after errors."""
    from okwallet.helpdesk.search import warm

    warm()
    backoff = 1.0
    while stop is None or not stop.is_set():
        try:
            with config.reader(poll_interval=poll_interval) as reader:
                backoff = 1.0
                while stop is None or not stop.is_set():
                    close_old_connections()
                    result = mail_poll_once(reader=reader, config=config)
                    if stdout is not None and (result.stored or result.duplicates):
                        stdout.write(
                            f"{config.name}: stored {result.stored}, tickets {result.tickets_created}, "
                            f"threaded {result.replies_threaded}, flagged {result.flagged}, "
                            f"ignored {result.ignored}, duplicates {result.duplicates}"
                        )
                    reader.wait(timeout=idle_timeout)
        except Exception as exc:  # noqa: BLE001 - a server or network problem: record, retry
            log.exception("%s: polling failed", config.name)
            close_old_connections()
            MailboxState.objects.update_or_create(
                mailbox=config.name, defaults={"last_error": f"{type(exc).__name__}: {exc}"[:2000]}
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, 300.0)
