"""In-memory BM25 indexes over the published articles, one per language.

Each article is indexed twice: as a whole document (title ×3, question variants, summary, body)
and as one small document per title or question variant. An article's score is its document
score plus its best variant score, so a query phrased like one of the curated questions wins
even when the body is long, and a query about the body's details still finds it.

The index is rebuilt when the article set changes: every process compares the
``IndexVersion`` row with the version it built from (at most every ``KB_INDEX_CHECK_SECONDS``,
and at once after a change made in this process), so several app processes agree.
"""

from __future__ import annotations

import html
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from okwallet.kb.search import text as T

TITLE_WEIGHT = 3


@dataclass
class Doc:
    article_id: int
    slug: str
    title: str
    summary: str
    category: str
    sentences: list[str]
    # normalised copies of the sentences, same length as the originals (for matching)
    norm_sentences: list[str] = field(default_factory=list)
    norm_summary: str = ""


@dataclass
class Index:
    lang: str
    docs: list[Doc]
    doc_bm25: object | None
    var_bm25: object | None
    var_starts: np.ndarray
    vocab: set[str] = field(default_factory=set)
    en_deletes: dict[str, str] = field(default_factory=dict)
    doc_tokens: list[set[str]] = field(default_factory=list)
    df: dict[str, int] = field(default_factory=dict)

    def idf(self, term: str) -> float:
        n = len(self.docs)
        df = self.df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def __len__(self) -> int:
        return len(self.docs)


@dataclass(frozen=True)
class Ranked:
    doc: Doc
    score: float
    coverage: (
        float  # IDF-weighted share of the query's terms found in the article (unknown terms count fully)
    )


_SENTENCE = re.compile(r"(?<=[。！？!?；;\n])|(?<=\.)\s")
_MD = re.compile(r"(^#+\s*|^\s*[-*+]\s+|^\s*\d+[.)]\s+|\*\*|__|`|^>\s*|\[([^\]]*)\]\([^)]*\))", re.M)


def plain_text(markdown: str) -> str:
    return _MD.sub(lambda m: m.group(2) or "", markdown or "")


def split_sentences(plain: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE.split(plain)]
    return [p for p in parts if p]


def _same_length_norm(text: str) -> str:
    norm = T.normalise(text, limit=None)
    return norm if len(norm) == len(text) else text.lower()


def _bm25(corpus: list[list[str]]):
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)

    if not corpus:
        return None
    model = bm25s.BM25(k1=1.2, b=0.75)
    model.index([c or [""] for c in corpus], show_progress=False)
    return model


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


# Tokenised articles by (language, id, last change), so a rebuild after one article changes
# re-tokenises only that article (jieba over 10,000 articles takes a minute; BM25 a second).
_TOKENS: dict[tuple, tuple] = {}
_TOKENS_LOCK = threading.Lock()


def _tokenise_article(lang: str, a: dict) -> tuple:
    key = (lang, a["id"], a.get("stamp"))
    if a.get("stamp") is not None:
        found = _TOKENS.get(key)
        if found is not None:
            return found
    title = T.normalise(a["title"], limit=None)
    title_toks = T.tokens(title, lang)
    question_toks = [T.tokens(T.normalise(q, limit=None), lang) for q in a["questions"]]
    doc_toks = title_toks * TITLE_WEIGHT + T.tokens(T.normalise(a["summary"], limit=None), lang)
    doc_toks += T.tokens(T.normalise(a["body"], limit=None), lang)
    for toks in question_toks:
        doc_toks += toks
    sentences = split_sentences(a["body"])
    doc = Doc(
        article_id=a["id"],
        slug=a["slug"],
        title=a["title"],
        summary=a["summary"],
        category=a.get("category", ""),
        sentences=sentences,
        norm_sentences=[_same_length_norm(x) for x in sentences],
        norm_summary=_same_length_norm(a["summary"]),
    )
    result = (doc, doc_toks, [title_toks, *question_toks])
    if a.get("stamp") is not None:
        with _TOKENS_LOCK:
            _TOKENS[key] = result
    return result


def build_index(lang: str, articles: list[dict]) -> Index:
    """``articles``: dicts with id, slug, title, summary, body (plain), questions, category and
    optionally ``stamp`` (anything that changes when the article does: enables reuse)."""
    docs, doc_corpus, var_corpus, starts, doc_tokens = [], [], [], [], []
    used = set()
    for a in articles:
        doc, toks, variants = _tokenise_article(lang, a)
        used.add((lang, a["id"], a.get("stamp")))
        docs.append(doc)
        doc_corpus.append(toks)
        doc_tokens.append(set(toks))
        starts.append(len(var_corpus))
        var_corpus.extend(variants)
    with _TOKENS_LOCK:
        for key in [k for k in _TOKENS if k[0] == lang and k not in used]:
            del _TOKENS[key]
    vocab = set().union(*doc_tokens) if doc_tokens else set()
    df: dict[str, int] = {}
    for toks in doc_tokens:
        for t in toks:
            df[t] = df.get(t, 0) + 1
    en_deletes: dict[str, str] = {}
    if lang == "en":
        for word in sorted(vocab):
            if len(word) >= 5 and word.isalpha():
                for d in _deletes(word):
                    en_deletes.setdefault(d, word)
                en_deletes.setdefault(word, word)
    return Index(
        lang=lang,
        docs=docs,
        doc_bm25=_bm25(doc_corpus),
        var_bm25=_bm25(var_corpus),
        var_starts=np.array(starts, dtype=np.int64),
        vocab=vocab,
        en_deletes=en_deletes,
        doc_tokens=doc_tokens,
        df=df,
    )


