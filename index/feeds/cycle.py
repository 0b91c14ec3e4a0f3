"""One feed cycle, as the bot's background task and `archivebot feeds poll` run it: poll the due feeds (or all),
reindex when an article was written, then match the follows against the articles that reindex added or
changed. Also what `/stats` and `archivebot doctor` say about the feeds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index._errors import ArchivebotError, IndexBusyError
from index._models import IndexSummary

from .follows import FollowMatch, FollowStore, match_follows
from .results import PollSummary
from .store import FeedState, FeedStore

if TYPE_CHECKING:
    from index._archive import Archive

    from .poller import FeedPoller

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedCycle:
    """What a cycle did. `indexed`: the reindex's summary (None: nothing was written, or it could not run);
    `reindex_pending`: articles were written but a reindex was running, so they still wait for one."""

    poll: PollSummary
    indexed: IndexSummary | None = None
    matches: tuple[FollowMatch, ...] = ()
    reindex_pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.poll.to_dict(),
            "indexed": self.indexed.to_dict() if self.indexed else None,
            "reindex_pending": self.reindex_pending,
            "follows_matched": len(self.matches),
        }


async def poll_all(poller: FeedPoller) -> PollSummary:
    """Poll every feed of the poller's store now, due or not, one after the other."""
    return PollSummary(tuple([await poller.poll(feed.url) for feed in await poller.store.feeds()]))


async def poll_and_index(
    archive: Archive,
    poller: FeedPoller,
    *,
    follows: FollowStore | None = None,
    everything: bool = False,
    reindex: bool = False,
    max_quotes: int = 3,
) -> FeedCycle:
    """Poll the due feeds (`everything`: all of them), reindex when an article was written (or `reindex`: a
    previous cycle's articles still wait), then match `follows` against the added and changed articles.
    A reindex already running (`IndexBusyError`) leaves the articles for the next cycle (`reindex_pending`)."""
    summary = await (poll_all(poller) if everything else poller.poll_due())
    if not (summary.written or reindex):
        return FeedCycle(summary)
    try:
        indexed = await archive.reindex()
    except IndexBusyError:
        logger.info("feeds: %d articles written; a reindex is running, they are indexed next time", summary.new)
        return FeedCycle(summary, reindex_pending=True)
    matches: list[FollowMatch] = []
    if follows is not None and indexed.changed_ids:
        matches = await match_follows(archive, follows, indexed.changed_ids, max_quotes=max_quotes)
    return FeedCycle(summary, indexed, tuple(matches))


async def feed_archive_root(archive: Archive) -> Path:
    """Where feed articles are written: the first archive folder indexed last time (so the next reindex reads
    them), else the first configured one (ARCHIVEBOT_ARCHIVE)."""
    if archive.built:
        try:
            roots = (await archive.stats()).roots
        except ArchivebotError:
            roots = ()
        if roots:
            return Path(roots[0])
    return Path(archive.settings.archive_roots[0])


@dataclass(frozen=True)
class FeedHealth:
    """How many feeds there are and which fail now (failed polls in a row, with the last error)."""

    feeds: int
    failing: tuple[FeedState, ...] = ()

    def warnings(self) -> list[str]:
        """One line per failing feed, for `archivebot doctor`."""
        return [
            f"feed {feed.url} failed {feed.failures} time{'s' if feed.failures != 1 else ''} in a row: "
            f"{feed.last_error or 'no reason recorded'}"
            for feed in self.failing
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "feeds": self.feeds,
            "failing": [{"url": f.url, "failures": f.failures, "last_error": f.last_error} for f in self.failing],
        }


async def feed_health(store: FeedStore) -> FeedHealth:
    feeds = await store.feeds()
    return FeedHealth(len(feeds), tuple(feed for feed in feeds if feed.failures > 0))


def checked_feed_url(url: str) -> str:
    """`url` when it is an absolute http(s) URL with a host, else `ConfigurationError` in one line (for
    `/feeds add` and `archivebot feeds add`: without the ARCHIVEBOT_FEEDS prefix the setting's errors have)."""
    from index._errors import ConfigurationError

    from .settings import check_feed_url

    try:
        return check_feed_url(url.strip())
    except ConfigurationError as error:
        raise ConfigurationError(str(error).removeprefix("ARCHIVEBOT_FEEDS: ")) from None
