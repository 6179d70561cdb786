"""Read a mailbox over IMAP in batches; the caller keeps the state.

The Django layer stores ``MailboxState`` after it has committed a batch, so a
crash re-reads at most one batch, and idempotency by Message-ID (or raw hash)
makes the re-read harmless. When UIDVALIDITY changes, every UID we remembered
is meaningless (RFC 3501 2.3.1.1) and we start again from the beginning.

    with MailboxReader(host, port, user, password, processed_folder="Processed") as reader:
        while True:
            for batch in reader.poll(state):
                store_raw_and_ingest(batch.messages)      # one transaction
                state = batch.state                       # saved with it
                reader.move([m.uid for m in batch.messages])
            reader.wait(timeout=300)                      # IDLE, or sleep
"""

from __future__ import annotations

import ssl as ssl_module
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

BATCH_SIZE = 200
# Servers may drop an IDLE after 30 minutes (RFC 2177); re-issue before that.
MAX_IDLE_SECONDS = 29 * 60


@dataclass(frozen=True, slots=True)
class MailboxState:
    uidvalidity: int | None = None
    last_uid: int = 0


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    uid: int
    raw: bytes
    flags: tuple[bytes, ...] = ()
    internaldate: datetime | None = None


@dataclass(frozen=True, slots=True)
class FetchBatch:
    messages: list[FetchedMessage]
    state: MailboxState
    uidvalidity_changed: bool = False
    missing_uids: tuple[int, ...] = field(default=())


