"""The HTML format (`.html`/`.htm`): the main text through trafilatura, or the tags stripped when extraction
is skipped (too many tags) or fails."""

from __future__ import annotations

import logging
from html.parser import HTMLParser

from index._models import ParsedArticle
from index.reading.article import make_article, paragraphs_of, strip_boilerplate
from index.reading.files import ArchiveFile

logger = logging.getLogger(__name__)

# trafilatura is super-linear on pathological markup (4 MB of <b> tags: 30 s). A news page has a few
# thousand tags; past this many, tags are stripped by the linear fallback instead, with a warning.
MAX_HTML_TAGS = 50_000


def parse_html(
    file: ArchiveFile, text: str, default_source: str | None, *, extract: bool = True
) -> ParsedArticle | None:
    """Main text through trafilatura; `extract=False` (or a trafilatura failure) strips the tags instead,
    dropping scripts, styles, navigation and footers."""
    fields: dict[str, str | None] = {}
    if extract:
        try:
            fields = extract_main_text(text)
        except Exception as error:  # trafilatura can fail on odd markup; fall back to plain tag stripping
            logger.debug("trafilatura failed on %s: %s", file.path, error)
            fields = {}
    title, body = fields.get("title"), fields.get("text")
    if not body:
        title, body = _strip_tags(text)
    paragraphs = strip_boilerplate(paragraphs_of(body.replace("\n", "\n\n")))
    return make_article(
        file,
        body="\n\n".join(paragraphs),
        title=title,
        source=fields.get("sitename") or default_source,
        published=fields.get("date"),
        byline=fields.get("author"),
        url=fields.get("url"),
    )


def extract_main_text(text: str | bytes, url: str | None = None) -> dict[str, str | None]:
    """trafilatura's text and metadata for a page (empty when it finds no main text); `url` helps it resolve
    the page's canonical address. Archive .html files and fetched feed pages both go through here."""
    import trafilatura

    extracted = trafilatura.bare_extraction(
        text,
        url=url,
        include_comments=False,
        include_tables=False,
        with_metadata=True,
        favor_precision=True,
        # Only dates the page states as such (meta tags, <time>, URL): htmldate's extensive search
        # otherwise "finds" 2020-01-01 in a "Copyright 2020" footer, a wrong date on every citation.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if extracted is None:
        return {}
    data = extracted.as_dict() if hasattr(extracted, "as_dict") else dict(extracted)
    return {name: data.get(name) for name in ("text", "title", "date", "author", "url", "sitename")}


class _Text(HTMLParser):
    """The page's text and <title>, without scripts, styles, navigation and footers; blocks become lines."""

    skip = frozenset({"script", "style", "noscript", "template", "head", "nav", "footer", "svg"})
    blocks = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "section", "article"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []
        self.title: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.skip:
            self.depth += 1
        elif tag in self.blocks:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.skip and self.depth:
            self.depth -= 1
        elif tag in self.blocks:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif not self.depth:
            self.parts.append(data)


def _strip_tags(html: str) -> tuple[str | None, str]:
    parser = _Text()
    parser.feed(html)
    return parser.title, "".join(parser.parts)
