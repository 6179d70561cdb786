"""Cut quoted history and signatures so a ticket shows what the customer wrote now.

Works on plain text (``ParsedMessage.text``; HTML blockquotes arrive as "> "
lines). The caller keeps the original text; when everything would be cut we
return the original, because an empty ticket message helps nobody.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Spaces Chinese and Outlook mail put where ASCII spaces should be.
_SPACES = re.compile(r"(?:&nbsp;|[\u00a0\u3000\u2002\u2003\u2009\u200b\ufeff])", re.IGNORECASE)
_COLON = r"\s*[:：]"

# A line that alone starts the quoted history.
_QUOTE_START_LINE = [
    re.compile(r"^-{2,}\s*Original\s+Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*Original\s*-{2,}\s*$", re.IGNORECASE),  # Foxmail
    re.compile(
        r"^-{2,}\s*(?:原始邮件|原始郵件|原邮件|原郵件|邮件原件|郵件原件)\s*-{2,}\s*$"
    ),  # QQ Mail, Foxmail zh
    re.compile(r"^-{2,}\s*(?:Reply|回复|回覆)\s*(?:Message|邮件)?\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^_{10,}\s*$"),  # Outlook puts a rule above its header block
]
# Attributions, tried on one line and on up to three lines joined (mobile
# clients and Gmail wrap long attributions).
_ATTRIBUTION = [
    re.compile(r"^On\b.{0,400}\bwrote\s*[:：]?\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^在.{0,400}(?:写道|寫道)\s*[:：]?\s*$", re.DOTALL),  # 163/126/QQ/iOS zh
    re.compile(r"^.{0,300}于\s*\S.{0,200}(?:写道|寫道)\s*[:：]?\s*$", re.DOTALL),  # Gmail zh
    re.compile(r"^.{0,300}(?:写道|寫道)\s*[:：]\s*$", re.DOTALL),
    re.compile(r"^Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE | re.DOTALL),
]
# Wrapped attributions must start like one, not merely end like one.
_WRAPPED_ATTRIBUTION = [_ATTRIBUTION[0], _ATTRIBUTION[1], _ATTRIBUTION[2], _ATTRIBUTION[4], _ATTRIBUTION[5]]
_FROM = re.compile(r"^\**\s*(?:From|发件人|發件人|寄件者|寄件人)\**" + _COLON, re.IGNORECASE)
_SENT = re.compile(
    r"^\**\s*(?:Sent|Date|发送时间|發送時間|日期|时间|時間|寄件日期)\**" + _COLON, re.IGNORECASE
)
_TO_OR_SUBJECT = re.compile(
    r"^\**\s*(?:To|Cc|Subject|收件人|收件者|抄送|副本|主题|主旨|主題)\**" + _COLON, re.IGNORECASE
)
_SIGNATURE_SEPARATOR = re.compile(r"^--\s?$")
_DEVICE = (
    r"(?:iPhone|iPad|iPod|Apple\s*Watch|Mac|Android|HUAWEI|Huawei|华为|華為|HONOR|荣耀|榮耀|Xiaomi|小米|Redmi|红米"
    r"|OPPO|vivo|魅族|Meizu|OnePlus|一加|Samsung|三星|Galaxy|手机|手機|平板|移动设备|行動裝置)"
)
# Whole-line signatures that mobile and webmail clients append.
_MOBILE_SIGNATURE = re.compile(
    r"^(?:"
    r"(?:发自|來自|来自)我的\s*" + _DEVICE + r"[A-Za-z0-9 ._\-]{0,24}(?:手机|手機|平板|客户端)?"
    r"|(?:从|從)我的\s*" + _DEVICE + r"[A-Za-z0-9 ._\-]{0,24}(?:发送|傳送|寄出)"
    r"|发自\s*(?:网易邮箱|QQ邮箱|手机QQ邮箱|Mail\s*Master|Outlook|WPS).{0,30}"
    r"|来自\s*(?:网易邮箱|QQ邮箱|我的华为手机|我的小米手机|Outlook|Mail\s*Master).{0,30}"
    r"|Sent from (?:my|Mail|Outlook|Yahoo|Samsung|Huawei|Xiaomi)\b.{0,60}"
    r"|Sent with (?:Proton|Spark|BlackBerry|Mailspring)\b.{0,40}"
    r"|Get Outlook for (?:iOS|Android)\s*"
    r"|获取\s*Outlook\s*for\s*(?:iOS|Android)\s*"
    r")$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class QuoteSplit:
    original: str
    visible: str
    quoted: str
    signature: str


def _norm(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def _header_block_at(lines: list[str], i: int) -> bool:
    """An Outlook/Foxmail block: From, then Sent/Date, then To/Subject."""
    if not _FROM.match(lines[i]):
        return False
    seen_sent = seen_to = False
    for line in lines[i + 1 : i + 7]:
        if _SENT.match(line):
            seen_sent = True
        elif _TO_OR_SUBJECT.match(line):
            seen_to = True
        if seen_sent and seen_to:
            return True
    return False


# Forwarded content is what the customer wants us to read: nothing after
# such a marker is treated as quoted history.
_FORWARD_MARKER = re.compile(
    r"^(?:-{2,}\s*(?:Forwarded message|转发的邮件|轉寄的郵件|转发邮件信息|Weitergeleitete Nachricht)\s*-{2,}"
    r"|Begin forwarded message\s*[:：]|以下是转发的邮件\s*[:：]?|-{2,}\s*(?:转发邮件|Forwarded)\s*-{2,})\s*$",
    re.IGNORECASE,
)


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if not line:
            continue
        if _FORWARD_MARKER.match(line):
            return None
        if any(p.match(line) for p in _QUOTE_START_LINE):
            # Outlook's rule of underscores only counts before its header block.
            if line.startswith("_"):
                nxt = next((j for j in range(i + 1, min(i + 4, len(lines))) if lines[j]), None)
                if nxt is None or not _header_block_at(lines, nxt):
                    continue
            return i
        if _header_block_at(lines, i):
            return i
        for span in (1, 2, 3):
            chunk = lines[i : i + span]
            if len(chunk) < span or not all(chunk):
                break
            joined = " ".join(chunk)
            patterns = _ATTRIBUTION if span == 1 else _WRAPPED_ATTRIBUTION
            if any(p.match(joined) for p in patterns):
                # A wrapped attribution must be followed by quoted text or the
                # end, so a sentence that happens to start with "On" stays.
                rest = [x for x in lines[i + span :] if x]
                if span == 1 or not rest or rest[0].startswith(">"):
                    return i
    return None


def split_quotes(text: str) -> QuoteSplit:
    """Split text into what is new, the quoted history and the signature."""
    if not text:
        return QuoteSplit(original=text or "", visible="", quoted="", signature="")
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [_norm(line) for line in raw_lines]

    cut = _quote_start(lines)
    quoted_lines: list[str] = []
    if cut is not None:
        quoted_lines = raw_lines[cut:]
        raw_lines, lines = raw_lines[:cut], lines[:cut]

    # A trailing block of "> " lines (and blanks) is history too; inline
    # quotes between the customer's own lines are dropped, the answers kept.
    kept_raw: list[str] = []
    kept: list[str] = []
    inline_quoted: list[str] = []
    for raw, norm in zip(raw_lines, lines, strict=True):
        if norm.startswith(">"):
            inline_quoted.append(raw)
            continue
        kept_raw.append(raw)
        kept.append(norm)
    quoted_lines = inline_quoted + quoted_lines

    signature_lines: list[str] = []
    for i, norm in enumerate(kept):
        if _SIGNATURE_SEPARATOR.match(kept_raw[i].rstrip("\r")) or _MOBILE_SIGNATURE.match(norm):
            signature_lines = kept_raw[i:]
            kept_raw = kept_raw[:i]
            break

    visible = "\n".join(line.rstrip() for line in kept_raw).strip("\n")
    visible = re.sub(r"\n{3,}", "\n\n", visible).strip()
    return QuoteSplit(
        original=text,
        visible=visible,
        quoted="\n".join(quoted_lines).strip("\n"),
        signature="\n".join(signature_lines).strip("\n"),
    )


def strip_quotes_and_signature(text: str) -> str:
    """What the customer wrote now; the original when nothing would be left."""
    try:
        split = split_quotes(text)
    except Exception:  # noqa: BLE001 - a display nicety must never break ingestion
        return text or ""
    if not split.visible.strip():
        return (text or "").strip()
    return split.visible
