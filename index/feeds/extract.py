"""An item's page read with trafilatura: its main text and metadata (title, date, site name, author,
canonical URL)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from index.reading.format_html import extract_main_text

from .entries import html_to_text, normalise_url

logger = logging.getLogger(__name__)

# trafilatura is super-linear on pathological markup (see index/_format_html.py): a page with more tags than
# this is not extracted, and the item falls back to the feed's own text.
MAX_PAGE_TAGS = 50_000


@dataclass(frozen=True)
class PageArticle:
    body: str  # paragraphs separated by blank lines
    title: str | None
    published: str | None
    source: str | None  # the site's name
    byline: str | None
    canonical_url: str | None  # normalised; only when on the page's own site


def extract_page(html: bytes, url: str, charset: str | None) -> tuple[PageArticle | None, str | None]:
    """The page's article, or None and why not (no main text, too many tags, extraction failed)."""
    text: str | bytes = html.decode(charset, errors="replace") if charset and _known(charset) else html
    tags = text.count("<") if isinstance(text, str) else text.count(b"<")
    if tags > MAX_PAGE_TAGS:
        return None, f"page has {tags:,} tags, over {MAX_PAGE_TAGS:,}: not extracted"
    try:
        fields = extract_main_text(text, url)
    except Exception as error:  # trafilatura can fail on odd markup: the feed's own text is used instead
        logger.debug("trafilatura failed on %s: %s", url, error)
        return None, f"text extraction failed ({type(error).__name__})"
    body = "\n\n".join(line.strip() for line in (fields.get("text") or "").splitlines() if line.strip())
    if not body:
        return None, "no article text found on the page"
    return (
        PageArticle(
            body=body,
            title=_clean(fields.get("title")),
            published=_clean(fields.get("date")),
            source=_clean(fields.get("sitename")),
            byline=_clean(fields.get("author")),
            canonical_url=_canonical(fields.get("url"), url),
        ),
        None,
    )


def _canonical(found: str | None, page_url: str) -> str | None:
    """The page's canonical URL, trusted only on its own site (a page may not claim another site's
    article, which would make the poller treat that article as already seen)."""
    if not found or urlsplit(found).scheme.lower() not in {"http", "https"}:
        return None
    if _site(found) != _site(page_url):
        return None
    return normalise_url(found)


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _clean(value: str | None) -> str | None:
    text = " ".join(html_to_text(value).split()) if value else ""
    return text or None


def _known(charset: str | None) -> bool:
    if not charset:
        return False
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True
