"""The whole pipeline over real-world messages nobody here wrote (CPython, Twisted, Mailman)
plus our own fixtures: every message is stored once and yields a ticket or is flagged (or
ignored) with a reason; nothing is left half-done."""

from __future__ import annotations

from pathlib import Path

import pytest

from okwallet.mail.ingest import InboundItem, idempotency_key, mail_ingest
from okwallet.mail.models import RawMessage
from tests.mail.corpus import corpus_files

CORPUS = corpus_files()
OWN = sorted((Path(__file__).parent / "fixtures").glob("*.eml"))
FILES = [p for paths in CORPUS.values() for p in paths] + OWN


@pytest.mark.django_db
def test_every_corpus_message_is_stored_once_and_filed_or_explained(settings):
    settings.OKWALLET_MAIL_SENDER_LIMIT = 10_000  # the corpus reuses a few senders a lot
    raws = [p.read_bytes() for p in FILES]
    assert len(raws) >= 40
    first = mail_ingest(items=[InboundItem(raw=r) for r in raws], source="upload")
    again = mail_ingest(items=[InboundItem(raw=r) for r in raws], source="upload")

    rows = list(RawMessage.objects.all())
    # Messages sharing a Message-ID (the corpus has a few) are one message, by design.
    assert first.stored == len(rows)
    assert again.stored == 0 and again.duplicates == len(raws)
    assert first.failed == 0
    keys = {r.idempotency_key for r in rows}
    assert len(keys) == len(rows)
    for row in rows:
        assert row.status != RawMessage.Status.RECEIVED, row.pk
        if row.status == RawMessage.Status.PROCESSED:
            assert row.ticket_number, row.pk
        else:
            assert row.status_reason, (row.pk, row.status)
    by_key = {r.idempotency_key: bytes(r.raw) for r in rows}
    for raw in raws:
        key = idempotency_key(raw)[0]
        assert key in by_key  # every file has its row
        if key.startswith("sha256:"):
            assert by_key[key] == raw  # kept byte for byte
    processed = sum(r.status == RawMessage.Status.PROCESSED for r in rows)
    assert processed >= len(rows) // 2
