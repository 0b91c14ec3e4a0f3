"""One feed entry to one archive file: fetched and extracted once, written again only when it changed.

An entry the store has seen with the same fingerprint is not fetched at all. Otherwise its page is fetched
and read with trafilatura; when the page can't be used (refused, too large, not HTML, no text, a server
error) the feed's own text is written instead, marked `text_from: "feed"`. A page found under another link
(same canonical URL) or with the same content as an item already written is not written twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from .entries import FeedEntry
from .extract import PageArticle, extract_page
from .fetch import Fetcher, FetchError
from .output import FeedArticle, article_path, write_article
from .store import FeedStore, SeenItem

NEW, CHANGED, UNCHANGED, FAILED = "new", "changed", "unchanged", "failed"


@dataclass(frozen=True)
class ItemOutcome:
    kind: str  # NEW, CHANGED, UNCHANGED or FAILED
    path: Path | None = None  # the file written (new or changed)
    problem: str | None = None  # FAILED: why; written: why the page was not used (feed-only text)
    retry: bool = False  # FAILED for a reason that may pass: look at the item again on the next poll


@dataclass(frozen=True)
class _Page:
    article: PageArticle | None
    problem: str | None = None
    permanent: bool = False  # the same page will fail the same way: don't fetch it again until the entry changes


class ItemWriter:
    def __init__(
        self, store: FeedStore, fetcher: Fetcher, archive_root: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.archive_root = archive_root
        self.clock = clock

    async def process(self, entry: FeedEntry, feed_url: str, feed_title: str | None) -> ItemOutcome:
        seen = await self.store.find_item(entry.key)
        if seen is not None and seen.entry_hash == entry.fingerprint:
            return ItemOutcome(UNCHANGED)
        if seen is not None and seen.path and (seen.feed_url != feed_url or seen.url != entry.key):
            # Already written from another feed's entry, or from another link to the same page: not fetched
            # again (that entry keeps it current), so two feeds with one article don't take turns fetching it.
            return ItemOutcome(UNCHANGED)
        page = await self._page(entry)
        if page.article is None and seen is not None and seen.status == "page" and not page.permanent:
            # Keep the page's text already written rather than replace it with the feed's shorter one.
            return ItemOutcome(FAILED, problem=page.problem, retry=True)
        article = _article(entry, page.article, feed_url, feed_title)
        record = SeenItem(
            url=entry.key,
            canonical_url=entry.key,
            feed_url=feed_url,
            entry_hash=entry.fingerprint,
            content_hash="",
            path="",
            status="skipped",
            reason=page.problem,
            updated=self.clock(),
        )
        if article is None:
            if page.permanent:
                await self.store.save_item(record)  # not fetched again until the entry changes
            return ItemOutcome(FAILED, problem=page.problem or "no text", retry=not page.permanent)
        return await self._write(entry, article, page, seen, record)

    async def _write(
        self, entry: FeedEntry, article: FeedArticle, page: _Page, seen: SeenItem | None, record: SeenItem
    ) -> ItemOutcome:
        canonical = page.article.canonical_url if page.article and page.article.canonical_url else entry.key
        if seen is None and canonical != entry.key:
            seen = await self.store.find_item(canonical)  # the same page reached by another link
        content_hash = article.content_hash()
        record = replace(record, canonical_url=canonical, content_hash=content_hash, status=article.text_from)
        if seen is None and (copy := await self.store.find_content(content_hash)):
            # The same article under another URL (a syndicated copy): not written twice. The record holds no
            # path and no hash, so if this copy changes later it gets a file of its own.
            duplicate = f"same content as {copy.canonical_url}"
            await self.store.save_item(replace(record, content_hash="", status="duplicate", reason=duplicate))
            return ItemOutcome(UNCHANGED)
        if seen is not None and seen.path and seen.content_hash == content_hash:
            await self.store.save_item(replace(record, path=seen.path))
            return ItemOutcome(UNCHANGED)
        relative = seen.path if seen is not None and seen.path else article_path(entry.key)
        path = await asyncio.to_thread(write_article, self.archive_root, relative, article)
        await self.store.save_item(replace(record, path=relative))
        kind = CHANGED if seen is not None and seen.path else NEW
        return ItemOutcome(kind, path=path, problem=page.problem if article.text_from == "feed" else None)

    async def _page(self, entry: FeedEntry) -> _Page:
        if entry.link is None:
            return _Page(None, "the item has no link to a page", permanent=True)
        try:
            fetched = await self.fetcher.get(entry.link, limit=self.fetcher.settings.max_page_bytes, page=True)
        except FetchError as error:
            return _Page(None, f"page: {error.reason}", permanent=error.permanent)
        article, problem = await asyncio.to_thread(extract_page, fetched.body, fetched.url, fetched.charset)
        return _Page(article, f"page: {problem}" if problem else None, permanent=True)


def _article(entry: FeedEntry, page: PageArticle | None, feed_url: str, feed_title: str | None) -> FeedArticle | None:
    """The article to write: the page's text and metadata (the feed's where the page has none), else the
    feed's own text, else None."""
    site = feed_title or (urlsplit(entry.link or feed_url).hostname or None)
    if page is not None:
        return FeedArticle(
            title=page.title or entry.title,
            body=page.body,
            published=page.published or entry.published,
            source=page.source or site,
            byline=page.byline or entry.author,
            url=page.canonical_url or entry.link or entry.key,
            feed_url=feed_url,
            text_from="page",
        )
    if not entry.text.strip():
        return None
    return FeedArticle(
        title=entry.title,
        body=entry.text,
        published=entry.published,
        source=site,
        byline=entry.author,
        url=entry.link or entry.key,
        feed_url=feed_url,
        text_from="feed",
    )
