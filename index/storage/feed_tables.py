"""The feed and follow tables on both backends: what `index.feeds.DatabaseFeedStore` and `DatabaseFollowStore`
run, through `open_feed_database(settings)` (a `FeedDatabase`: SQLite's `feeds.sqlite3` in the data directory,
or the archive's PostgreSQL database, migration 3).

Six tables: `feed_sources` (a feed's state as JSON, keyed by URL, in the order added), `feed_items` (each seen
item as JSON, with its canonical URL and content hash as indexed columns), `feed_leases` (who polls a feed
until when), `follows`, `follow_notices` (follow, article) pairs told, and `follow_channels_off`. The statements
are written once, with `?` placeholders, like `index.storage.sql`'s (rendered for psycopg by `sql.postgres`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from index._settings import Settings


class SqlRunner(Protocol):
    """Statements inside one transaction."""

    async def fetch(self, statement: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, statement: str, parameters: Sequence[object] = ()) -> int:
        """Run a statement; how many rows it changed."""
        ...


class FeedDatabase(Protocol):
    def transaction(self, *, exclusive: bool = False) -> AbstractAsyncContextManager[SqlRunner]:
        """One transaction; `exclusive`: no other exclusive transaction (any process) runs meanwhile, for a
        read-then-write such as a follow's limits."""
        ...

    async def close(self) -> None: ...


def open_feed_database(settings: Settings, *, create: bool = True) -> FeedDatabase:
    """The feed tables of the archive `settings` name (connected on first use). `create=False` writes nothing
    (the doctor): no SQLite file is made and no migration applied; missing tables raise `IndexNotBuiltError`
    (SQLite) or `IndexMismatchError` (PostgreSQL) when first used."""
    if settings.database_url:
        from index.storage.postgres.feed_database import PostgresFeedDatabase

        return PostgresFeedDatabase(settings.database_url, create=create)
    from index.storage.sqlite.feed_database import SqliteFeedDatabase

    return SqliteFeedDatabase(settings.data_dir, create=create)


# ---- feeds ---------------------------------------------------------------------------------------------
FEEDS = "SELECT data FROM feed_sources ORDER BY position, url"
FEED = "SELECT data FROM feed_sources WHERE url = ?"
ADD_FEED = (
    "INSERT INTO feed_sources (url, position, data)"
    " VALUES (?, (SELECT coalesce(max(position), 0) + 1 FROM feed_sources), ?) ON CONFLICT (url) DO NOTHING"
)
SAVE_FEED = (
    "INSERT INTO feed_sources (url, position, data)"
    " VALUES (?, (SELECT coalesce(max(position), 0) + 1 FROM feed_sources), ?)"
    " ON CONFLICT (url) DO UPDATE SET data = excluded.data"
)
REMOVE_FEED = "DELETE FROM feed_sources WHERE url = ?"
REMOVE_LEASE = "DELETE FROM feed_leases WHERE feed_url = ?"
ITEM_BY_URL = "SELECT data FROM feed_items WHERE url = ?"
ITEM_BY_CANONICAL_URL = "SELECT data FROM feed_items WHERE canonical_url = ? ORDER BY url LIMIT 1"
ITEM_BY_CONTENT = "SELECT data FROM feed_items WHERE content_hash = ? ORDER BY url LIMIT 1"
SAVE_ITEM = (
    "INSERT INTO feed_items (url, canonical_url, content_hash, data) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (url) DO UPDATE SET canonical_url = excluded.canonical_url,"
    " content_hash = excluded.content_hash, data = excluded.data"
)
# One statement: taken when free, past its time, or already ours (then extended); 0 rows changed: held.
TAKE_LEASE = (
    "INSERT INTO feed_leases (feed_url, owner, until) VALUES (?, ?, ?)"
    " ON CONFLICT (feed_url) DO UPDATE SET owner = excluded.owner, until = excluded.until"
    " WHERE feed_leases.owner = excluded.owner OR feed_leases.until <= ?"
)
RELEASE_LEASE = "DELETE FROM feed_leases WHERE feed_url = ? AND owner = ?"

# ---- follows -------------------------------------------------------------------------------------------
_FOLLOW_COLUMNS = "SELECT id, owner_id, guild_id, channel_id, query, created FROM follows"
FOLLOWS = f"{_FOLLOW_COLUMNS} ORDER BY created, id"
FOLLOWS_OF = f"{_FOLLOW_COLUMNS} WHERE owner_id = ? ORDER BY created, id"
FOLLOWS_IN = f"{_FOLLOW_COLUMNS} WHERE guild_id = ? ORDER BY created, id"
FOLLOWS_IN_DMS = f"{_FOLLOW_COLUMNS} WHERE guild_id IS NULL ORDER BY created, id"
FOLLOW_EXISTS = "SELECT 1 FROM follows WHERE id = ?"
COUNT_OF = "SELECT count(*) FROM follows WHERE owner_id = ?"
COUNT_IN = "SELECT count(*) FROM follows WHERE guild_id = ?"
ADD_FOLLOW = "INSERT INTO follows (id, owner_id, guild_id, channel_id, query, created) VALUES (?, ?, ?, ?, ?, ?)"
REMOVE_FOLLOW = "DELETE FROM follows WHERE id = ?"
REMOVE_OWN_FOLLOW = "DELETE FROM follows WHERE id = ? AND owner_id = ?"
FORGET_NOTICES = "DELETE FROM follow_notices WHERE follow_id = ?"
RECORD_NOTICE = "INSERT INTO follow_notices (follow_id, article_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
NOTICE_EXISTS = "SELECT 1 FROM follow_notices WHERE follow_id = ? AND article_id = ?"
CHANNEL_OFF = "SELECT 1 FROM follow_channels_off WHERE channel_id = ?"
TURN_CHANNEL_OFF = "INSERT INTO follow_channels_off (channel_id) VALUES (?) ON CONFLICT DO NOTHING"
TURN_CHANNEL_ON = "DELETE FROM follow_channels_off WHERE channel_id = ?"
