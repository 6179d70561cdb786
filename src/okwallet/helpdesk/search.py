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


# How many of the newest tickets a search on PostgreSQL tries first (see newest_matches).
RECENT_WINDOW = 1000
_PG_MATCH = "to_tsvector('simple'::regconfig, helpdesk_ticket.search_tokens) @@ plainto_tsquery('simple'::regconfig, %s)"
# The same test written so that the GIN index cannot serve it (`|| ''`): for a handful of rows
# already chosen by date, checking each is cheaper than reading the index's whole posting list.
_PG_MATCH_ROWWISE = "to_tsvector('simple'::regconfig, helpdesk_ticket.search_tokens || '') @@ plainto_tsquery('simple'::regconfig, %s)"


def _words(query: str) -> list[str]:
    return list(dict.fromkeys(tokens(query)))[:12]


def filter_queryset(qs, query: str):
    """Tickets whose tokens contain every token of ``query``."""
    return _filter_words(qs, _words(query))


def _filter_words(qs, words: list[str]):
    from django.db import connection

    if not words:
        return qs
    if connection.vendor == "postgresql":
        return qs.extra(where=[_PG_MATCH], params=[" ".join(words)])  # noqa: S610  # nosec B610 - constant SQL
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


def newest_matches(qs, query: str, n: int) -> list:
    """The first ``n`` rows of ``qs`` (a ``.values()`` queryset with ``id``, ordered newest first by
    ``created_at``, ``id``) that match
    ``query``: what ``filter_queryset(qs, query)[:n]`` returns, without its worst case.

    On PostgreSQL the planner estimates a search of several words as if they were independent;
    jieba's words are not (「银行卡 到账」 is searched as 银行 & 银行卡 & 到 & 账, which always occur
    together), so for a common phrase it expected ~800 matches, found 100,000 at 1M tickets and
    fetched and sorted them all: 0.5 s alone, seconds under load. So the newest ``RECENT_WINDOW``
    tickets are checked row by row first; if they hold ``n`` matches those are the answer (every
    ticket outside the window is older), otherwise the indexed search runs, which is then cheap
    because the matches are rare."""
    from django.db import connection

    words = _words(query)
    if not words:
        return list(qs[:n])
    if connection.vendor == "postgresql":
        ids = _pg_newest_ids(qs, " ".join(words), n)
        if ids is not None:
            by_id = {row["id"]: row for row in qs.filter(id__in=ids)}
            return [by_id[i] for i in ids if i in by_id]
    return list(_filter_words(qs, words)[:n])


def _pg_newest_ids(qs, words: str, n: int) -> list[int] | None:
    """Ids of the first ``n`` matches among the first ``RECENT_WINDOW`` rows of ``qs``, in its
    order, or None when the window holds fewer. The window is a subquery read in index order
    and checked row by row, so the scan stops at the n-th match (a flat WHERE lets the planner
    check the whole window, or read the GIN index's full posting list)."""
    from django.db import connection

    inner, params = qs.values("id", "created_at", "search_tokens")[:RECENT_WINDOW].query.sql_with_params()
    sql = (
        f"SELECT w.id FROM ({inner}) w "  # noqa: S608  # nosec B608 - the ORM's own SQL, values are parameters
        "WHERE to_tsvector('simple'::regconfig, w.search_tokens) @@ plainto_tsquery('simple'::regconfig, %s) "
        "ORDER BY w.created_at DESC, w.id DESC LIMIT %s"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [*params, words, n])
        ids = [row[0] for row in cur.fetchall()]
    return ids if len(ids) == n else None
