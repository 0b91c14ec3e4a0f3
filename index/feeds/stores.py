"""Which feed and follow stores an archive uses: for now the JSON files in its data directory, whatever the
backend (a database-backed store per backend replaces them through these two functions)."""

from __future__ import annotations

from index._settings import Settings

from .follows import FollowStore
from .follows_json import JsonFollowStore
from .json_store import JsonFeedStore
from .store import FeedStore


def open_feed_store(settings: Settings) -> FeedStore:
    """The feeds, seen items and leases of the archive `settings` name (`data/feeds.json`)."""
    return JsonFeedStore.in_data_dir(settings.data_dir)


def open_follow_store(settings: Settings) -> FollowStore:
    """The follows of the archive `settings` name (`data/follows.json`)."""
    return JsonFollowStore.in_data_dir(settings.data_dir)
