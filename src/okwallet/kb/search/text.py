"""Text normalisation and tokenisation for Chinese and English help-centre search.

Chinese: NFKC, traditional → simplified (OpenCC), jieba (search mode) with the domain
dictionary in ``content/dict.txt``, synonyms folded to one canonical term
(``content/synonyms.txt``), homophone typo tolerance by pinyin. English: lowercase words,
light suffix stripping, phrase and word synonyms, one-edit typo tolerance against the index
vocabulary (done in ``engine``).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import cache
from pathlib import Path

CONTENT = Path(__file__).resolve().parent.parent / "content"
MAX_QUERY_CHARS = 200  # longer queries are cut: nobody types more into a search box

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

ZH_STOP = set(
    """的 了 吗 呢 啊 吧 呀 哦 嘛 么 是 在 有 我 我的 我们 你 你们 您 他 她 它 这 那 这个 那个 哪 哪个 个 把 被 给 让 和 与 或 及
    就 都 也 还 又 才 很 太 更 最 会 能 可 可以 可能 要 想 需要 应该 请 请问 你好 您好 谢谢 麻烦 一下 一个 一些 怎么 怎么办 怎样
    如何 什么 为什么 为啥 啥 咋 咋办 是不是 能不能 可不可以 有没有 怎么回事 怎么样 么 吗 呢 没 不 嗯 哎 唉 就是 现在 今天 已经
    帮 帮忙 帮我 一直 之前 刚才 刚刚 时候 然后 但是 可是 所以 因为 如果 我想 到底 呗 啦 哈 里 上 下 中 对 从 向 用 ok 钱包 ok钱包""".split()
)
EN_STOP = set(
    """a an the i me my mine we our you your he she it its they them is am are was were be been being do does did
    have has had to of in on at for from with by about as into and or but if then so not no can could would should
    will shall may might must how what why when where which who whom this that these those there here please hi
    hello help thanks thank just still yet get got any some ok okwallet wallet want need im i'm it's dont don't""".split()
)

_jieba_lock = threading.Lock()


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@cache
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


@cache
def _traditional_chars() -> frozenset[str]:
    """Characters that OpenCC would change: text without any is already simplified, and the
    (slow, pure-Python) conversion is skipped."""
    import opencc

    path = Path(opencc.__file__).resolve().parent / "dictionary" / "TSCharacters.txt"
    chars = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 1 and parts[0] not in parts[1:]:
            chars.add(parts[0])
    return frozenset(chars)


def to_simplified(text: str) -> str:
    if _traditional_chars().isdisjoint(text):
        return text
    return _t2s().convert(text)


def normalise(text: str, *, limit: int | None = MAX_QUERY_CHARS) -> str:
    """NFKC (full-width → half-width), traditional → simplified, lowercase, no control
    characters, whitespace collapsed. ``limit`` cuts long input before the costly steps."""
    if not text:
        return ""
    text = str(text)
    if limit is not None:
        text = text[: limit * 2]
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if limit is not None:
        text = text[:limit]
    if has_cjk(text):
        text = to_simplified(text)
    return text.lower()


