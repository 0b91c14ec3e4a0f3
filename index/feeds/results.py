"""What a poll did: per feed and in sum, so a caller reindexes only when something was written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# FeedResult.status
POLLED = "polled"  # the feed was read (200) and its entries dealt with
NOT_MODIFIED = "not-modified"  # the feed answered 304 to the conditional GET: nothing to do
FAILED = "failed"  # the feed could not be fetched or read: `error` says why; it backs off
BUSY = "busy"  # another process holds the feed's lease (it is polling it now)
NOT_DUE = "not-due"  # polled by someone else since it was picked: its next poll is later


@dataclass(frozen=True)
class ItemProblem:
    url: str
    reason: str


@dataclass(frozen=True)
class FeedResult:
    url: str
    status: str
    new: tuple[Path, ...] = ()  # archive files written for items not seen before
    changed: tuple[Path, ...] = ()  # archive files written again: the item's content changed
    unchanged: int = 0  # items seen before with the same content (not fetched again when the entry is the same)
    failed: tuple[ItemProblem, ...] = ()  # items not written, and why
    feed_only: tuple[ItemProblem, ...] = ()  # items written from the feed's own text, and why the page was not
    error: str | None = None  # why the feed itself failed
    dropped: int = 0  # entries past the per-poll limit, not looked at

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "new": [str(path) for path in self.new],
            "changed": [str(path) for path in self.changed],
            "unchanged": self.unchanged,
            "failed": [{"url": p.url, "reason": p.reason} for p in self.failed],
            "feed_only": [{"url": p.url, "reason": p.reason} for p in self.feed_only],
            "error": self.error,
            "dropped": self.dropped,
        }


@dataclass(frozen=True)
class PollSummary:
    feeds: tuple[FeedResult, ...] = ()

    @property
    def new(self) -> int:
        return sum(len(feed.new) for feed in self.feeds)

    @property
    def changed(self) -> int:
        return sum(len(feed.changed) for feed in self.feeds)

    @property
    def unchanged(self) -> int:
        return sum(feed.unchanged for feed in self.feeds)

    @property
    def failed(self) -> int:
        """Items that could not be written plus feeds that could not be read."""
        return sum(len(feed.failed) + (feed.status == FAILED) for feed in self.feeds)

    @property
    def written(self) -> tuple[Path, ...]:
        """Every archive file written (new or changed): reindex when this is not empty."""
        return tuple(path for feed in self.feeds for path in (*feed.new, *feed.changed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "feeds": [feed.to_dict() for feed in self.feeds],
        }
