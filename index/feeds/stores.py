"""Which feed and follow stores an archive uses: the tables of its own backend (`index.storage.feed_tables`):
`feeds.sqlite3` in the data directory, or the PostgreSQL database of `ARCHIVEBOT_DATABASE_URL`. Each store
connects on first use; `close()` it when done. (`JsonFeedStore` / `JsonFollowStore`, one JSON file each, are
kept for a single machine without the database.)"""

from __future__ import annotations

from index._settings import Settings
from index.storage.feed_tables import open_feed_database

from .db_store import DatabaseFeedStore, DatabaseFollowStore


def open_feed_store(settings: Settings, *, create: bool = True) -> DatabaseFeedStore:
    """The feeds, seen items and leases of the archive `settings` name (`create=False`: read only, as the doctor
    reads them)."""
    return DatabaseFeedStore(open_feed_database(settings, create=create))


def open_follow_store(settings: Settings) -> DatabaseFollowStore:
    """The follows of the archive `settings` name."""
    return DatabaseFollowStore(open_feed_database(settings))
