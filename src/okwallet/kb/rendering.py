"""Article Markdown → HTML. Raw HTML in the source is escaped, never passed through."""

from __future__ import annotations

from functools import cache

from django.utils.safestring import SafeString, mark_safe


@cache
def _md():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    default_link_open = md.renderer.rules.get("link_open")

    def link_open(tokens, idx, options, env):
        href = tokens[idx].attrGet("href") or ""
        if not href.startswith(("/", "#", "https://", "mailto:", "tel:")):
            tokens[idx].attrSet("href", "#")
        if default_link_open:
            return default_link_open(tokens, idx, options, env)
        return md.renderer.renderToken(tokens, idx, options, env)

    md.renderer.rules["link_open"] = link_open
    return md


def render_markdown(text: str) -> SafeString:
    html = _md().render(text or "")
    html = html.replace("<table>", '<div class="table-wrap"><table>').replace("</table>", "</table></div>")
    return mark_safe(html)  # noqa: S308  # nosec B308 B703 - markdown-it escapes raw HTML (html=False)
