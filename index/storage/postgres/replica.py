"""Questions on a streaming replica (`ARCHIVEBOT_DATABASE_READ_URL`); everything that writes on the primary.

`PostgresStorage.reader()` and `stats()` ask `ReplicaReads.begin` for a read snapshot on the replica first.
It hands one out only when the replica is up, at most `ARCHIVEBOT_REPLICA_MAX_LAG` seconds behind, and has
replayed the newest index generation this process has seen; otherwise the question goes to the primary, one
warning line is logged for the whole outage (not one per question), and the replica is tried again after
`retry_seconds`. Votes, recorded questions, reindexing, the doctor and the status board never come here.

Whole commits on a replica: an index commit writes its rows and its `meta.generation` in one transaction, and
a replica replays each transaction whole, so a snapshot's meta always names the generation whose rows that
snapshot holds. What a replica can do is be *behind*, and two rules bound that. (1) A replica snapshot whose
generation is older than the newest this process has seen (its own reindex, the primary's meta read at start,
or an earlier snapshot) is never used: a process never answers from an older archive than it already did.
(2) A replica more than the lag bound behind its primary is not used, which bounds how late another
process's reindex reaches it. The lag is 0 while the replica streams and has replayed all it received, else
`now() - pg_last_xact_replay_timestamp()` (unknown, as after a start with nothing replayed and no stream,
counts as too far behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg

from index.storage.postgres import codec as _postgres_codec
from index.storage.postgres.connect import POOL_SIZE, Connection, application_name, first_line
from index.storage.postgres.search_indexes import HNSW_EF_SEARCH
from index.storage.postgres.url import DatabaseUrl
from index.storage.sql import META

logger = logging.getLogger(__name__)

RETRY_SECONDS = 15.0  # after a fallback, questions go to the primary this long before the replica is tried
REPLICA_CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest: a question waits at most this once per retry

# One round trip: the snapshot, how far behind the replica is, and the meta of that snapshot.
LAG = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0::float8"
    " WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver)"
    " AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8"
    " ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 'Infinity'::float8)"
    " END"
)
_BEGIN_REPLICA_SNAPSHOT = f"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {LAG}; {META}"


@dataclass
class ReplicaCounts:
    """What the replica did for this process (for tests and `stats`)."""

    served: int = 0  # snapshots read on the replica
    fallbacks: int = 0  # snapshots that went to the primary because the replica was down, behind or backing off
    outages: int = 0  # times the replica went from used to not used (one warning line each)


class ReplicaReads:
    """A few connections to one replica, and whether it may be used right now."""

    def __init__(self, url: DatabaseUrl, max_lag: float, size: int = POOL_SIZE) -> None:
        self.url = url
        self.max_lag = max_lag
        self.retry_seconds = RETRY_SECONDS
        self.counts = ReplicaCounts()
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(max(1, size))
        self._size = max(1, size)
        self._retry_at = 0.0
        self._down: str | None = None  # why the replica is not used, while it is not

    @property
    def down(self) -> str | None:
        return self._down

    async def _connect(self) -> Connection:
        connection = await psycopg.AsyncConnection.connect(
            self.url.conninfo,
            autocommit=True,
            connect_timeout=REPLICA_CONNECT_TIMEOUT_SECONDS,
            application_name=application_name("replica reader"),
        )
        await _postgres_codec.register(connection)
        await connection.execute(f"SET hnsw.ef_search = {int(HNSW_EF_SEARCH)}")
        return connection

    async def _begin(self) -> tuple[Connection, float, dict[str, str]]:
        """A connection inside a read-only snapshot: an idle one, else (or when it died) a new one."""
        while True:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect()
            try:
                cursor = await connection.execute(_BEGIN_REPLICA_SNAPSHOT)
                cursor.nextset()
                row = await cursor.fetchone()
                cursor.nextset()
                meta = {str(key): str(value) for key, value in await cursor.fetchall()}
            except psycopg.OperationalError:
                await _close(connection)
                if reused:  # died while idle (a replica restart): drop the others too and connect afresh
                    for other in self._idle:
                        await _close(other)
                    self._idle.clear()
                    continue
                raise
            return connection, float(row[0]) if row else float("inf"), meta

    async def _release(self, connection: Connection) -> None:
        try:
            await connection.execute("ROLLBACK")
        except Exception:
            await _close(connection)
            self._fail("it failed during a question")
            return
        if len(self._idle) < self._size:
            self._idle.append(connection)
        else:
            await _close(connection)

    @contextlib.asynccontextmanager
    async def snapshot(self, newest_generation: int) -> AsyncIterator[tuple[Connection, dict[str, str]] | None]:
        """A read snapshot on the replica, or None: read from the primary then (the reason was logged once
        per outage). Nothing is read before the choice, so a fallback is never half a question."""
        if time.monotonic() < self._retry_at:
            self.counts.fallbacks += 1
            yield None
            return
        async with self._slots:
            try:
                connection, lag, meta = await self._begin()
            except (psycopg.Error, OSError) as error:
                self._fail(first_line(self.url.scrub(str(error))))
                self.counts.fallbacks += 1
                yield None
                return
            generation = int(meta.get("generation", "0") or 0)
            reason = None
            if lag > self.max_lag:
                reason = f"{lag:.1f} s behind its primary (ARCHIVEBOT_REPLICA_MAX_LAG is {self.max_lag:g})"
            elif generation < newest_generation:
                reason = f"it has not replayed index generation {newest_generation} yet (it has {generation})"
            if reason is not None:
                try:
                    await connection.execute("ROLLBACK")
                    self._idle.append(connection)
                except psycopg.Error:
                    await _close(connection)
                self._fail(reason)
                self.counts.fallbacks += 1
                yield None
                return
            self._recovered()
            self.counts.served += 1
            try:
                yield connection, meta
            finally:
                await self._release(connection)

    def _fail(self, reason: str) -> None:
        self._retry_at = time.monotonic() + self.retry_seconds
        if self._down is None:
            self.counts.outages += 1
            logger.warning(
                "read replica %s not used (%s): questions go to the primary, the replica is tried again every %g s",
                self.url,
                reason,
                self.retry_seconds,
            )
        else:
            logger.debug("read replica %s still not used: %s", self.url, reason)
        self._down = reason

    def _recovered(self) -> None:
        if self._down is not None:
            logger.info("read replica %s is used again for questions", self.url)
            self._down = None

    async def close(self) -> None:
        for connection in self._idle:
            await _close(connection)
        self._idle.clear()


async def _close(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        await connection.close()
