"""Turn raw inbound mail into a ParsedMessage, never raising.

The raw bytes are stored by the caller before this runs; whatever goes wrong in
here becomes ``parse_error`` and ``flags`` on the result, so an agent can look
at the message instead of it being lost.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import email.utils
import hashlib
import io
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser

from okwallet.mail.charsets import REPLACEMENT_CHAR, decode_bytes
from okwallet.mail.html import MAX_HTML_TO_TEXT_CHARS, html_to_text, sanitize_html

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 25 * 1024 * 1024
# Above this we keep headers only: the caller has the raw bytes anyway.
DEFAULT_MAX_RAW_BYTES = 64 * 1024 * 1024
MAX_TEXT_CHARS = 1_000_000
MAX_HTML_CHARS = 2_000_000
MAX_MIME_DEPTH = 30
MAX_MIME_PARTS = 1_000
# Long threads have long References; the newest (last) ids matter most, so
# headers are cut generously, and References from the front.
MAX_HEADER_CHARS = 64 * 1024

FLAG_PARSE_ERROR = "parse_error"
FLAG_CHARSET_FALLBACK = "charset_fallback"
FLAG_REPLACEMENT_CHARS = "replacement_chars"
FLAG_ATTACHMENT_TOO_LARGE = "attachment_too_large"
FLAG_TOTAL_TOO_LARGE = "attachments_total_too_large"
FLAG_TNEF_IGNORED = "tnef_ignored"
FLAG_MIME_DEFECTS = "mime_defects"
FLAG_DUPLICATE_HEADER = "duplicate_header"
FLAG_HEADER_INJECTION = "header_injection"
FLAG_MISSING_MESSAGE_ID = "missing_message_id"
FLAG_MISSING_FROM = "missing_from"
FLAG_BAD_DATE = "bad_date"
FLAG_UNSAFE_HTML = "unsafe_html_removed"
FLAG_TEXT_TRUNCATED = "text_truncated"
FLAG_TOO_DEEP = "mime_too_deep"
FLAG_TOO_MANY_PARTS = "mime_too_many_parts"
FLAG_MESSAGE_TOO_LARGE = "message_too_large"
FLAG_FORWARDED = "forwarded_message"

# Headers that must appear at most once (RFC 5322 3.6); a second copy is a
# sign of a broken or malicious sender, and we use the first.
_SINGLE_HEADERS = (
    "message-id",
    "in-reply-to",
    "references",
    "subject",
    "from",
    "date",
    "to",
    "cc",
    "sender",
    "reply-to",
)

_UNSAFE_HTML = re.compile(
    r"<\s*(?:script|iframe|object|embed|form|meta|base)\b|\bon[a-z]+\s*=|(?:java|vb)script\s*:", re.IGNORECASE
)

_RAW_OUT = email.policy.compat32.clone(linesep="\r\n")
_PARSE_POLICY = email.policy.compat32

_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}


@dataclass(slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    content: bytes | None
    inline: bool = False
    content_id: str | None = None
    sha256: str | None = None
    skipped_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None


@dataclass(slots=True)
class DeliveryStatus:
    """One per-recipient block of a message/delivery-status part (RFC 3464)."""

    final_recipient: str | None
    original_recipient: str | None
    action: str | None
    status: str | None
    diagnostic_code: str | None


@dataclass(slots=True)
class ParsedMessage:
    raw_sha256: str
    raw_size: int
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_name: str = ""
    from_addr: str | None = None
    reply_to: str | None = None
    sender_addr: str | None = None
    return_path: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date: datetime | None = None
    content_type: str = "text/plain"
    report_type: str | None = None
    text: str = ""
    html_sanitized: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    delivery_status: list[DeliveryStatus] = field(default_factory=list)
    # In a bounce or receipt (multipart/report): the Message-ID of the
    # returned message, i.e. which of our messages it is about.
    report_message_id: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    replacement_chars: int = 0
    parse_error: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Message-ID when present, else the hash of the raw bytes."""
        if self.message_id:
            return "mid:" + self.message_id
        return "sha256:" + self.raw_sha256

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def flag(self, name: str, note: str | None = None) -> None:
        if name not in self.flags:
            self.flags.append(name)
        if note and note not in self.notes:
            self.notes.append(note)


