"""Polling feeds: each due feed fetched with a conditional GET under a lease, its new and changed entries
written to the archive, its state (validators, next poll, failures, last error) saved.

    async with FeedPoller(store, archive_root, FeedSettings.from_env()) as poller:
        await poller.add_configured()
        summary = await poller.poll_due()
    if summary.written:
        await archive.reindex([archive_root])
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .addresses import AddressPolicy
from .entries import FeedFormatError, ParsedFeed, parse_feed
from .fetch import Fetcher, FetchError
from .items import CHANGED, FAILED, NEW, UNCHANGED, ItemOutcome, ItemWriter
from .results import BUSY, NOT_DUE, NOT_MODIFIED, POLLED, FeedResult, ItemProblem, PollSummary
from .results import FAILED as FEED_FAILED
from .settings import FeedSettings
from .store import FeedState, FeedStore

logger = logging.getLogger(__name__)


def backoff_seconds(interval: float, failures: int, cap: float, retry_after: float | None = None) -> float:
    """How long a feed that failed `failures` times in a row waits: interval * 2**failures, at most `cap`
    (but never less than the interval, nor than a Retry-After the server sent, itself capped)."""
    delay = interval * 2.0 ** min(failures, 32)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(interval, min(delay, cap))


class FeedPoller:
    """Polls the feeds of `store`, writing articles under `archive_root/feeds/`. An async context manager
    (it owns the HTTP client). `policy`: which addresses may be fetched (default: public ones, or any with
    `settings.allow_private`); `clock`: seconds since the epoch (tests move it)."""

    def __init__(
        self,
        store: FeedStore,
        archive_root: Path,
        settings: FeedSettings | None = None,
        *,
        policy: AddressPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.archive_root = Path(archive_root)
        self.settings = settings or FeedSettings.from_env()
        self.policy = policy or AddressPolicy(allow_private=self.settings.allow_private)
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._fetcher = Fetcher(self.settings, self.policy)

    async def __aenter__(self) -> FeedPoller:
        await self._fetcher.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._fetcher.__aexit__(*exc_info)

    async def add_configured(self) -> list[FeedState]:
        """Add the feeds the settings name (ARCHIVEBOT_FEEDS) that the store doesn't hold yet."""
        return [await self.store.add_feed(url, self.settings.interval_seconds) for url in self.settings.urls]

    async def poll_due(self) -> PollSummary:
        """Poll every feed whose time has come (several at once; one request at a time per host)."""
        now = self.clock()
        due = [feed.url for feed in await self.store.feeds() if feed.next_poll <= now]
        gate = asyncio.Semaphore(self.settings.concurrent_feeds)

        async def one(url: str) -> FeedResult:
            async with gate:
                try:
                    return await self.poll(url, force=False)
                except Exception as error:  # one feed's surprise (a store that can't be written...) spares the rest
                    logger.exception("polling %s failed", url)
                    return FeedResult(url, FEED_FAILED, error=f"{type(error).__name__}: {error}"[:300])

        return PollSummary(tuple(await asyncio.gather(*(one(url) for url in due))))

    async def poll(self, url: str, *, force: bool = True) -> FeedResult:
        """Poll one feed of the store now (`force=False`: only if it is still due once its lease is held)."""
        now = self.clock()
        if not await self.store.take_lease(url, self.owner, now, now + self.settings.lease_seconds):
            return FeedResult(url, BUSY)
        try:
            state = next((feed for feed in await self.store.feeds() if feed.url == url), None)
            if state is None:
                raise KeyError(f"no feed {url!r} in the store")
            if not force and state.next_poll > now:
                return FeedResult(url, NOT_DUE)
            result = await self._poll(state)
            _log(result)
            return result
        finally:
            await self.store.release_lease(url, self.owner)

    async def _poll(self, state: FeedState) -> FeedResult:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        try:
            fetched = await self._fetcher.get(state.url, limit=self.settings.max_feed_bytes, headers=headers)
        except FetchError as error:
            return await self._failed(state, f"feed: {error.reason}", error.retry_after)
        if fetched.status == 304:
            await self._succeeded(state, etag=state.etag, last_modified=state.last_modified)
            return FeedResult(state.url, NOT_MODIFIED)
        try:
            parsed = await asyncio.to_thread(
                parse_feed, fetched.body, fetched.url, fetched.content_type, self.settings.max_items_per_poll
            )
        except FeedFormatError as error:
            return await self._failed(state, f"feed: {error}", None)
        return await self._write_entries(
            state, parsed, fetched.headers.get("ETag"), fetched.headers.get("Last-Modified")
        )

    async def _write_entries(
        self, state: FeedState, parsed: ParsedFeed, etag: str | None, last_modified: str | None
    ) -> FeedResult:
        writer = ItemWriter(self.store, self._fetcher, self.archive_root, self.clock)
        outcomes: list[tuple[str, ItemOutcome]] = []
        renew_at = self.clock() + self.settings.lease_seconds / 2
        for entry in parsed.entries:  # one after another: most items of a feed are on one host anyway
            if self.clock() >= renew_at:  # a long poll keeps its lease, or stops when it lost it
                now = self.clock()
                if not await self.store.take_lease(state.url, self.owner, now, now + self.settings.lease_seconds):
                    break
                renew_at = now + self.settings.lease_seconds / 2
            try:
                outcome = await writer.process(entry, state.url, parsed.title)
            except OSError as error:  # the archive or the store can't be written (disk full...): try again later
                outcome = ItemOutcome(FAILED, problem=f"not written: {error}", retry=True)
            outcomes.append((entry.link or entry.key, outcome))
        if any(outcome.retry for _, outcome in outcomes):
            # Keep the old validators: a 304 next time would hide the items still to be fetched.
            etag, last_modified = state.etag, state.last_modified
        await self._succeeded(state, etag=etag, last_modified=last_modified, title=parsed.title)
        return FeedResult(
            state.url,
            POLLED,
            new=tuple(o.path for _, o in outcomes if o.kind == NEW and o.path),
            changed=tuple(o.path for _, o in outcomes if o.kind == CHANGED and o.path),
            unchanged=sum(o.kind == UNCHANGED for _, o in outcomes),
            failed=tuple(ItemProblem(link, o.problem or "") for link, o in outcomes if o.kind == FAILED),
            feed_only=tuple(ItemProblem(link, o.problem) for link, o in outcomes if o.kind != FAILED and o.problem),
            dropped=parsed.dropped,
        )

    async def _succeeded(
        self, state: FeedState, *, etag: str | None, last_modified: str | None, title: str | None = None
    ) -> None:
        now = self.clock()
        await self.store.save_feed(
            replace(
                state,
                etag=etag,
                last_modified=last_modified,
                next_poll=now + state.interval_seconds,
                last_polled=now,
                last_success=now,
                failures=0,
                title=title or state.title,
            )
        )

    async def _failed(self, state: FeedState, reason: str, retry_after: float | None) -> FeedResult:
        now = self.clock()
        failures = state.failures + 1
        delay = backoff_seconds(state.interval_seconds, failures, self.settings.backoff_cap_seconds, retry_after)
        await self.store.save_feed(
            replace(state, failures=failures, last_error=reason, last_polled=now, next_poll=now + delay)
        )
        return FeedResult(state.url, FEED_FAILED, error=reason)


def _log(result: FeedResult) -> None:
    if result.error:
        logger.warning("feed %s: %s", result.url, result.error)
    elif result.new or result.changed or result.failed:
        logger.info(
            "feed %s: %d new, %d changed, %d unchanged, %d failed (%s)",
            result.url,
            len(result.new),
            len(result.changed),
            result.unchanged,
            len(result.failed),
            "; ".join(f"{problem.url}: {problem.reason}" for problem in result.failed[:3]) or "none failed",
        )
