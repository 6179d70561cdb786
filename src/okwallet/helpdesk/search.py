"""Ticket full-text search with jieba tokens.

PostgreSQL: a ``simple`` tsvector over ``Ticket.search_tokens`` with a GIN expression index
(Debian ships no Chinese parser; trigrams miss two-character words like 充值).
SQLite: an FTS5 table fed by triggers from the same tokens. Both are created by migration 0002.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

MAX_TOKENS_CHARS = 20_000
_WORD = re.compile(r"\w", re.UNICODE)


@cache
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def warm() -> None:
    """Load jieba's dictionary now (about 2 s) rather than inside the first request or batch;
    long-running processes (the IMAP poller) call it at start."""
    _jieba()


_QUERY_SYNTAX = str.maketrans("", "", "\"'*:&|!()<>^\\-")  # what tsquery / FTS5 would read
SHORT_TEXT = 32


def tokens(text: str) -> list[str]:
    """Lower-cased jieba search tokens without punctuation (``充值失败了`` → 充值, 失败, 了).

    Short texts (subjects, "谢谢", "好的") repeat a lot and are remembered."""
    if not text:
        return []
    if len(text) <= SHORT_TEXT:
        return list(_short_tokens(text))
    return _tokens(text)


@lru_cache(maxsize=4096)
def _short_tokens(text: str) -> tuple[str, ...]:
    return tuple(_tokens(text))


def _tokens(text: str) -> list[str]:
    out = []
    for token in _jieba().cut_for_search(text[:20_000]):
        token = token.strip().lower()
        if token and _WORD.search(token):
            token = token.translate(_QUERY_SYNTAX)
            if token:
                out.append(token)
    return out


def tokens_text(*texts: str) -> str:
    return " ".join(t for text in texts for t in tokens(text))[:MAX_TOKENS_CHARS]


def append_tokens(existing: str, text: str) -> str:
    joined = (existing + " " + tokens_text(text)).strip()
    return joined[:MAX_TOKENS_CHARS]


def filter_queryset(qs, query: str):
    """Tickets whose tokens contain every token of ``query``."""
    from django.db import connection

    words = list(dict.fromkeys(tokens(query)))[:12]
    if not words:
        return qs
    if connection.vendor == "postgresql":
        return qs.extra(
            where=[
                "to_tsvector('simple'::regconfig, helpdesk_ticket.search_tokens) @@ plainto_tsquery('simple'::regconfig, %s)"
            ],
            params=[" ".join(words)],
        )
    if connection.vendor == "sqlite":
        match = " AND ".join('"' + w.replace('"', "") + '"' for w in words)
        return qs.extra(
            where=[
                "helpdesk_ticket.id IN (SELECT rowid FROM helpdesk_ticket_fts WHERE helpdesk_ticket_fts MATCH %s)"
            ],
            params=[match],
        )
    for word in words:  # other databases: slow but correct
        qs = qs.filter(search_tokens__contains=word)
    return qs