class MailboxReader:
    """Thin, synchronous IMAP reader built on imapclient.

    Use as a context manager. ``poll`` yields batches of at most
    ``batch_size`` messages with the state to store after each one.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        folder: str = "INBOX",
        processed_folder: str = "Processed",
        use_ssl: bool = False,
        starttls: bool = False,
        ssl_context: ssl_module.SSLContext | None = None,
        batch_size: int = BATCH_SIZE,
        fetch_item: str = "BODY.PEEK[]",
        timeout: float = 60.0,
        poll_interval: float = 60.0,
        ignore_capabilities: Sequence[str] = (),
        max_batch_bytes: int | None = 64 * 1024 * 1024,
        internaldate: bool = False,
        prefetch: bool = True,
    ):
        if fetch_item not in ("BODY.PEEK[]", "RFC822"):
            raise ValueError("fetch_item must be 'BODY.PEEK[]' or 'RFC822'")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.folder = folder
        self.processed_folder = processed_folder
        self.use_ssl = use_ssl
        self.starttls = starttls
        self.ssl_context = ssl_context
        self.batch_size = max(1, batch_size)
        self.fetch_item = fetch_item
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.max_batch_bytes = max_batch_bytes
        # INTERNALDATE costs a date parse per message and nothing downstream reads it.
        self.fetch_items = [fetch_item, "FLAGS", *(["INTERNALDATE"] if internaldate else [])]
        # prefetch: while the caller works on one batch, the next one is fetched in a thread.
        self.prefetch = prefetch
        self._inflight: Future | None = None
        # Lets tests (and broken servers) force the fallback paths.
        self.ignore_capabilities = {c.upper().encode() for c in ignore_capabilities}
        self.client: IMAPClient | None = None
        self.uidvalidity: int | None = None
        self._capabilities: set[bytes] = set()
        self._known_folders: set[str] = set()

    # -- connection ---------------------------------------------------------

    def connect(self) -> MailboxReader:
        client = IMAPClient(
            self.host, port=self.port, ssl=self.use_ssl, ssl_context=self.ssl_context, timeout=self.timeout
        )
        try:
            if self.starttls:
                client.starttls(self.ssl_context or ssl_module.create_default_context())
            client.login(self.username, self.password)
            self._capabilities = {c.upper() for c in client.capabilities()} - self.ignore_capabilities
        except BaseException:
            client.shutdown()
            raise
        self.client = client
        self.select()
        return self

    def close(self) -> None:
        if self.client is None:
            return
        if self._inflight is not None:  # a prefetch still reading: let it finish first
            wait([self._inflight])
        client, self.client = self.client, None
        try:
            client.logout()
        except (IMAPClientError, OSError):
            client.shutdown()

    def __enter__(self) -> MailboxReader:
        return self.connect() if self.client is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _c(self) -> IMAPClient:
        """The connection, once no prefetch is using it (commands never interleave)."""
        inflight = self._inflight
        if inflight is not None:
            wait([inflight])
        return self._client()

    def _client(self) -> IMAPClient:
        if self.client is None:
            raise RuntimeError("MailboxReader is not connected")
        return self.client

    def has_capability(self, name: str) -> bool:
        return name.upper().encode() in self._capabilities

    def select(self) -> int:
        """Select the folder and return its UIDVALIDITY."""
        info = self._c().select_folder(self.folder)
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        return self.uidvalidity

    # -- reading ------------------------------------------------------------

    def new_uids(self, state: MailboxState) -> tuple[list[int], bool]:
        """UIDs above the remembered one, and whether UIDVALIDITY changed."""
        uidvalidity = self.select()
        changed = state.uidvalidity is not None and state.uidvalidity != uidvalidity
        last_uid = 0 if changed or state.uidvalidity is None else state.last_uid
        # "N:*" always includes the highest UID even when it is below N.
        uids = sorted(uid for uid in self._c().search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        return uids, changed

    def poll(self, state: MailboxState, *, limit: int | None = None) -> Iterator[FetchBatch]:
        """Yield batches of new messages with the state to store after each."""
        uids, changed = self.new_uids(state)
        if limit is not None:
            uids = uids[:limit]
        assert self.uidvalidity is not None
        current = MailboxState(
            uidvalidity=self.uidvalidity,
            last_uid=0 if changed or state.uidvalidity is None else state.last_uid,
        )
        if not uids:
            yield FetchBatch(messages=[], state=current, uidvalidity_changed=changed)
            return
        groups = self._chunks(uids)
        first = True
        for chunk, messages in self._fetched(groups):
            fetched = {m.uid for m in messages}
            # A message expunged between SEARCH and FETCH is simply gone.
            missing = tuple(uid for uid in chunk if uid not in fetched)
            current = MailboxState(uidvalidity=self.uidvalidity, last_uid=max(chunk[-1], current.last_uid))
            yield FetchBatch(
                messages=messages,
                state=current,
                uidvalidity_changed=changed and first,
                missing_uids=missing,
            )
            first = False

    def _fetch_next(self, groups: Iterator[list[int]]) -> tuple[list[int], list[FetchedMessage]] | None:
        """FETCH the next group of UIDs (``groups`` issues its own size look-ups)."""
        chunk = next(groups, None)
        if chunk is None:
            return None
        key = b"BODY[]" if self.fetch_item == "BODY.PEEK[]" else b"RFC822"
        response = self._client().fetch(chunk, self.fetch_items)
        messages = []
        for uid in chunk:
            data = response.get(uid)
            if not data or key not in data:
                continue
            messages.append(
                FetchedMessage(
                    uid=uid,
                    raw=bytes(data[key]),
                    flags=tuple(data.get(b"FLAGS", ())),
                    internaldate=data.get(b"INTERNALDATE"),
                )
            )
        return chunk, messages

    def _fetched(self, groups: Iterator[list[int]]) -> Iterator[tuple[list[int], list[FetchedMessage]]]:
        """Fetched groups in order. With ``prefetch`` the next FETCH runs in a worker thread
        while the caller handles the current group; any other command (``move``, ``select``)
        first waits for it, so commands on the connection never interleave. At most two
        groups are held in memory."""
        if not self.prefetch:
            while (got := self._fetch_next(groups)) is not None:
                yield got
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-prefetch")
        future = None
        try:
            future = self._inflight = pool.submit(self._fetch_next, groups)
            while True:
                got = future.result()  # a FETCH error is raised here, in the caller's thread
                self._inflight = None
                if got is None:
                    return
                future = self._inflight = pool.submit(self._fetch_next, groups)
                yield got
        finally:
            if future is not None:
                wait([future])  # the connection is free again before anyone else uses it
            self._inflight = None
            pool.shutdown(wait=True)

    def _chunks(self, uids: list[int]) -> Iterator[list[int]]:
        """Batches of ``batch_size`` UIDs, split further so no batch holds more
        than ``max_batch_bytes`` (a mailbox of 25 MB attachments must not
        need 5 GB of memory); one cheap RFC822.SIZE fetch per batch. Advanced
        only by ``_fetch_next`` (possibly in the prefetch thread)."""
        for start in range(0, len(uids), self.batch_size):
            chunk = uids[start : start + self.batch_size]
            if self.max_batch_bytes is None:
                yield chunk
                continue
            sizes = self._client().fetch(chunk, ["RFC822.SIZE"])
            group: list[int] = []
            group_bytes = 0
            for uid in chunk:
                size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                if group and group_bytes + size > self.max_batch_bytes:
                    yield group
                    group, group_bytes = [], 0
                group.append(uid)
                group_bytes += size
            if group:
                yield group

    # -- moving -------------------------------------------------------------

    def ensure_folder(self, folder: str) -> None:
        if folder in self._known_folders:
            return
        client = self._c()
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
            except IMAPClientError:
                if not client.folder_exists(folder):  # created meanwhile by another poller
                    raise
        self._known_folders.add(folder)

    def move(self, uids: Sequence[int], folder: str | None = None) -> None:
        """Move processed messages: MOVE when offered, else COPY + \\Deleted + EXPUNGE."""
        uids = list(uids)
        if not uids:
            return
        target = folder or self.processed_folder
        self.ensure_folder(target)
        client = self._c()
        if self.has_capability("MOVE"):
            client.move(uids, target)
            return
        client.copy(uids, target)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if self.has_capability("UIDPLUS"):
            client.expunge(uids)
        else:
            # Without UIDPLUS this also expunges anything else marked
            # \Deleted in the folder; the poller's folder is ours alone.
            client.expunge()

    # -- waiting ------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        """Wait for new mail up to ``timeout`` seconds.

        With IDLE, returns True when the server reported a change (False on
        timeout). Without IDLE, sleeps ``min(timeout, poll_interval)`` and
        returns True so the caller polls.
        """
        timeout = max(0.0, min(timeout, MAX_IDLE_SECONDS))
        if not self.has_capability("IDLE"):
            time.sleep(min(timeout, self.poll_interval))
            return True
        client = self._c()
        deadline = time.monotonic() + timeout
        client.idle()
        woke = False
        try:
            # Other untagged responses (flag changes, "still here") end an
            # idle_check early; keep waiting until new mail or the deadline.
            while not woke:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                woke = _reports_new_mail(client.idle_check(timeout=remaining))
        finally:
            _, late = client.idle_done()
        return woke or _reports_new_mail(late or [])


def _reports_new_mail(responses) -> bool:
    return any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
