"""Decoding bytes from mail the way Chinese mail actually arrives.

Declared charsets are often too narrow (GB2312 declared, GBK sent), wrong, or
missing. We decode with a superset of the declared charset first, then fall
back through the charsets our customers use, and tell the caller when we had to
guess so an agent can be warned about possible mojibake.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

REPLACEMENT_CHAR = "\ufffd"

# Declared name (lower case) -> codecs to try, best first. GB2312 and GBK mail
# routinely contains characters only GBK/GB18030 define, so the superset wins.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gb_2312": ("gb18030",),
    "gb_2312-80": ("gb18030",),
    "euc-cn": ("gb18030",),
    "euccn": ("gb18030",),
    "x-euc-cn": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "ms936": ("gb18030",),
    "windows-936": ("gb18030",),
    "gb18030": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "big-5": ("big5hkscs", "cp950"),
    "x-big5": ("big5hkscs", "cp950"),
    "cn-big5": ("big5hkscs", "cp950"),
    "big5-hkscs": ("big5hkscs", "cp950"),
    "big5hkscs": ("big5hkscs", "cp950"),
    "cp950": ("cp950", "big5hkscs"),
    "ks_c_5601-1987": ("cp949",),
    "euc-kr": ("cp949",),
    # Mailers say us-ascii or iso-8859-1 and send Windows-1252 smart quotes.
    "iso-8859-1": ("cp1252", "latin-1"),
    "latin1": ("cp1252", "latin-1"),
    "latin-1": ("cp1252", "latin-1"),
    "us-ascii": ("ascii",),
    "ascii": ("ascii",),
    "utf8": ("utf-8",),
    "utf-8": ("utf-8",),
    "shift_jis": ("cp932",),
    "sjis": ("cp932",),
}

# Labels that mean "we do not know", so we go straight to guessing.
_UNKNOWN = {
    "",
    "unknown",
    "unknown-8bit",
    "x-unknown",
    "default",
    "charset",
    "8bit",
    "x-user-defined",
}

# Codecs that are "text encodings" to Python but make no sense for mail and
# could turn message bytes into something surprising.
_REFUSED = {
    "unicode_escape",
    "raw_unicode_escape",
    "idna",
    "punycode",
    "undefined",
    "mbcs",
    "oem",
}

FALLBACK_CHAIN = ("utf-8", "gb18030", "big5hkscs")


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    charset: str
    fallback: bool
    replacements: int


def normalise_charset_label(label: str | None) -> str:
    if not label:
        return ""
    return str(label).strip().strip("\"'").strip().lower()


def candidate_codecs(label: str | None) -> tuple[str, ...]:
    """Codecs worth trying for a declared label, best first (may be empty)."""
    name = normalise_charset_label(label)
    if name in _UNKNOWN:
        return ()
    if name in _SUPERSETS:
        return _SUPERSETS[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return ()
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return ()
    return (info.name,)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode ``data`` never raising.

    1. The declared charset (through its superset) if it decodes strictly.
    2. utf-8, gb18030, big5hkscs strictly, flagged as a fallback.
    3. The candidate with the fewest replacement characters if that is under
       one percent of the text, else latin-1 (never fails), flagged.
    """
    declared_codecs = candidate_codecs(declared)
    if not data:
        return Decoded("", declared_codecs[0] if declared_codecs else "utf-8", False, 0)
    for codec in declared_codecs:
        text = _strict(data, codec)
        if text is not None:
            return Decoded(text, codec, False, text.count(REPLACEMENT_CHAR))
    if not declared_codecs and data.isascii():
        text = data.decode("ascii")
        return Decoded(text, "ascii", False, text.count(REPLACEMENT_CHAR))
    for codec in FALLBACK_CHAIN:
        if codec in declared_codecs:
            continue
        text = _strict(data, codec)
        if text is not None:
            return Decoded(text, codec, True, text.count(REPLACEMENT_CHAR))
    best: tuple[int, str, str] | None = None
    for codec in (*declared_codecs, *FALLBACK_CHAIN):
        text = data.decode(codec, errors="replace")
        count = text.count(REPLACEMENT_CHAR)
        if best is None or count < best[0]:
            best = (count, codec, text)
    assert best is not None
    count, codec, text = best
    if count * 100 <= len(text):
        return Decoded(text, codec, True, count)
    text = data.decode("latin-1")
    return Decoded(text, "latin-1", True, text.count(REPLACEMENT_CHAR))
