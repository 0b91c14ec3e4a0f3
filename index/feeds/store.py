"""What the feed poller keeps between polls, and the small protocol a store of it implements.

A store holds three things: the feeds (with their polling state), the items already written (so an item is
fetched and written once, and again only when it changed), and a lease per feed (so two processes sharing
one store never poll the same feed at once). `JsonFeedStore` (a JSON file in the data directory) is the
first implementation; a SQLite or PostgreSQL one is three small tables with the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FeedState:
    """One feed and where its polling stands. Times are seconds since the epoch (shared across processes)."""

    url: str
    interval_seconds: float = 15 * 60
    etag: str | None = None  # the last ETag the feed sent: sent back as If-None-Match
    last_modified: str | None = None  # the last Last-Modified it sent: sent back as If-Modified-Since
    next_poll: float = 0.0  # due when the clock reaches this
    last_polled: float | None = None  # the last attempt, failed or not
    last_success: float | None = None
    failures: int = 0  # failed polls in a row (0 after a success); the back-off grows with it
    last_error: str | None = None  # the last failure's reason (kept after a success, for /stats and doctor)
    title: str | None = None  # the feed's own title, once read


@dataclass(frozen=True)
class SeenItem:
    """An item the poller has dealt with: written to the archive, or skipped for a reason that won't change
    until the item does (a PDF, a page over the size limit, a refused address)."""

    url: str  # the item's key: its link from the feed, normalised (or feed URL + '#' + guid without a link)
    canonical_url: str  # the page's canonical URL (its <link rel=canonical>), else `url`
    feed_url: str
    entry_hash: str  # fingerprint of the feed's entry (title, link, summary, content, dates): changed = look again
    content_hash: str  # hash of what was written (title and body); "" when nothing was written
    path: str  # the archive file, relative to the archive root; "" when nothing was written
    status: str  # "page" (text from the page), "feed" (the feed's own text only), "skipped" or "duplicate"
    reason: str | None = None  # why the page was not used (feed-only text or skipped)
    updated: float = 0.0


class FeedStore(Protocol):
    """Feed state, seen items and leases. Every method is one atomic step for every process sharing the
    store; `save_feed` and `save_item` replace the whole record by its key (`url`)."""

    async def feeds(self) -> list[FeedState]:
        """Every feed, in the order added."""
        ...

    async def add_feed(self, url: str, interval_seconds: float) -> FeedState:
        """Add a feed due now; a feed already there is returned as it is."""
        ...

    async def remove_feed(self, url: str) -> bool:
        """Forget a feed (its items stay seen, its files stay in the archive). False: there was none."""
        ...

    async def save_feed(self, state: FeedState) -> None: ...

    async def find_item(self, url: str) -> SeenItem | None:
        """The item whose key or canonical URL is `url`."""
        ...

    async def find_content(self, content_hash: str) -> SeenItem | None:
        """An item whose written content has this hash (the same article reached by another link)."""
        ...

    async def save_item(self, item: SeenItem) -> None: ...

    async def take_lease(self, feed_url: str, owner: str, now: float, until: float) -> bool:
        """Hold the feed until `until` if nobody else holds it now (a lease past its time is free).
        True when `owner` holds it afterwards (taking it again extends it)."""
        ...

    async def release_lease(self, feed_url: str, owner: str) -> None:
        """Let the feed go, if `owner` holds it."""
        ...

    async def close(self) -> None:
        """Let go of its connection (a store used after closing connects again)."""
        ...
