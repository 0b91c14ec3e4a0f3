"""The PostgreSQL backend's feed and follow tables (`index.storage.feed_tables`, created by migration 3), in
the archive's own database: every bot process sharing the archive shares the feeds, their leases and the
follows. One connection per store, made on first use (migrations applied as for the archive) and made again
after the server went away; an exclusive transaction holds a transaction-level advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg

from index.storage.postgres.connect import Connection, connect, translated
from index.storage.postgres.schema import ensure_schema
from index.storage.postgres.url import parse_database_url
from index.storage.sql import postgres

FEEDS_LOCK = 0x61726368_69766503  # "archive" + 3: follows' limits are read and written one process at a time


class _Runner:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def fetch(self, statement: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cursor = await self._connection.execute(postgres(statement), tuple(parameters))
        return list(await cursor.fetchall())

    async def execute(self, statement: str, parameters: Sequence[object] = ()) -> int:
        cursor = await self._connection.execute(postgres(statement), tuple(parameters))
        return cursor.rowcount


class PostgresFeedDatabase:
    """`FeedDatabase` in the database of `ARCHIVEBOT_DATABASE_URL`."""

    def __init__(self, database_url: str, *, create: bool = True) -> None:
        self.url = parse_database_url(database_url)
        self.create = create  # False: no migration (the doctor writes nothing)
        self._connection: Connection | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.broken:
            connection = await connect(self.url, "feeds")
            if self.create:
                async with translated(self.url):
                    await ensure_schema(connection)
            self._connection = connection
        return self._connection

    @contextlib.asynccontextmanager
    async def transaction(self, *, exclusive: bool = False) -> AsyncIterator[_Runner]:
        async with self._lock, translated(self.url):
            connection = await self._connected()
            try:
                async with connection.transaction():
                    if exclusive:
                        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (FEEDS_LOCK,))
                    yield _Runner(connection)
            except psycopg.OperationalError:
                with contextlib.suppress(Exception):
                    await connection.close()
                self._connection = None
                raise

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.close()
                self._connection = None
