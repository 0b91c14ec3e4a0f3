"""Keeping the archive current from RSS and Atom feeds (docs/feeds.md).

`FeedPoller` polls the feeds of a `FeedStore` (conditional GETs, per-feed intervals, back-off, one request
at a time per host), fetches each new item's page, extracts its text with trafilatura (or keeps the feed's
own text when the page can't be used) and writes it as a `.json` article under `<archive>/feeds/<host>/`,
which `Archive.reindex` then indexes. Nothing here imports Discord code.
"""

from .addresses import AddressPolicy, address_kind
from .json_store import JsonFeedStore
from .poller import FeedPoller, backoff_seconds
from .results import FeedResult, ItemProblem, PollSummary
from .settings import FeedSettings
from .store import FeedState, FeedStore, SeenItem

__all__ = [
    "AddressPolicy",
    "FeedPoller",
    "FeedResult",
    "FeedSettings",
    "FeedState",
    "FeedStore",
    "ItemProblem",
    "JsonFeedStore",
    "PollSummary",
    "SeenItem",
    "address_kind",
    "backoff_seconds",
]
