"""HTML from mail: sanitised for display and flattened to plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "big", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"title", "lang", "dir", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign"},
    "th": {"colspan", "rowspan", "valign"},
    "font": {"color"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto", "cid"}
# Removed together with everything inside them.
CLEAN_CONTENT_TAGS = {
    "script",
    "style",
    "head",
    "title",
    "noscript",
    "template",
    "iframe",
    "object",
    "svg",
    "math",
}


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    # Remote images are tracking pixels and leak the agent's IP: only inline
    # (cid:) images are shown; the console can offer "load remote images".
    if tag == "img" and attr == "src" and not value.strip().lower().startswith("cid:"):
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags=CLEAN_CONTENT_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    """Safe HTML: no scripts, styles, event handlers, or javascript: URLs."""
    if not html:
        return ""
    return _CLEANER.clean(html)


MAX_QUOTE_PREFIX = 8
MAX_HTML_TO_TEXT_CHARS = 512 * 1024

_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
    "p", "pre", "section", "table", "tr", "ul",
}  # fmt: skip
_SKIP = {
    "script",
    "style",
    "head",
    "title",
    "noscript",
    "template",
    "svg",
    "math",
    "object",
    "iframe",
}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0

    def _newline(self) -> None:
        line = "".join(self.current)
        if self.pre_depth == 0:
            line = re.sub(r"[ \t\r\n\f\u00a0]+", " ", line).strip()
        prefix = "> " * min(self.quote_depth, MAX_QUOTE_PREFIX)
        self.lines.append(prefix + line if line else prefix.rstrip())
        self.current = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        if tag == "br":
            self._newline()
        elif tag in _BLOCK:
            if self.current:
                self._newline()
            if tag == "li":
                self.current.append("- ")
            if tag == "blockquote":
                self.quote_depth += 1
            if tag == "pre":
                self.pre_depth += 1
        elif tag in ("td", "th") and self.current:
            self.current.append("\t")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag == "br":
            self._newline()
        elif tag == "hr":
            if self.current:
                self._newline()
            self.lines.append("-" * 8)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _BLOCK:
            if self.current:
                self._newline()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            if tag == "p":
                self.lines.append(("> " * min(self.quote_depth, MAX_QUOTE_PREFIX)).rstrip())

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            parts = data.split("\n")
            for i, piece in enumerate(parts):
                if i:
                    self._newline()
                self.current.append(piece)
        else:
            self.current.append(data)


def html_to_text(html: str, *, max_chars: int = MAX_HTML_TO_TEXT_CHARS) -> str:
    """Readable plain text; <blockquote> becomes "> " lines so quotes can be cut.

    html.parser is pure Python (about 2 s per MB here), so only the first
    ``max_chars`` are converted; the sanitised HTML keeps the rest.
    """
    if not html:
        return ""
    html = html[:max_chars]
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient, but never trust it
        return re.sub(r"<[^>]*>", " ", html)
    if parser.current:
        parser._newline()
    text = "\n".join(line.rstrip() for line in parser.lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")
