"""Keeping the archive current from RSS and Atom feeds (docs/feeds.md).

`FeedPoller` polls the feeds of a `FeedStore` (conditional GETs, per-feed intervals, back-off, one request
at a time per host), fetches each new item's page, extracts its text with trafilatura (or keeps the feed's
own text when the page can't be used) and writes it as a `.json` article under `<archive>/feeds/<host>/`,
which `Archive.reindex` then indexes. Nothing here imports Discord code.
"""

from .addresses import AddressPolicy, address_kind
from .cycle import (
    FeedCycle,
    FeedHealth,
    checked_feed_url,
    feed_archive_root,
    feed_health,
    poll_all,
    poll_and_index,
)
from .db_store import DatabaseFeedStore, DatabaseFollowStore
from .follows import Follow, FollowError, FollowMatch, FollowSettings, FollowStore, match_follows
from .follows_json import JsonFollowStore
from .json_store import JsonFeedStore
from .poller import FeedPoller, backoff_seconds
from .results import FeedResult, ItemProblem, PollSummary
from .settings import FeedSettings
from .store import FeedState, FeedStore, SeenItem
from .stores import open_feed_store, open_follow_store

__all__ = [
    "AddressPolicy",
    "DatabaseFeedStore",
    "DatabaseFollowStore",
    "FeedCycle",
    "FeedHealth",
    "FeedPoller",
    "FeedResult",
    "FeedSettings",
    "FeedState",
    "FeedStore",
    "Follow",
    "FollowError",
    "FollowMatch",
    "FollowSettings",
    "FollowStore",
    "ItemProblem",
    "JsonFeedStore",
    "JsonFollowStore",
    "PollSummary",
    "SeenItem",
    "address_kind",
    "backoff_seconds",
    "checked_feed_url",
    "feed_archive_root",
    "feed_health",
    "match_follows",
    "open_feed_store",
    "open_follow_store",
    "poll_all",
    "poll_and_index",
]
