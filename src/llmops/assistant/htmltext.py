"""HTML email bodies to plain text, keeping every link's target and visible text.

Built on the standard library's `html.parser` (no DOM, no network, tolerant of broken markup). Blocks
become line breaks, list items become "- " lines, `<blockquote>` content is prefixed with "> " so the
reply-chain trimmer in `normalize` treats HTML and plain-text quotes alike, and `<script>`/`<style>`
content is dropped. Links are kept separately because a link whose text shows one site while its
target is another is one of the strongest phishing signals.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from pydantic import BaseModel

_PARAGRAPH_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dl", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section", "table", "ul",
    }
)  # fmt: skip
_LINE_TAGS = frozenset({"dd", "div", "dt", "li", "tbody", "td", "tfoot", "th", "thead", "title", "tr"})
_SKIP_TAGS = frozenset({"head", "noscript", "script", "style", "svg", "template"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"})
_HTML_SNIFF = re.compile(r"<(?:!doctype|html|body|div|p|br|table|span|font|a\s)[\s>/]", re.IGNORECASE)
_SPACE_RUN = re.compile(r"[ \t\r\n\f\v]+")


class HtmlLink(BaseModel):
    href: str
    text: str


def looks_like_html(text: str) -> bool:
    """True when a body is HTML markup rather than plain text that happens to contain a '<'."""
    return bool(_HTML_SNIFF.search(text[:5000]))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.links: list[HtmlLink] = []
        self._line: list[str] = []
        self._skip_depth = 0
        self._quote_depth = 0
        self._pre_depth = 0
        self._anchors: list[tuple[str, list[str]]] = []

    def _newline(self, force: bool = False) -> None:
        """End the current line; `force` keeps an empty one (a <br> on its own)."""
        text = "".join(self._line).strip()
        if text or force:
            self.lines.append("> " * self._quote_depth + text)
        self._line = []

    def _paragraph(self) -> None:
        self._newline()
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append("> " * self._quote_depth)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
            return
        if tag == "br":
            self._newline(force=not self._line)
        elif tag in _PARAGRAPH_TAGS:
            self._paragraph()
        elif tag in _LINE_TAGS:
            self._newline()
        if tag == "blockquote":
            self._quote_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        elif tag == "li":
            self._line.append("- ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._anchors.append((href.strip(), []))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._emit(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "a" and self._anchors:
            href, parts = self._anchors.pop()
            if href:
                self.links.append(HtmlLink(href=href, text=_SPACE_RUN.sub(" ", "".join(parts)).strip()))
        if tag in _PARAGRAPH_TAGS:
            self._paragraph()
        elif tag in _LINE_TAGS:
            self._newline()
        if tag == "blockquote":
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            first, *rest = data.split("\n")
            self._emit(first)
            for line in rest:
                self._newline(force=True)
                self._emit(line)
            return
        self._emit(_SPACE_RUN.sub(" ", data))

    def _emit(self, text: str) -> None:
        self._line.append(text)
        for _, parts in self._anchors:
            parts.append(text)

    def close(self) -> None:
        super().close()
        while self._anchors:
            self.handle_endtag("a")
        self._newline()


def html_to_text(markup: str) -> tuple[str, list[HtmlLink]]:
    """Visible text of an HTML document (entities unescaped) and the links it contains, in order."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "\n".join(parser.lines).strip(), parser.links
