"""Structured JSON logs with the request id, and redaction of personal data.

* ``request_id_var`` holds the id of the request (or job) being handled; the observability
  middleware sets it from ``request.request_id`` and the Huey signal handlers carry it into the
  jobs a request enqueued (``okwallet.ops``), so one grep follows a request into its jobs.
* ``redact(text)`` masks mainland mobile numbers, resident ID numbers, email addresses, bank
  card numbers, and the values of passwords, tokens, secrets and verification codes.
* ``RedactingFilter`` and ``JsonFormatter`` apply it to every record (message, extras and
  tracebacks), so a careless ``logger.info("%s", request.POST)`` leaks nothing.

Nothing here imports Django models: the logging configuration loads it during setup.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str] = ContextVar("okwallet_request_id", default="")
job_var: ContextVar[str] = ContextVar("okwallet_job", default="")

_ASCII_KEYS = (
    r"password|passwd|pwd|new_password\d?|old_password|secret|client_secret|token|access_token|refresh_token|"
    r"api[_-]?key|apikey|authorization|cookie|sessionid|csrftoken|csrfmiddlewaretoken|signature|sign|"
    r"otp|totp|sms_code|verification_code|verify_code|captcha|cvv|cvc|pin|id_number|id_no|idcard"
)
_CJK_KEYS = r"密码|验证码|校验码|动态码|口令|身份证号?"
_SECRET_KEYS = _ASCII_KEYS + "|" + _CJK_KEYS
_KEY = (
    r"""(?P<key>["']?(?:(?<![A-Za-z0-9_])(?:"""
    + _ASCII_KEYS
    + r""")(?![A-Za-z0-9_])|(?:"""
    + _CJK_KEYS
    + r"""))["']?)"""
)
_SEP = r"""(?P<sep>\s*(?:=|:|：|是|为)\s*)(?P<q>["']?)"""
_NOT_DONE = r"(?!\[|(?:Bearer|Basic|Token)\s)"
_RULES: list[tuple[re.Pattern[str], str | object]] = [
    (re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), r"\1 [redacted]"),
    # key=value, key: value, "key": "value", 'key': 'value' (URLs, form dumps, dicts, JSON)
    (
        re.compile(_KEY + _SEP + _NOT_DONE + r"""(?P<val>[^"'\s&,;，。}\]]+)""", re.IGNORECASE),
        lambda m: f"{m.group('key')}{m.group('sep')}{m.group('q')}[redacted]",
    ),
    # a bare "code" only when its value looks like a one-time code (error codes stay readable)
    (
        re.compile(r"""(?<![A-Za-z0-9_])(code["']?\s*[=:]\s*["']?)\d{4,8}(?!\d)""", re.IGNORECASE),
        r"\1[redacted]",
    ),
    (re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
    # 18-digit resident ID (last may be X) and the old 15-digit form
    (
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
        ),
        "[id-number]",
    ),
    (
        re.compile(r"(?<![0-9A-Za-z])[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])"),
        "[id-number]",
    ),
    # bank cards: 16-19 digits, optionally grouped (our references, P2026..., have a capital prefix)
    (re.compile(r"(?<![0-9A-Z])(?:\d[ -]?){15,18}\d(?![0-9A-Z])"), "[card]"),
    # mainland mobiles, with or without +86 / 86 and separators, even glued to letters
    (re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9])"), "[phone]"),
    # codes sent by SMS written inline: 验证码123456 / code 123456
    (
        re.compile(r"(验证码|校验码|动态码|(?<![A-Za-z])code)(\s*)(\d{4,8})(?!\d)", re.IGNORECASE),
        r"\1\2[redacted]",
    ),
]


# Identifiers we generate (Huey task ids, request ids: UUIDs and 32-hex strings) are not personal
# data, but their digit runs can look like a phone or card number glued to letters; they are set
# aside before the rules run and put back afterwards, so log lines keep ids that can be searched.
_OPAQUE_ID = re.compile(
    r"(?<![0-9A-Za-z-])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})(?![0-9A-Za-z-])"
)


def redact(text: str) -> str:
    """Personal data and secrets in ``text`` replaced by placeholders."""
    if not text:
        return text
    kept: list[str] = []
    if "\x00" not in text:

        def keep(match: re.Match) -> str:
            kept.append(match.group(0))
            return f"\x00{len(kept) - 1}\x00"

        text = _OPAQUE_ID.sub(keep, text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    if kept:
        text = re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)
    return text


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: ("[redacted]" if _is_secret_key(k) else _redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


_SECRET_KEY_RE = re.compile(r"^(?:" + _SECRET_KEYS + r")$", re.IGNORECASE)


def _is_secret_key(key) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY_RE.match(key))


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "job",
}


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (and ``record.job`` inside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id_var.get()
        if not getattr(record, "job", ""):
            record.job = job_var.get()
        return True


class RedactingFilter(logging.Filter):
    """Formats the message once and redacts it (and string extras) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and not key.startswith("_"):
                record.__dict__[key] = "[redacted]" if _is_secret_key(key) else _redact_value(value)
        record._okw_redacted = True  # the formatters need not do it again
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, job, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        done = getattr(record, "_okw_redacted", False)
        clean = (lambda v: v) if done else _redact_value
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage() if done else redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "") or request_id_var.get(),
        }
        job = getattr(record, "job", "") or job_var.get()
        if job:
            entry["job"] = job
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "[redacted]" if _is_secret_key(key) else clean(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Human-readable lines with the request id, still redacted (OKWALLET_LOG_FORMAT=plain)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return redact(super().format(record))
