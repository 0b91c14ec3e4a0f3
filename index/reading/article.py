"""What every format parser shares: paragraphs, boilerplate removal, a derived title, and the one place a
`ParsedArticle` is made (scrubbed fields, stable id, content hash)."""

from __future__ import annotations

import hashlib
import re

from index._models import ParsedArticle
from index.reading.dates import parse_date
from index.reading.decode import scrub
from index.reading.files import ArchiveFile
from index.reading.text import split_sentences

# A paragraph matching one of these starts the site footer: it and everything after it are dropped.
# ("Copyright" only with ©, (c) or a year: "Copyright holders said..." is news.)
_FOOTER = re.compile(
    r"^\s*(?:Copyright\s*(?:©|\(c\)|\d{4}\b)|©|\(c\)\s*\d{4}|All rights reserved|Click to\b|Click here\b|"
    r".{0,60}\bComment Policy\b|Please read our Comment Policy|Sign up for\b|Read more\b)",
    re.IGNORECASE,
)
# Paragraphs dropped wherever they stand.
_NOISE = re.compile(
    r"^\s*(?:Click to\b.*|Click here\b.*|Advertisement|ADVERTISEMENT|Share this article.*|"
    r"Continue reading.*|.*\bComment Policy\b.*|.*welcomes your comments.*)\s*$",
    re.IGNORECASE,
)


def article_id_for(location: str) -> str:
    """The stable public id of an article: 16 hex digits of the SHA-1 of its location."""
    return hashlib.sha1(location.encode("utf-8")).hexdigest()[:16]


def paragraphs_of(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Every run of whitespace other than a line break becomes one space (Unicode spaces too): the header
    # and dateline patterns then never backtrack over long runs of exotic whitespace.
    return [re.sub(r"[^\S\n]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def strip_boilerplate(paragraphs: list[str]) -> list[str]:
    kept: list[str] = []
    for paragraph in paragraphs:
        # A footer line only counts as the footer once some body text came before it.
        if kept and _FOOTER.match(paragraph):
            break
        if _NOISE.match(paragraph):
            continue
        kept.append(paragraph)
    return kept


def derive_title(body: str, limit: int = 80) -> str:
    """A readable title from the lede: its first sentence, shortened at a word boundary."""
    spans = split_sentences(body)
    lede = body[spans[0].start : spans[0].end] if spans else body.strip()
    lede = re.sub(r"\s+", " ", lede).strip()
    lede = re.sub(r",?\s+(?:\w+\s+){0,3}(?:said|says|reported)\s+\w+\.?$", "", lede).rstrip(".")
    if len(lede) <= limit:
        return lede
    cut = lede[:limit].rsplit(" ", 1)[0].rstrip(",;:–—-")
    return cut + "…"


def _content_hash(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def make_article(
    file: ArchiveFile,
    *,
    body: str,
    title: str | None,
    source: str | None,
    published: str | None,
    dateline: str | None = None,
    byline: str | None = None,
    url: str | None = None,
    record: str | None = None,
) -> ParsedArticle | None:
    """The article (None when the body has no text): fields scrubbed, title derived from the lede if absent,
    date made ISO, id from the file's location (and the record's id inside a JSON file)."""
    text, title, source, dateline, byline, url, record = (
        scrub(value) for value in (body, title, source, dateline, byline, url, record)
    )
    text = (text or "").strip()
    if not text or not any(ch.isalnum() for ch in text):
        return None
    location = file.location + (f"#{record}" if record is not None else "")
    headline = re.sub(r"\s+", " ", title).strip() if title else ""
    derived = not headline
    if derived:
        headline = derive_title(text)
    return ParsedArticle(
        article_id=article_id_for(location),
        location=location,
        path=str(file.path),
        title=headline[:300],
        title_derived=derived,
        source=(source or None) and str(source).strip()[:200],
        published=parse_date(published) if published else None,
        dateline=dateline,
        byline=byline,
        url=url,
        body=text,
        content_hash=_content_hash(headline, source, published, dateline, byline, url, text),
    )