@cache
def domain_words() -> tuple[tuple[str, int], ...]:
    words = []
    for line in (CONTENT / "dict.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 20000
        words.append((parts[0].lower(), freq))
    return tuple(words)


@cache
def synonym_groups() -> dict[str, dict[str, str]]:
    """``{"zh": {variant: canonical}, "en": {...}}``. A line is ``lang: canonical, variant, ...``."""
    table: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
    for line in (CONTENT / "synonyms.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        lang, _sep, rest = line.partition(":")
        terms = [t.strip().lower() for t in rest.split(",") if t.strip()]
        if not terms or lang.strip() not in table:
            continue
        if lang.strip() == "zh":
            terms = [to_simplified(t) for t in terms]
        canonical = terms[0]
        for term in terms:
            table[lang.strip()].setdefault(term, canonical)
    return table


@cache
def _forms_by_canonical(lang: str) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for variant, canonical in synonym_groups()[lang].items():
        found.setdefault(canonical, []).append(variant)
    return {k: tuple(v) for k, v in found.items()}


def surface_forms(canonical: str, lang: str) -> tuple[str, ...]:
    """All spellings that fold to ``canonical`` (for highlighting)."""
    return _forms_by_canonical("en" if lang == "en" else "zh").get(canonical) or (canonical,)


@cache
def _tokenizer():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    for word, freq in domain_words():
        tok.add_word(word, freq)
    for variant in synonym_groups()["zh"]:
        if has_cjk(variant) and len(variant) > 1 and " " not in variant:
            tok.add_word(variant, 20000)
    return tok


def warm_up() -> None:
    """Load jieba, OpenCC and pypinyin now rather than on the first customer's query."""
    _tokenizer()
    to_simplified("帳戶")
    _pinyin_terms()
    _pinyin_of("充值")


@cache
def _pinyin_terms() -> dict[str, str]:
    """Pinyin (no tones) of each multi-character domain term and synonym → the canonical term,
    so 冲值 / 体现 / chongzhi find 充值 / 提现."""
    from pypinyin import lazy_pinyin

    table = synonym_groups()["zh"]
    terms = {w for w, _f in domain_words() if has_cjk(w) and len(w) >= 2}
    terms |= {v for v in table if has_cjk(v) and len(v) >= 2}
    found: dict[str, str] = {}
    for term in sorted(terms):
        key = "".join(lazy_pinyin(term))
        found.setdefault(key, table.get(term, term))
    return found


def _pinyin_of(text: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(text)


def zh_tokens(text: str, *, query: bool = False) -> list[str]:
    """Canonical tokens of (already normalised) Chinese or mixed text."""
    table = synonym_groups()["zh"]
    tok = _tokenizer()
    with _jieba_lock:
        raw = list(tok.cut_for_search(text))
    out: list[str] = []
    for word in raw:
        word = word.strip().lower()
        if not word or word in ZH_STOP:
            continue
        if not has_cjk(word):
            for w in _WORD.findall(word):
                if len(w) > 1 and w not in EN_STOP and w not in ZH_STOP:
                    out.append(table.get(w, w))
            continue
        out.append(table.get(word, word))
    if query:
        out.extend(_pinyin_extra(text, set(out)))
    return out


def _pinyin_extra(text: str, have: set[str]) -> list[str]:
    """Domain terms whose pinyin matches a stretch of the query but which the query does not
    spell correctly (homophone typos such as 冲值, 体现, 冻洁), and pinyin typed in Latin letters."""
    terms = _pinyin_terms()
    extra: list[str] = []
    for run in _CJK_RUN.findall(text)[:8]:
        run = run[:40]
        syllables = _pinyin_of(run)
        for size in (2, 3, 4):
            for i in range(0, len(run) - size + 1):
                term = terms.get("".join(syllables[i : i + size]))
                if term and term not in have and term not in extra:
                    extra.append(term)
    for word in _WORD.findall(text)[:8]:
        if len(word) >= 4:
            term = terms.get(word)
            if term and term not in have and term not in extra:
                extra.append(term)
    return extra


def _stem(word: str) -> str:
    """Light suffix stripping that maps change/changed/changing/changes to one stem."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + keep
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


@cache
def _en_phrases() -> tuple[tuple[str, str], ...]:
    table = synonym_groups()["en"]
    phrases = [(v, c) for v, c in table.items() if " " in v or "-" in v]
    return tuple(sorted(phrases, key=lambda p: -len(p[0])))


@cache
def _en_word_table() -> dict[str, str]:
    table = synonym_groups()["en"]
    return {_stem(v): _stem(c).replace(" ", "_") for v, c in table.items() if " " not in v and "-" not in v}


def en_tokens(text: str, *, query: bool = False) -> list[str]:
    """Canonical tokens of (already normalised) English text."""
    padded = f" {text} "
    for phrase, canonical in _en_phrases():
        if phrase in padded:
            padded = re.sub(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", f" {canonical} ", padded)
    words = _en_word_table()
    out = []
    for word in _WORD.findall(padded):
        if word in EN_STOP or len(word) < 2:
            continue
        stem = _stem(word)
        out.append(words.get(stem, stem))
    return out


def tokens(text: str, lang: str, *, query: bool = False) -> list[str]:
    if lang == "en":
        return en_tokens(text, query=query)
    return zh_tokens(text, query=query)