# --------------------------------------------------------------------------
# Header helpers

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([QqBb])\?([^?\s]*?)\?=")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0085\u2028\u2029]")
_WS = re.compile(r"[\t ]+")


def _raw_to_bytes(value: str) -> bytes:
    # message_from_bytes keeps non-ASCII header bytes as surrogate escapes.
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def _decode_encoded_word_payload(encoding: str, payload: str) -> bytes:
    if encoding in "Bb":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "surrogateescape")
    return quopri.decodestring(_raw_to_bytes(payload.replace("_", " ")), header=False)


def decode_header_value(value: str | None, *, stats: list[int] | None = None) -> str:
    """RFC 2047 decode, joining adjacent encoded words of one charset as bytes.

    Chinese mailers split multi-byte characters across encoded words, so the
    bytes of neighbouring words must be joined before decoding. Raw 8-bit
    header bytes (not RFC 2047) are decoded with the same fallbacks as bodies.
    ``stats`` (if given) gets [fallbacks, replacement chars] added to it.
    """
    if not value:
        return ""
    value = str(value)
    if value.isascii() and "=?" not in value:
        return value
    pieces: list[tuple[bytes, str | None]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        # Whitespace between two encoded words is not part of the text.
        if between and not (pieces and pieces[-1][1] is not None and between.strip() == ""):
            pieces.append((_raw_to_bytes(between), None))
        charset = match.group(1).split("*", 1)[0]
        data = _decode_encoded_word_payload(match.group(2), match.group(3))
        if pieces and pieces[-1][1] is not None and pieces[-1][1].lower() == charset.lower():
            pieces[-1] = (pieces[-1][0] + data, pieces[-1][1])
        else:
            pieces.append((data, charset))
        pos = match.end()
    if pos < len(value):
        pieces.append((_raw_to_bytes(value[pos:]), None))
    out = []
    for data, charset in pieces:
        decoded = decode_bytes(data, charset)
        if stats is not None:
            stats[0] += int(decoded.fallback and (charset is not None or decoded.charset != "utf-8"))
            stats[1] += decoded.replacements
        out.append(decoded.text)
    return "".join(out)


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).rstrip("\r\n")


def clean_header_text(text: str) -> str:
    """One line: no CR/LF or other controls, collapsed blanks."""
    if text.isprintable() and "  " not in text:  # the common case: nothing to replace
        return text.strip()
    text = _CONTROL.sub(" ", text)
    return _WS.sub(" ", text).strip()


_MSGID_IN_BRACKETS = re.compile(r"<\s*([^<>\s]+?)\s*>")


def normalise_message_id(value: str | None) -> str | None:
    """``<abc@host>`` -> ``abc@host``; None when there is nothing usable."""
    if not value:
        return None
    value = clean_header_text(str(value))
    match = _MSGID_IN_BRACKETS.search(value)
    if match:
        mid = match.group(1)
    else:
        parts = value.split()
        mid = parts[0].strip("<>") if parts else ""
    mid = mid.strip()
    if not mid or len(mid) > 998:
        return None
    return mid


def parse_references(value: str | None) -> list[str]:
    if not value:
        return []
    value = clean_header_text(str(value))
    found = _MSGID_IN_BRACKETS.findall(value)
    if not found:
        found = [token.strip("<>,") for token in value.split()]
    seen: dict[str, None] = {}
    for mid in found:
        if mid and len(mid) <= 998:
            seen.setdefault(mid, None)
    return list(seen)


_ADDR_OK = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+$")
# One mailbox in its plainest forms: ``local@domain`` or ``Some Name <local@domain>`` (the name
# without quotes, comments, dots or other specials). getaddresses' answer for these is known;
# anything else goes to getaddresses.
_SIMPLE_ADDR_SPEC = r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)"
_NAME_CHAR = r"[^\"<>()\[\]\\,;:@.\s]"  # an atom's characters, no whitespace
_SIMPLE_MAILBOX = re.compile(
    rf"(?:({_NAME_CHAR}(?:(?:{_NAME_CHAR}| (?! ))*{_NAME_CHAR})?) ?)?<{_SIMPLE_ADDR_SPEC}>"
)
_SIMPLE_BARE = re.compile(_SIMPLE_ADDR_SPEC)