def query_terms(index: Index, q: str) -> list[str]:
    """Canonical query terms, with typo repair against this index's vocabulary."""
    norm = T.normalise(q)
    if not norm:
        return []
    terms = T.tokens(norm, index.lang, query=True)
    if index.lang == "en":
        fixed = []
        for t in terms:
            if t in index.vocab or len(t) < 5 or not t.isalpha():
                fixed.append(t)
                continue
            match = index.en_deletes.get(t) or next(
                (index.en_deletes[d] for d in _deletes(t) if d in index.en_deletes), None
            )
            fixed.append(match or t)
        terms = fixed
    seen, out = set(), []
    for t in terms:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def rank(index: Index, terms: list[str], *, limit: int = 10) -> list[Ranked]:
    known = [t for t in terms if t in index.vocab]
    if not known or index.doc_bm25 is None:
        return []
    scores = index.doc_bm25.get_scores(known)
    var_scores = index.var_bm25.get_scores(known)
    best_var = np.maximum.reduceat(var_scores, index.var_starts) if len(index.var_starts) else 0
    total = scores + best_var
    k = min(limit, len(total))
    if k <= 0:
        return []
    top = np.argpartition(-total, k - 1)[:k] if k < len(total) else np.arange(len(total))
    top = top[np.argsort(-total[top], kind="stable")]
    out = []
    weights = {t: index.idf(t) for t in terms}
    informative = sum(weights.values()) or 1.0
    for i in top:
        score = float(total[i])
        if score <= 0:
            break
        found = sum(w for t, w in weights.items() if t in index.doc_tokens[i])
        out.append(Ranked(doc=index.docs[i], score=score, coverage=found / informative))
    return out


# --- snippets ------------------------------------------------------------------------------

SNIPPET_CHARS = 110


def highlight_pattern(terms: list[str], lang: str, raw_query: str) -> re.Pattern | None:
    """One regex for every spelling of the query's terms (built once per query)."""
    forms: set[str] = set()
    for t in terms:
        forms.update(T.surface_forms(t, "en" if lang == "en" else "zh"))
        forms.add(t)
    forms.update(w for w in T.normalise(raw_query).split()[:20] if len(w) >= 2)
    keep = sorted((f for f in forms if (len(f) >= 2 if T.has_cjk(f) else len(f) >= 3)), key=len, reverse=True)
    if not keep:
        return None
    cjk = [re.escape(f) for f in keep[:40] if T.has_cjk(f)]
    latin = [re.escape(f) for f in keep[:40] if not T.has_cjk(f)]
    parts = []
    if cjk:
        parts.append("|".join(cjk))
    if latin:  # English stems match their inflections: "forgot" → forgotten
        parts.append(r"\b(?:" + "|".join(latin) + r")[a-z]*")
    return re.compile("|".join(parts))


def snippet_html(doc: Doc, pattern: re.Pattern | None) -> str:
    """The body sentence that best matches the query, HTML-escaped, matches in <mark>."""
    text, norm = (
        (doc.sentences[0], doc.norm_sentences[0]) if doc.sentences else (doc.summary, doc.norm_summary)
    )
    best_hits = 0
    if pattern is not None:
        for i, simple in enumerate(doc.norm_sentences[:80]):
            hits = len(set(pattern.findall(simple)))
            if hits > best_hits:
                text, norm, best_hits = doc.sentences[i], simple, hits
                if best_hits >= 3:
                    break
        if best_hits == 0 and doc.summary:
            text, norm = doc.summary, doc.norm_summary
    start = 0
    if pattern is not None:
        m = pattern.search(norm)
        if m and m.start() > SNIPPET_CHARS // 2:
            start = m.start() - SNIPPET_CHARS // 3
    piece, probe = text[start : start + SNIPPET_CHARS], norm[start : start + SNIPPET_CHARS]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + SNIPPET_CHARS < len(text) else ""
    return prefix + _mark(piece, probe, pattern) + suffix


def _mark(piece: str, probe: str, pattern) -> str:
    """Escape ``piece``; wrap the stretches where ``probe`` (its normalised copy) matches."""
    if pattern is None:
        return html.escape(piece)
    out, pos = [], 0
    for m in pattern.finditer(probe):
        out.append(html.escape(piece[pos : m.start()]))
        out.append("<mark>" + html.escape(piece[m.start() : m.end()]) + "</mark>")
        pos = m.end()
    out.append(html.escape(piece[pos:]))
    return "".join(out)


# --- the per-process cache ------------------------------------------------------------------


class IndexCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[str, Index] = {}
        self._version: int | None = None
        self._checked_at = 0.0

    def invalidate(self) -> None:
        self._checked_at = 0.0

    def get(self, lang: str, *, loader, version_reader, check_seconds: float) -> Index:
        now = time.monotonic()
        if self._version is None or now - self._checked_at >= check_seconds:
            version = version_reader()
            self._checked_at = now
            if version != self._version:
                with self._lock:
                    if version != self._version:
                        self._indexes = {}
                        self._version = version
        index = self._indexes.get(lang)
        if index is None:
            with self._lock:
                index = self._indexes.get(lang)
                if index is None:
                    index = build_index(lang, loader(lang))
                    self._indexes[lang] = index
        return index

    @property
    def version(self) -> int | None:
        return self._version


CACHE = IndexCache()
