"""The embedded backend's feed and follow tables (`index.storage.feed_tables`), in their own file
`feeds.sqlite3` beside the archive (as `feedback.sqlite3`), so a reindex never blocks a poll or a follow.

Each statement runs in a worker thread on one connection per store (WAL, a 30 s busy timeout); an exclusive
transaction is `BEGIN IMMEDIATE`, which several processes sharing the file take one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from index._errors import IndexNotBuiltError

FILE_NAME = "feeds.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_sources (url TEXT PRIMARY KEY, position INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed_items (
    url TEXT PRIMARY KEY, canonical_url TEXT NOT NULL, content_hash TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feed_items_canonical_url ON feed_items (canonical_url);
CREATE INDEX IF NOT EXISTS feed_items_content_hash ON feed_items (content_hash);
CREATE TABLE IF NOT EXISTS feed_leases (feed_url TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS follows (
    id TEXT PRIMARY KEY, owner_id INTEGER NOT NULL, guild_id INTEGER, channel_id INTEGER NOT NULL,
    query TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS follows_owner ON follows (owner_id);
CREATE INDEX IF NOT EXISTS follows_guild ON follows (guild_id);
CREATE TABLE IF NOT EXISTS follow_notices (
    follow_id TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (follow_id, article_id)
);
CREATE TABLE IF NOT EXISTS follow_channels_off (channel_id INTEGER PRIMARY KEY);
"""


def _locked(lock: threading.Lock, work: Callable[[], Any]) -> Any:
    with lock:
        return work()


class _Runner:
    def __init__(self, connection: sqlite3.Connection, lock: threading.Lock) -> None:
        self._connection = connection
        self._lock = lock

    async def fetch(self, statement: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(
            _locked, self._lock, lambda: self._connection.execute(statement, tuple(parameters)).fetchall()
        )

    async def execute(self, statement: str, parameters: Sequence[object] = ()) -> int:
        return await asyncio.to_thread(
            _locked, self._lock, lambda: self._connection.execute(statement, tuple(parameters)).rowcount
        )


class SqliteFeedDatabase:
    """`FeedDatabase` in `<data_dir>/feeds.sqlite3` (created on first use, mode 0600)."""

    def __init__(self, data_dir: Path, *, create: bool = True) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.create = create
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the connection
        # Every use of the connection holds this lock in its worker thread: a caller cancelled while its
        # statement runs (the bot's feed task stopped at shutdown) leaves the statement running in its thread,
        # and closing the connection under it crashed the process (a segfault in sqlite3_last_insert_rowid,
        # found by the CI run). One lock per connection: a lock shared by every store made a statement waiting
        # out SQLite's busy timeout for another store's transaction hold up that store's COMMIT.
        self._native = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if not self.create:
            if not self.path.is_file():
                raise IndexNotBuiltError(f"no feeds yet ({self.path} does not exist)")
            return sqlite3.connect(
                f"{self.path.as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # created private, like the archive
        os.close(descriptor)
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            # Switch to WAL only when the file is not in it yet: the switch needs the file to itself, waits
            # out the busy timeout behind any other connection's transaction and then fails ("database is
            # locked", seen once in the suite when the follow button opened the file); a WAL file needs none.
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    @contextlib.asynccontextmanager
    async def transaction(self, *, exclusive: bool = False) -> AsyncIterator[_Runner]:
        async with self._lock:
            if self._connection is None:
                self._connection = await asyncio.to_thread(self._open)
            connection = self._connection
            begin = "BEGIN IMMEDIATE" if exclusive else "BEGIN"
            await asyncio.to_thread(_locked, self._native, lambda: connection.execute(begin))
            try:
                yield _Runner(connection, self._native)
            except BaseException:
                await asyncio.to_thread(_locked, self._native, lambda: connection.execute("ROLLBACK"))
                raise
            await asyncio.to_thread(_locked, self._native, lambda: connection.execute("COMMIT"))

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                # After any statement still running:
                await asyncio.to_thread(_locked, self._native, self._connection.close)
                self._connection = None
