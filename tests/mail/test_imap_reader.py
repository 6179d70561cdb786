"""MailboxReader against a real Dovecot started by the ``dovecot`` fixture."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from okwallet.mail.imap import MailboxReader, MailboxState
from okwallet.mail.parsing import parse_message


def make_message(n: int, *, subject: str = "充值未到账", tag: str = "") -> bytes:
    return (
        f"From: Alice <alice{n}@example.com>\r\n"
        f"To: support@okwallet.cn\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Message-ID: <{tag}{n}.{uuid.uuid4().hex}@example.com>\r\n"
        f"Date: Thu, 26 Nov 2026 10:00:00 +0800\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"\r\n"
        f"第 {n} 封邮件\r\n"
    ).encode()


@pytest.fixture
def folder(dovecot):
    """A fresh folder per test so tests do not see each other's mail."""
    name = f"T{uuid.uuid4().hex[:10]}"
    with dovecot.client() as client:
        client.create_folder(name)
    yield name
    with dovecot.client() as client:
        for candidate in (name, f"{name}-done"):
            if client.folder_exists(candidate):
                client.delete_folder(candidate)


def append(dovecot, folder: str, messages: list[bytes]) -> None:
    with dovecot.client() as client:
        for raw in messages:
            client.append(folder, raw)


def reader_for(dovecot, folder: str, **kwargs) -> MailboxReader:
    return MailboxReader(
        dovecot.host,
        dovecot.port,
        dovecot.username,
        dovecot.password,
        folder=folder,
        processed_folder=f"{folder}-done",
        **kwargs,
    )


def test_reader_fetches_appended_mail_in_order_and_in_batches(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(7)])
    with reader_for(dovecot, folder, batch_size=3) as reader:
        batches = list(reader.poll(MailboxState()))
    assert [len(b.messages) for b in batches] == [3, 3, 1]
    subjects = [parse_message(m.raw).subject for b in batches for m in b.messages]
    assert subjects == [f"充值未到账 {n}" for n in range(7)]
    assert batches[-1].state.last_uid == batches[-1].messages[-1].uid
    assert batches[-1].state.uidvalidity == reader.uidvalidity


def test_reader_remembers_the_last_uid_and_peeks_without_marking_seen(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(3)])
    with reader_for(dovecot, folder) as reader:
        first = list(reader.poll(MailboxState()))
        state = first[-1].state
        assert all(b"\\Seen" not in m.flags for b in first for m in b.messages)
        again = list(reader.poll(state))
        assert again[0].messages == [] and again[0].state == state
    append(dovecot, folder, [make_message(10)])
    with reader_for(dovecot, folder) as reader:
        later = list(reader.poll(state))
    assert [parse_message(m.raw).subject for b in later for m in b.messages] == ["充值未到账 10"]


def test_reader_moves_processed_mail_and_creates_the_folder(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(4)])
    with reader_for(dovecot, folder) as reader:
        assert reader.has_capability("MOVE")
        uids = [m.uid for b in reader.poll(MailboxState()) for m in b.messages]
        reader.move(uids[:3])
    with dovecot.client() as client:
        assert client.select_folder(f"{folder}-done")[b"EXISTS"] == 3
        assert client.select_folder(folder)[b"EXISTS"] == 1


def test_reader_falls_back_to_copy_delete_expunge_without_move(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(3)])
    with reader_for(dovecot, folder, ignore_capabilities=["MOVE"]) as reader:
        assert not reader.has_capability("MOVE")
        uids = [m.uid for b in reader.poll(MailboxState()) for m in b.messages]
        reader.move(uids)
    with dovecot.client() as client:
        assert client.select_folder(f"{folder}-done")[b"EXISTS"] == 3
        assert client.select_folder(folder)[b"EXISTS"] == 0


def test_reader_starts_over_when_uidvalidity_changes(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(2)])
    with reader_for(dovecot, folder) as reader:
        state = list(reader.poll(MailboxState()))[-1].state
    # Deleting and re-creating a folder gives it a new UIDVALIDITY.
    with dovecot.client() as client:
        client.delete_folder(folder)
        client.create_folder(folder)
    append(dovecot, folder, [make_message(n, tag="new") for n in range(1)])
    with reader_for(dovecot, folder) as reader:
        batches = list(reader.poll(state))
    assert batches[0].uidvalidity_changed
    assert batches[0].state.uidvalidity != state.uidvalidity
    assert [parse_message(m.raw).subject for b in batches for m in b.messages] == ["充值未到账 0"]


