"""Every real-world message parses; every correctly declared text part decodes cleanly."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from okwallet.mail.charsets import REPLACEMENT_CHAR, candidate_codecs, decode_bytes
from okwallet.mail.classify import classify
from okwallet.mail.parsing import parse_message
from tests.mail.corpus import REPO, corpus_files

CORPUS = corpus_files()
OWN_FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.eml"))
ALL = [(source, path) for source, paths in CORPUS.items() for path in paths] + [
    ("okwallet", path) for path in OWN_FIXTURES
]


def _id(item: tuple[str, Path]) -> str:
    source, path = item
    try:
        return f"{source}:{path.relative_to(REPO)}"
    except ValueError:
        return f"{source}:{path.name}"


def test_corpus_was_found():
    assert "cpython" in CORPUS, "CPython's test/test_email/data is missing from this Python installation"
    assert len(CORPUS["cpython"]) >= 40


def _declared_right_text_parts(raw: bytes):
    """(declared charset, payload bytes) for text parts whose declaration is right."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        try:
            declared = part.get_content_charset()
            data = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - a part the stdlib cannot read has no "right" charset
            continue
        if not declared or not data or not candidate_codecs(declared):
            continue
        try:
            expected = data.decode(candidate_codecs(declared)[0])
        except (UnicodeDecodeError, LookupError):
            continue  # the declaration is wrong: fallbacks apply, tested elsewhere
        yield declared, data, expected


@pytest.mark.parametrize("item", ALL, ids=[_id(i) for i in ALL])
def test_message_parses_and_is_usable_or_flagged(item):
    _, path = item
    raw = path.read_bytes()
    parsed = parse_message(raw)
    assert parsed.raw_size == len(raw)
    # Real-world messages must be read fully; parse_error is for the truly broken.
    assert parsed.parse_error is None
    # Either it yields something a ticket can show, or it says why not.
    assert parsed.text.strip() or parsed.attachments or parsed.subject or parsed.flags
    assert classify(parsed).kind in {"normal", "auto_reply", "bulk", "list", "bounce", "dsn"}
    right_parts = list(_declared_right_text_parts(raw))
    for declared, data, expected in right_parts:
        decoded = decode_bytes(data, declared)
        assert not decoded.fallback, (declared, decoded.charset)
        assert decoded.text.count(REPLACEMENT_CHAR) == expected.count(REPLACEMENT_CHAR) == 0, declared
    if right_parts and "charset_fallback" not in parsed.flags:
        # Nothing needed guessing, so nothing may have been replaced.
        assert parsed.replacement_chars == 0
        assert REPLACEMENT_CHAR not in parsed.text


def test_corpus_sizes():
    counts = {source: len(paths) for source, paths in CORPUS.items()}
    print(counts)
    assert sum(counts.values()) >= 40
