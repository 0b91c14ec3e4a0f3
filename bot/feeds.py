"""The bot's feed task: every `interval` seconds, poll the due feeds, reindex when an article was written, then
tell the follows the new articles answer. Plain asyncio (no Discord): the cog hands in how to tell a follow
and how to see whether /reindex is running, so this is tested without a Discord connection.

A cycle is skipped while a reindex runs (this process's /reindex, or one in another process on the same
archive); the reindex itself goes through `Archive.reindex`, whose lock /reindex shares, so two never run at
once. No failure of a feed, the store or a notice stops the task: it is logged and the next cycle comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from index import (
    Archive,
    FeedCycle,
    FeedPoller,
    FeedSettings,
    FeedStore,
    FollowMatch,
    FollowStore,
    IndexSummary,
    feed_archive_root,
    match_follows,
    poll_and_index,
)

logger = logging.getLogger("archivebot.bot")

Notify = Callable[[FollowMatch], Awaitable[None]]


class FeedTask:
    """Runs feed cycles in the background (`start`/`stop`) or one at a time (`cycle`, for tests)."""

    def __init__(
        self,
        archive: Archive,
        feeds: FeedStore,
        follows: FollowStore,
        settings: FeedSettings,
        notify: Notify,
        *,
        reindex_running: Callable[[], bool] = lambda: False,
        interval: float = 60.0,
        max_quotes: int = 3,
    ) -> None:
        self.archive = archive
        self.feeds = feeds
        self.follows = follows
        self.settings = settings
        self.notify = notify
        self.reindex_running = reindex_running  # the cog's /reindex job
        self.interval = interval
        self.max_quotes = max_quotes
        self.pending = False  # articles written while a reindex ran: the next cycle reindexes for them
        self.cycles = 0  # cycles that ran (not skipped): for /stats and tests
        self.last: FeedCycle | None = None
        self._configured = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self, ready: Callable[[], Awaitable[object]] | None = None) -> asyncio.Task[None]:
        """Run cycles every `interval` seconds, the first once `ready()` (the bot's connection) returns."""
        self._task = asyncio.create_task(self._run(ready), name="archivebot-feeds")
        return self._task

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, ready: Callable[[], Awaitable[object]] | None) -> None:
        if ready is not None:
            await ready()
        while True:
            await self.cycle()
            await asyncio.sleep(self.interval)

    async def busy(self) -> bool:
        """A reindex runs here (/reindex or a direct one) or in another process on the archive."""
        if self.reindex_running() or self.archive.reindexing:
            return True
        try:
            return await self.archive.reindex_status() is not None
        except Exception:
            logger.warning("feeds: could not read the reindex status; skipping this cycle", exc_info=True)
            return True

    async def cycle(self) -> FeedCycle | None:
        """One cycle; None when it was skipped (a reindex runs, or it failed: logged)."""
        async with self._lock:  # a cycle started by hand never overlaps the background one
            if await self.busy():
                logger.debug("feeds: a reindex is running; this cycle is skipped")
                return None
            try:
                cycle = await self._poll()
            except Exception:
                logger.exception("feeds: the cycle failed; the next one comes in %gs", self.interval)
                return None
            self.cycles += 1
            self.last = cycle
            self.pending = cycle.reindex_pending
            await self._tell(cycle.matches)
            return cycle

    async def indexed(self, summary: IndexSummary) -> None:
        """Tell the follows another reindex's new and changed articles answer (/reindex's, through its job)."""
        await self._tell(
            await match_follows(self.archive, self.follows, summary.changed_ids, max_quotes=self.max_quotes)
        )

    async def _tell(self, matches: Sequence[FollowMatch]) -> None:
        for match in matches:
            try:
                await self.notify(match)
            except Exception:
                logger.exception("feeds: could not tell follow %s", match.follow.id)

    async def _poll(self) -> FeedCycle:
        root = await feed_archive_root(self.archive)
        async with FeedPoller(self.feeds, root, self.settings) as poller:
            if not self._configured:  # ARCHIVEBOT_FEEDS, once: a feed removed with /feeds remove stays removed
                await poller.add_configured()
                self._configured = True
            cycle = await poll_and_index(
                self.archive, poller, follows=self.follows, reindex=self.pending, max_quotes=self.max_quotes
            )
        if cycle.poll.written or cycle.poll.failed:
            logger.info(
                "feeds: %d new, %d changed, %d failed; %s, %d follow(s) told",
                cycle.poll.new,
                cycle.poll.changed,
                cycle.poll.failed,
                "reindexed" if cycle.indexed else "reindex pending" if cycle.reindex_pending else "no reindex",
                len(cycle.matches),
            )
        return cycle
