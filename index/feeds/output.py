"""Articles from feeds as archive files: `<archive>/feeds/<host>/<id>.json`, one JSON object each in the
format the indexer reads (docs/archive-formats.md: title, date, source, url, body, byline), written
atomically so a reindex running meanwhile reads the old file or the new one."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .json_store import write_atomically

FEEDS_FOLDER = "feeds"
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class FeedArticle:
    title: str | None
    body: str
    published: str | None
    source: str | None
    byline: str | None
    url: str  # the canonical URL, else the item's link
    feed_url: str
    text_from: str  # "page": the page's main text; "feed": the feed's own text only (the page was unusable)

    def content_hash(self) -> str:
        """What a reader sees of the article, its URL aside: a change here is worth re-indexing, and the same
        hash under another URL is the same article (a copy on another site differs at least in `source`)."""
        described = [self.title, self.body, self.published, self.source, self.byline]
        return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def article_path(key: str) -> str:
    """The archive file (relative to the archive root) for the item with this key: stable for the item's
    life, so its article id (a hash of the path) stays the same when it is written again."""
    parts = urlsplit(key)
    host = (parts.hostname or "unknown").lower()
    if parts.port:
        host = f"{host}_{parts.port}"
    folder = _UNSAFE.sub("_", host).strip("._") or "unknown"
    return f"{FEEDS_FOLDER}/{folder}/{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def write_article(archive_root: Path, relative: str, article: FeedArticle) -> Path:
    """Write `article` to `archive_root/relative` (atomically); the path written."""
    record = {
        "id": Path(relative).stem,  # the record id the article id is made of: not its URL, which may change
        "title": article.title,
        "date": article.published,
        "source": article.source,
        "url": article.url,
        "byline": article.byline,
        "body": article.body,
        "feed": article.feed_url,
        "text_from": article.text_from,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = archive_root / relative
    content = json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False, indent=1)
    write_atomically(path, content.encode("utf-8") + b"\n", mode=0o644)
    return path