def test_reader_idle_wakes_up_on_new_mail(dovecot, folder):
    with reader_for(dovecot, folder) as reader:
        assert reader.has_capability("IDLE")
        start = time.monotonic()
        assert reader.wait(0.5) is False
        timer = threading.Timer(0.5, append, args=(dovecot, folder, [make_message(1)]))
        timer.start()
        try:
            woke = reader.wait(10)
        finally:
            timer.join()
        assert woke and time.monotonic() - start < 9
        assert len([m for b in reader.poll(MailboxState()) for m in b.messages]) == 1


def test_reader_without_idle_sleeps_and_asks_to_poll(dovecot, folder):
    with reader_for(dovecot, folder, ignore_capabilities=["IDLE"], poll_interval=0.2) as reader:
        start = time.monotonic()
        assert reader.wait(5) is True
        assert 0.15 < time.monotonic() - start < 2


def test_reader_fetch_rfc822_item(dovecot, folder):
    append(dovecot, folder, [make_message(5)])
    with reader_for(dovecot, folder, fetch_item="RFC822") as reader:
        messages = [m for b in reader.poll(MailboxState()) for m in b.messages]
    assert parse_message(messages[0].raw).subject == "充值未到账 5"


def test_reader_splits_batches_by_size_so_big_mail_does_not_exhaust_memory(dovecot, folder):
    messages = [make_message(n) for n in range(5)]
    append(dovecot, folder, messages)
    limit = len(messages[0]) * 2 + 10  # about two messages per batch
    with reader_for(dovecot, folder, batch_size=200, max_batch_bytes=limit) as reader:
        batches = list(reader.poll(MailboxState()))
    assert [len(b.messages) for b in batches] == [2, 2, 1]
    assert [b.state.last_uid for b in batches] == sorted(b.state.last_uid for b in batches)


def test_reader_without_uidplus_still_moves(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(2)])
    with reader_for(dovecot, folder, ignore_capabilities=["MOVE", "UIDPLUS"]) as reader:
        uids = [m.uid for b in reader.poll(MailboxState()) for m in b.messages]
        reader.move(uids)
    with dovecot.client() as client:
        assert client.select_folder(f"{folder}-done")[b"EXISTS"] == 2
        assert client.select_folder(folder)[b"EXISTS"] == 0


def test_prefetch_reads_the_next_batch_while_the_caller_moves_the_current_one(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(7)])
    seen = []
    with reader_for(dovecot, folder, batch_size=3) as reader:
        assert reader.prefetch
        for batch in reader.poll(MailboxState()):
            seen.append([parse_message(m.raw).subject for m in batch.messages])
            # the next FETCH is under way (or done) while we hold this batch
            assert reader._inflight is not None
            reader.move([m.uid for m in batch.messages])  # waits for it; commands never interleave
        assert reader._inflight is None
    assert seen == [[f"充值未到账 {n}" for n in range(i, min(i + 3, 7))] for i in (0, 3, 6)]
    with dovecot.client() as client:
        assert client.select_folder(f"{folder}-done")[b"EXISTS"] == 7
        assert client.select_folder(folder)[b"EXISTS"] == 0


def test_prefetch_and_plain_reads_give_the_same_batches(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(5)])
    results = []
    for prefetch in (True, False):
        with reader_for(dovecot, folder, batch_size=2, prefetch=prefetch) as reader:
            results.append(
                [(b.state, [(m.uid, m.raw) for m in b.messages]) for b in reader.poll(MailboxState())]
            )
    assert results[0] == results[1] and len(results[0]) == 3


def test_stopping_early_leaves_the_connection_usable(dovecot, folder):
    append(dovecot, folder, [make_message(n) for n in range(6)])
    with reader_for(dovecot, folder, batch_size=2) as reader:
        batches = reader.poll(MailboxState())
        first = next(batches)
        batches.close()  # the caller gave up after one batch; the prefetch in flight finishes
        reader.move([m.uid for m in first.messages])
        assert len([m for b in reader.poll(MailboxState()) for m in b.messages]) == 4