def simple_addresses(values: list[str]) -> list[tuple[str, str]] | None:
    """``email.utils.getaddresses(values)`` for cleaned one-mailbox values in their plainest
    forms (most mail); None when any value needs the real parser."""
    pairs = []
    for value in values:
        found = _SIMPLE_MAILBOX.fullmatch(value)
        if found is not None:
            pairs.append((found.group(1) or "", found.group(2)))
            continue
        found = _SIMPLE_BARE.fullmatch(value)
        if found is None:
            return None
        pairs.append(("", found.group(1)))
    return pairs


def _addresses(raw_values: list[str], *, stats: list[int] | None = None) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; junk addresses dropped."""
    if not raw_values:
        return []
    result = []
    cleaned = [clean_header_text(v) for v in raw_values]
    pairs = simple_addresses(cleaned)
    if pairs is None:
        pairs = email.utils.getaddresses(cleaned)
    for name, addr in pairs:
        addr = addr.strip().lower()
        if not _ADDR_OK.match(addr):
            continue
        result.append(
            (
                clean_header_text(decode_header_value(name, stats=stats)).strip("\"' "),
                addr,
            )
        )
    return result


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(clean_header_text(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


# --------------------------------------------------------------------------
# Entry point


def parse_message(
    raw: bytes,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_raw_bytes: int = DEFAULT_MAX_RAW_BYTES,
) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Never raises; see ``parse_error`` and ``flags``."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raw = str(raw).encode("utf-8", "surrogateescape")
    raw = bytes(raw)
    result = ParsedMessage(raw_sha256=hashlib.sha256(raw).hexdigest(), raw_size=len(raw))
    try:
        if len(raw) > max_raw_bytes:
            result.flag(
                FLAG_MESSAGE_TOO_LARGE,
                f"message is {len(raw)} bytes; only headers were parsed",
            )
            msg = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[:1_000_000])
            _read_headers(result, msg)
            return result
        # compat32: the walker reads raw headers and payloads itself (see _info), so the
        # default policy's header objects would only be built to be thrown away; that
        # building was half of the parse time.
        msg = email.message_from_bytes(raw, policy=_PARSE_POLICY)
        _read_headers(result, msg)
        _Walker(result, max_attachment_bytes, max_total_bytes).run(msg)
    except Exception as exc:  # noqa: BLE001 - never raise on input
        result.parse_error = f"{type(exc).__name__}: {exc}"[:500]
        result.flag(FLAG_PARSE_ERROR, "the message could not be fully parsed")
        if not result.headers:
            try:
                _read_headers(
                    result,
                    BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw[:1_000_000]),
                )
            except Exception:  # noqa: BLE001
                result.notes.append("the headers could not be read either")
    return result


def _read_headers(result: ParsedMessage, msg: Message) -> None:
    stats = [0, 0]
    raw_items = list(msg.raw_items()) if hasattr(msg, "raw_items") else list(msg.items())
    by_name: dict[str, list[str]] = {}
    headers = []
    for name, value in raw_items:
        name = clean_header_text(str(name))
        if isinstance(value, str):
            raw_value = value
        else:  # compat32 Header objects
            raw_value = str(value)
        if len(raw_value) > MAX_HEADER_CHARS:
            if name.lower() == "references":
                raw_value = raw_value[-MAX_HEADER_CHARS:]
            else:
                raw_value = raw_value[:MAX_HEADER_CHARS]
        by_name.setdefault(name.lower(), []).append(raw_value)
        headers.append((name, clean_header_text(decode_header_value(raw_value, stats=stats))))
    result.headers = headers

    for name in _SINGLE_HEADERS:
        if len(by_name.get(name, [])) > 1:
            result.flag(
                FLAG_DUPLICATE_HEADER,
                f"{name} appears {len(by_name[name])} times; the first was used",
            )

    def first(name: str) -> str | None:
        values = by_name.get(name)
        return values[0] if values else None

    result.message_id = normalise_message_id(first("message-id"))
    if result.message_id is None:
        result.flag(FLAG_MISSING_MESSAGE_ID)
    in_reply_to = parse_references(first("in-reply-to"))
    result.in_reply_to = in_reply_to[0] if in_reply_to else None
    result.references = parse_references(" ".join(by_name.get("references", [])[:1]))

    raw_subject = _unfold(first("subject") or "")
    decoded_subject = decode_header_value(raw_subject, stats=stats)
    if re.search(r"[\r\n]", decoded_subject.strip("\r\n \t")):
        result.flag(
            FLAG_HEADER_INJECTION,
            "the subject contained line breaks; they were removed",
        )
    result.subject = clean_header_text(decoded_subject)[:998]

    from_list = _addresses(by_name.get("from", [])[:1], stats=stats)
    if from_list:
        result.from_name, result.from_addr = from_list[0]
    else:
        result.flag(FLAG_MISSING_FROM)
    reply_to = _addresses(by_name.get("reply-to", [])[:1])
    result.reply_to = reply_to[0][1] if reply_to else None
    sender = _addresses(by_name.get("sender", [])[:1])
    result.sender_addr = sender[0][1] if sender else None
    return_path = first("return-path")
    if return_path is not None:
        rp = clean_header_text(return_path)
        result.return_path = rp.strip("<>").strip().lower()
    result.to = [addr for _, addr in _addresses(by_name.get("to", []))]
    result.cc = [addr for _, addr in _addresses(by_name.get("cc", []))]

    raw_date = first("date")
    result.date = _parse_date(raw_date)
    if raw_date and result.date is None:
        result.flag(FLAG_BAD_DATE, "the Date header could not be read")

    try:
        info = _info(msg)
        result.content_type, result.report_type = info.ctype, info.report_type
    except Exception:  # noqa: BLE001
        result.content_type = "text/plain"
    if stats[0]:
        result.flag(FLAG_CHARSET_FALLBACK, "a header charset was wrong or missing")
    result.replacement_chars += stats[1]


# --------------------------------------------------------------------------
# Body walking


@dataclass(slots=True)
class _PartInfo:
    ctype: str
    charset: str | None
    disposition: str | None
    filename: str | None
    cte: str
    content_id: str | None
    report_type: str | None


_INFO_HEADERS = ("content-type", "content-disposition", "content-transfer-encoding", "content-id")


def _info(part: Message) -> _PartInfo:
    """The MIME facts about one part, read once.

    policy.default re-parses Content-Type on every get_content_type() and
    get_param() call, which made that the largest cost of parsing; plain ASCII
    headers of the usual shape (``type/subtype; name=value; name="value"``) are
    read directly, anything else by a compat32 shim holding only the raw MIME
    headers (tests check that both give the same answers).
    """
    cached = getattr(part, "_okwallet_info", None)
    if cached is not None:
        return cached
    headers: dict[str, str] = {}
    for name, value in part.raw_items():
        lname = str(name).lower()
        if lname in _INFO_HEADERS and lname not in headers:
            headers[lname] = _unfold(str(value))
    info = _info_simple(headers, part.get_default_type())
    if info is None:
        info = _info_shim(headers, part.get_default_type())
    try:
        part._okwallet_info = info  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return info


# RFC 2045 tokens; parameter names without RFC 2231's "*" (those go to the shim).
_TOKEN_CHARS = r"!#$%&'+\-.^_`{|}~0-9A-Za-z"
_SIMPLE_PARAM = re.compile(
    rf'[ \t]*;[ \t]*([{_TOKEN_CHARS}]+)[ \t]*=[ \t]*(?:"([^"\\\r\n]*)"|([{_TOKEN_CHARS}*]+))[ \t]*'
)
_SIMPLE_TAIL = re.compile(r"[ \t]*;?[ \t]*")
_LOOKED_UP = {"charset", "name", "filename", "report-type"}


def _simple_params(value: str) -> dict[str, str] | None:
    """``get_param``'s answers for a plain ASCII MIME header value (first of each name wins);
    None when the value needs the real parser (RFC 2231, escapes, comments, 8-bit, ...)."""
    if not value.isascii():
        return None
    main_end = value.find(";")
    main = value if main_end < 0 else value[:main_end]
    # The parser reads the main value as a parameter too: keep it from answering a lookup.
    if '"' in main or "\\" in main or "=" in main or main.strip().lower() in _LOOKED_UP:
        return None
    if main_end < 0:
        return {}
    params: dict[str, str] = {}
    pos = main_end
    while True:
        found = _SIMPLE_PARAM.match(value, pos)
        if found is None:
            break
        name = found.group(1).lower()
        if name not in params:
            params[name] = found.group(2) if found.group(2) is not None else found.group(3)
        pos = found.end()
    if _SIMPLE_TAIL.fullmatch(value, pos) is None:
        return None
    return params


def _info_simple(headers: dict[str, str], default_type: str) -> _PartInfo | None:
    if not all(v.isascii() for v in headers.values()):
        return None
    ct = headers.get("content-type")
    cd = headers.get("content-disposition")
    ct_params = _simple_params(ct) if ct is not None else {}
    cd_params = _simple_params(cd) if cd is not None else {}
    if ct_params is None or cd_params is None:
        return None
    if ct is None:
        ctype = default_type
    else:
        ctype = ct.partition(";")[0].strip().lower()
        if ctype.count("/") != 1:
            ctype = "text/plain"
    charset = ct_params.get("charset")
    disposition = cd.partition(";")[0].strip().lower() if cd is not None else None
    filename = cd_params.get("filename")
    if filename is None:
        filename = ct_params.get("name")
    if filename is not None:
        filename = email.utils.collapse_rfc2231_value(filename).strip()
    if not filename:
        filename = ct_params.get("name")
        if filename is not None:
            filename = email.utils.collapse_rfc2231_value(filename)
    report_type = None
    if ctype == "multipart/report":
        value = ct_params.get("report-type")
        report_type = value.strip().lower() if value else None
    content_id = headers.get("content-id")
    return _PartInfo(
        ctype=ctype,
        charset=charset.lower() if charset else None,
        disposition=disposition or None,
        filename=_clean_filename(filename),
        cte=clean_header_text(headers.get("content-transfer-encoding", "")).lower(),
        content_id=normalise_message_id(content_id) if content_id else None,
        report_type=report_type,
    )


def _info_shim(headers: dict[str, str], default_type: str) -> _PartInfo:
    shim = Message(policy=email.policy.compat32)
    shim.set_default_type(default_type)
    for lname, value in headers.items():
        shim[lname] = value
    ctype = shim.get_content_type()
    try:
        charset = shim.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    disposition = shim.get_content_disposition()
    filename = _shim_filename(shim)
    report_type = None
    if ctype == "multipart/report":
        try:
            value = shim.get_param("report-type")
            if isinstance(value, tuple):
                value = email.utils.collapse_rfc2231_value(value)
            report_type = str(value).strip().lower() if value else None
        except Exception:  # noqa: BLE001
            report_type = None
    content_id = shim.get("content-id")
    return _PartInfo(
        ctype=ctype,
        charset=str(charset) if charset else None,
        disposition=disposition.lower() if disposition else None,
        filename=filename,
        cte=clean_header_text(str(shim.get("content-transfer-encoding", ""))).lower(),
        content_id=normalise_message_id(str(content_id)) if content_id else None,
        report_type=report_type,
    )


def _shim_filename(shim: Message) -> str | None:
    try:
        name = shim.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        try:
            name = shim.get_param("name")
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:  # noqa: BLE001
            name = None
    return _clean_filename(name)


def _clean_filename(name) -> str | None:
    if not name:
        return None
    name = clean_header_text(decode_header_value(str(name)))
    # Never let a filename carry a path.
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    return name[:255] or None


def _b64decode_lenient(data: bytes) -> bytes:
    try:
        # Fast path: non-alphabet bytes (line breaks) are skipped by binascii.
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        pass
    cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(cleaned) % 4 == 1:  # a stray character cannot encode anything
        cleaned = cleaned[:-1]
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return b""


def _payload_bytes(part: Message) -> bytes:
    """Decoded body bytes of a leaf part (no MIME header re-parsing)."""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, bytes):
        return payload
    if not isinstance(payload, str):
        return b""
    try:
        data = payload.encode("ascii", "surrogateescape")
    except UnicodeError:
        data = payload.encode("utf-8", "surrogateescape")
    cte = _info(part).cte
    if cte == "base64":
        return _b64decode_lenient(data)
    if cte == "quoted-printable":
        return quopri.decodestring(data)
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        try:
            decoded = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            decoded = None
        return bytes(decoded) if decoded is not None else data
    return data


class _Walker:
    def __init__(self, result: ParsedMessage, max_attachment_bytes: int, max_total_bytes: int):
        self.result = result
        self.max_attachment_bytes = max_attachment_bytes
        self.max_total_bytes = max_total_bytes
        self.stored_bytes = 0
        self.parts_seen = 0
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.defects = 0

    def run(self, msg: Message) -> None:
        self.walk(msg, depth=0)
        result = self.result
        text = "\n\n".join(t.strip("\n") for t in self.texts if t.strip())
        html = "\n".join(self.htmls)
        if len(html) > MAX_HTML_CHARS:
            html = html[:MAX_HTML_CHARS]
            result.flag(FLAG_TEXT_TRUNCATED, "the HTML body was truncated")
        if html:
            result.html_sanitized = sanitize_html(html)
            if _UNSAFE_HTML.search(html):
                result.flag(FLAG_UNSAFE_HTML, "scripts, event handlers or javascript: links were removed")
            if not text.strip():
                text = html_to_text(html)
                if len(html) > MAX_HTML_TO_TEXT_CHARS:
                    result.flag(
                        FLAG_TEXT_TRUNCATED, "only the start of a long HTML body was converted to text"
                    )
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            result.flag(FLAG_TEXT_TRUNCATED, "the text body was truncated")
        result.text = text
        if self.defects:
            result.flag(
                FLAG_MIME_DEFECTS,
                f"{self.defects} MIME defect(s) were repaired by the parser",
            )
        if result.replacement_chars:
            result.flag(
                FLAG_REPLACEMENT_CHARS,
                f"{result.replacement_chars} undecodable character(s)",
            )

    def _count_defects(self, part: Message) -> None:
        self.defects += len(getattr(part, "defects", ()) or ())

    def walk(self, part: Message, depth: int) -> None:
        self.parts_seen += 1
        if self.parts_seen > MAX_MIME_PARTS:
            self.result.flag(
                FLAG_TOO_MANY_PARTS,
                f"only the first {MAX_MIME_PARTS} MIME parts were read",
            )
            return
        if depth > MAX_MIME_DEPTH:
            self.result.flag(
                FLAG_TOO_DEEP,
                f"MIME parts nested deeper than {MAX_MIME_DEPTH} were ignored",
            )
            return
        self._count_defects(part)
        info = _info(part)
        ctype, disposition, filename = info.ctype, info.disposition, info.filename

        if ctype in _TNEF_TYPES or (filename or "").lower() == "winmail.dat":
            self.result.flag(FLAG_TNEF_IGNORED, "a Microsoft TNEF part (winmail.dat) was ignored")
            return

        if ctype in ("message/rfc822", "message/global"):
            self.walk_forwarded(part, depth, filename)
            return
        if ctype == "message/delivery-status":
            self.read_delivery_status(part)
            return
        if part.is_multipart():
            children = part.get_payload()
            if not isinstance(children, list):
                return
            if ctype == "multipart/alternative":
                self.walk_alternative(children, depth)
                return
            if ctype == "multipart/report":
                self.walk_report(children, depth)
                return
            for child in children:
                if isinstance(child, Message):
                    self.walk(child, depth + 1)
            return

        is_attachment = disposition == "attachment" or (filename is not None and disposition != "inline")
        if ctype in ("text/plain", "text/html") and not is_attachment:
            decoded = self.decode_text_part(part)
            (self.texts if ctype == "text/plain" else self.htmls).append(decoded)
            return
        self.add_attachment(
            part,
            filename or _default_name(ctype),
            ctype,
            inline=disposition == "inline",
        )

    def walk_report(self, children: list, depth: int) -> None:
        """A bounce or receipt: the returned message is evidence, not text.

        Its Message-ID tells which of our messages bounced, so the caller can
        find the ticket; the message itself is attached, not quoted.
        """
        for child in children:
            if not isinstance(child, Message):
                continue
            ctype = _info(child).ctype
            if ctype in ("message/rfc822", "message/global"):
                payload = child.get_payload()
                inner = payload[0] if isinstance(payload, list) and payload else None
                if isinstance(inner, Message):
                    self._note_returned_id({k.lower(): v for k, v in reversed(list(inner.raw_items()))})
                    raw_inner = _flatten(inner) or b""
                    self.store(
                        "returned-message.eml", "message/rfc822", raw_inner, inline=False, content_id=None
                    )
                    continue
            if ctype in ("text/rfc822-headers", "message/global-headers"):
                data = _payload_bytes(child)
                try:
                    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data[:200_000])
                    self._note_returned_id({k.lower(): str(v) for k, v in reversed(list(headers.items()))})
                except Exception:  # noqa: BLE001
                    self.result.notes.append("the returned headers could not be read")
                self.store("returned-headers.txt", "text/plain", data, inline=False, content_id=None)
                continue
            self.walk(child, depth + 1)

    def _note_returned_id(self, headers: dict[str, str]) -> None:
        mid = normalise_message_id(headers.get("message-id"))
        if mid and self.result.report_message_id is None:
            self.result.report_message_id = mid

    def walk_alternative(self, children: list, depth: int) -> None:
        """Use the last text/plain and the last text/html (RFC 2046: best last)."""
        plain: Message | None = None
        html: Message | None = None
        others: list[Message] = []
        for child in children:
            if not isinstance(child, Message):
                continue
            info = _info(child)
            ctype = info.ctype
            if ctype == "text/plain" and info.disposition != "attachment":
                plain = child
            elif ctype == "text/html" and info.disposition != "attachment":
                html = child
            else:
                others.append(child)
        if plain is not None:
            self._count_defects(plain)
            self.texts.append(self.decode_text_part(plain))
        if html is not None:
            self._count_defects(html)
            self.htmls.append(self.decode_text_part(html))
        for child in others:
            # multipart/related inside alternative carries the HTML + images.
            if plain is not None and _info(child).ctype == "multipart/related":
                before = len(self.texts)
                self.walk(child, depth + 1)
                del self.texts[before:]
            else:
                self.walk(child, depth + 1)

    def decode_text_part(self, part: Message) -> str:
        data = _payload_bytes(part)
        declared = _info(part).charset
        decoded = decode_bytes(data, declared)
        if decoded.fallback:
            self.result.flag(
                FLAG_CHARSET_FALLBACK,
                f"a part declared as {declared or 'no charset'} was decoded as {decoded.charset}",
            )
        self.result.replacement_chars += decoded.replacements
        return decoded.text.replace("\r\n", "\n").replace("\r", "\n")

    def walk_forwarded(self, part: Message, depth: int, filename: str | None) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            self.add_attachment(part, filename or "forwarded.eml", "message/rfc822", inline=False)
            return
        self.result.flag(FLAG_FORWARDED)
        # The forwarded message's own text goes into ours, with its headers, so
        # the agent sees what the customer forwarded without opening a file.
        sub = _Walker(
            ParsedMessage(raw_sha256="", raw_size=0),
            self.max_attachment_bytes,
            max(0, self.max_total_bytes - self.stored_bytes),
        )
        sub.parts_seen = self.parts_seen
        _read_headers(sub.result, inner)
        sub.walk(inner, depth + 1)
        sub.run_finish_text()
        self.parts_seen = sub.parts_seen
        self.defects += sub.defects
        header_lines = ["---------- Forwarded message ----------"]
        if sub.result.from_addr:
            who = (
                f"{sub.result.from_name} <{sub.result.from_addr}>"
                if sub.result.from_name
                else sub.result.from_addr
            )
            header_lines.append(f"From: {who}")
        if sub.result.header("date"):
            header_lines.append(f"Date: {sub.result.header('date')}")
        header_lines.append(f"Subject: {sub.result.subject}")
        self.texts.append("\n".join(header_lines) + "\n\n" + sub.result.text)
        for flag in sub.result.flags:
            if flag not in (
                FLAG_MISSING_MESSAGE_ID,
                FLAG_FORWARDED,
                FLAG_MISSING_FROM,
            ):
                self.result.flag(flag)
        self.result.notes.extend(n for n in sub.result.notes if n not in self.result.notes)
        self.result.replacement_chars += sub.result.replacement_chars
        self.result.delivery_status.extend(sub.result.delivery_status)
        raw_inner = _flatten(inner)
        name = filename or (_safe_stem(sub.result.subject) or "forwarded") + ".eml"
        if raw_inner is not None:
            self.store(name, "message/rfc822", raw_inner, inline=False, content_id=None)
        # Attachments of the forwarded message are kept too, within our limits.
        for att in sub.result.attachments:
            if att.content is not None:
                self.store(
                    att.filename,
                    att.content_type,
                    att.content,
                    inline=False,
                    content_id=None,
                )
            else:
                self.result.attachments.append(att)

    def run_finish_text(self) -> None:
        text = "\n\n".join(t.strip("\n") for t in self.texts if t.strip())
        if not text.strip() and self.htmls:
            text = html_to_text("\n".join(self.htmls)[:MAX_HTML_CHARS])
        self.result.text = text[:MAX_TEXT_CHARS]

    def read_delivery_status(self, part: Message) -> None:
        payload = part.get_payload()
        blocks: list[Message] = []
        if isinstance(payload, list):
            blocks = [b for b in payload if isinstance(b, Message)]
        if not blocks:
            data = _payload_bytes(part)
            try:
                blocks = [
                    email.message_from_bytes(chunk.strip(b"\r\n") + b"\n", policy=email.policy.default)
                    for chunk in re.split(rb"\r?\n\r?\n", data)
                    if chunk.strip()
                ]
            except Exception:  # noqa: BLE001
                blocks = []
        text = "\n\n".join(
            "\n".join(f"{k}: {clean_header_text(str(v))}" for k, v in block.raw_items()) for block in blocks
        )
        self.store(
            "delivery-status.txt",
            "text/plain",
            text.encode("utf-8", "replace"),
            inline=False,
            content_id=None,
        )
        # The first block is per-message, the rest are per-recipient.
        for block in blocks[1:]:

            def get(name: str, block: Message = block) -> str | None:
                value = block.get(name)
                return clean_header_text(str(value)) if value is not None else None

            final = get("final-recipient")
            original = get("original-recipient")
            self.result.delivery_status.append(
                DeliveryStatus(
                    final_recipient=_dsn_address(final),
                    original_recipient=_dsn_address(original),
                    action=(get("action") or "").lower() or None,
                    status=get("status"),
                    diagnostic_code=get("diagnostic-code"),
                )
            )

    def add_attachment(self, part: Message, filename: str, ctype: str, *, inline: bool) -> None:
        data = _payload_bytes(part)
        self.store(filename, ctype, data, inline=inline, content_id=_info(part).content_id)

    def store(
        self,
        filename: str,
        ctype: str,
        data: bytes,
        *,
        inline: bool,
        content_id: str | None,
    ) -> None:
        size = len(data)
        att = Attachment(
            filename=filename,
            content_type=ctype,
            size=size,
            content=None,
            inline=inline,
            content_id=content_id,
        )
        if size > self.max_attachment_bytes:
            att.skipped_reason = f"larger than {self.max_attachment_bytes} bytes"
            self.result.flag(
                FLAG_ATTACHMENT_TOO_LARGE,
                f"{filename} ({size} bytes) was not stored: too large",
            )
        elif self.stored_bytes + size > self.max_total_bytes:
            att.skipped_reason = f"attachments together larger than {self.max_total_bytes} bytes"
            self.result.flag(
                FLAG_TOTAL_TOO_LARGE,
                f"{filename} ({size} bytes) was not stored: total too large",
            )
        else:
            att.content = data
            att.sha256 = hashlib.sha256(data).hexdigest()
            self.stored_bytes += size
        self.result.attachments.append(att)


def _flatten(msg: Message) -> bytes | None:
    try:
        buffer = io.BytesIO()
        # compat32 writes the stored raw headers back as they came.
        BytesGenerator(buffer, mangle_from_=False, policy=_RAW_OUT).flatten(msg)
        return buffer.getvalue()
    except Exception:  # noqa: BLE001
        return None


_DSN_ADDR = re.compile(r"^\s*[\w.+-]+\s*;\s*<?\s*(.*?)\s*>?\s*$")


def _dsn_address(value: str | None) -> str | None:
    """``rfc822; <a@b.com>`` -> ``a@b.com``."""
    if not value:
        return None
    match = _DSN_ADDR.match(value)
    addr = (match.group(1) if match else value).strip().strip("<>").lower()
    return addr if _ADDR_OK.match(addr) else None


_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "message/rfc822": ".eml",
    "text/rfc822-headers": ".txt",
}


def _default_name(ctype: str) -> str:
    return "attachment" + _EXTENSIONS.get(ctype, ".bin")


def _safe_stem(text: str) -> str:
    stem = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", text).strip(" ._")
    return stem[:80]


def has_replacement_chars(text: str) -> bool:
    return REPLACEMENT_CHAR in text
