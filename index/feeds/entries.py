"""A feed document (RSS 0.9x/1.0/2.0, Atom) read with feedparser into plain entries: link, title, the feed's
own text, date, author, and a fingerprint that changes when the entry does."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

# Query parameters that only say where a reader came from: the same article with or without them.
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "ref_src")


class FeedFormatError(ValueError):
    """The document is not a feed (malformed XML with nothing usable in it, or another kind of document)."""


@dataclass(frozen=True)
class FeedEntry:
    key: str  # the item's identity: its link, normalised; feed URL + '#' + guid for an entry without a link
    link: str | None  # the item's page (absolute http(s)), if it has one
    title: str | None
    text: str  # the feed's own text for the item (content, else summary) as plain paragraphs; may be ""
    published: str | None  # ISO 8601 (UTC), from the entry's published or updated date
    author: str | None
    fingerprint: str  # SHA-256 of what the feed says about the entry


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: tuple[FeedEntry, ...]
    dropped: int = 0  # entries past the per-poll limit


def normalise_url(url: str) -> str:
    """`url` without what doesn't change the page: scheme and host lower-cased, default port, fragment and
    tracking parameters (utm_*, fbclid, ...) dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port and (scheme, port) not in {("http", 80), ("https", 443)}:
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith(_TRACKING)]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


def parse_feed(body: bytes, url: str, content_type: str | None, max_entries: int) -> ParsedFeed:
    """The entries of a feed document (at most `max_entries`, the newest first). Raises `FeedFormatError`."""
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # A stream, never bytes or str: feedparser opens a str that looks like a URL, and tries bytes as a path.
    try:
        parsed: Any = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as error:  # feedparser reports problems in `bozo`; anything it raises is the same verdict
        raise FeedFormatError(f"not a readable feed ({type(error).__name__}: {error})"[:200]) from error
    entries = sorted(parsed.entries, key=_entry_time, reverse=True)
    # An "entry" with neither a link nor text is what the lenient parser makes of broken markup.
    usable = [entry for entry in (_entry(raw, url) for raw in entries[:max_entries]) if entry.link or entry.text]
    if not usable and (parsed.bozo or not parsed.version):
        problem = parsed.get("bozo_exception")
        detail = f" ({str(problem).splitlines()[0][:160]})" if problem else ""
        raise FeedFormatError(f"not a readable feed{detail}")
    feed_title = _plain(parsed.feed.get("title")) or None
    return ParsedFeed(title=feed_title, entries=tuple(usable), dropped=max(0, len(entries) - max_entries))


def _entry(entry: Mapping[str, Any], feed_url: str) -> FeedEntry:
    link = _http_link(entry.get("link")) or _http_link(entry.get("id") if entry.get("guidislink") else None)
    guid = str(entry.get("id") or entry.get("title") or "")
    key = normalise_url(link) if link else f"{normalise_url(feed_url)}#{hashlib.sha256(guid.encode()).hexdigest()[:16]}"
    contents = [part.get("value", "") for part in entry.get("content", []) if isinstance(part, Mapping)]
    summary = str(entry.get("summary") or "")
    stamp = _stamp(entry)
    described = [entry.get("title"), link, summary, contents, _raw(entry, "published"), _raw(entry, "updated")]
    return FeedEntry(
        key=key,
        link=link,
        title=_plain(entry.get("title")) or None,
        text=html_to_text(max([*contents, summary], key=len)),
        published=time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp) if stamp else None,
        author=_plain(entry.get("author")) or None,
        fingerprint=hashlib.sha256(json.dumps(described, default=str).encode()).hexdigest(),
    )


def _raw(entry: Mapping[str, Any], name: str) -> Any:
    """A field as the feed gave it (feedparser's own `get` maps a missing `updated` to `published`, with a
    deprecation warning)."""
    return dict.get(entry, name) if isinstance(entry, dict) else entry.get(name)


def _stamp(entry: Mapping[str, Any]) -> Any:
    return _raw(entry, "published_parsed") or _raw(entry, "updated_parsed")


def _entry_time(entry: Mapping[str, Any]) -> float:
    stamp = _stamp(entry)
    try:
        return time.mktime(stamp) if stamp else 0.0
    except (OverflowError, ValueError, TypeError):
        return 0.0


def _http_link(value: object) -> str | None:
    if isinstance(value, str) and urlsplit(value.strip()).scheme.lower() in {"http", "https"}:
        return value.strip()
    return None


def _plain(value: object) -> str:
    return " ".join(html_to_text(str(value)).split()) if value else ""


class _TextParser(HTMLParser):
    """Text of an HTML fragment, blocks as paragraphs, scripts and styles dropped."""

    skipped = frozenset({"script", "style", "noscript", "template", "svg"})
    blocks = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.skipped:
            self.depth += 1
        elif tag in self.blocks:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skipped and self.depth:
            self.depth -= 1
        elif tag in self.blocks:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain paragraphs (separated by blank lines) from an HTML fragment such as a feed's summary."""
    if "<" not in html and "&" not in html:
        text = html
    else:
        parser = _TextParser()
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    paragraphs = (" ".join(block.split()) for block in text.split("\n\n"))
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
