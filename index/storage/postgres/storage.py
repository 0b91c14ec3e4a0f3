"""The PostgreSQL + pgvector backend (chosen by `ARCHIVEBOT_DATABASE_URL`): the `Storage` of one database.

`PostgresStorage.open` validates the URL, makes one probe connection (so a wrong password or a missing
pgvector is one clear error before anything else happens), applies the schema migrations and opens a small
connection pool for readers. Questions read through `reader()` snapshots; a reindex or repair writes through
`index_session()`, which holds the database-wide reindex lock on a connection of its own. Nothing here
blocks the event loop: every call is psycopg's async API.

With a read URL (`ARCHIVEBOT_DATABASE_READ_URL`), `reader()` and `stats()` snapshots come from that streaming
replica while it is usable (`replica.py`: its rule for whole commits, lag and fallback to the primary); votes,
recorded questions, the status board, `check()` (the doctor) and `index_session()` always use the primary.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import psycopg
from psycopg_pool import AsyncConnectionPool

from index._errors import IndexNotBuiltError
from index._rows import ReindexStatus
from index._settings import Settings
from index.storage.base import StorageStats
from index.storage.postgres.connect import POOL_SIZE, Connection, connect, make_pool, translated
from index.storage.postgres.extras import PostgresQuestions
from index.storage.postgres.reader import PostgresReader
from index.storage.postgres.replica import ReplicaReads
from index.storage.postgres.schema import ensure_schema, schema_version
from index.storage.postgres.session import PostgresCheck, PostgresSession, read_meta
from index.storage.postgres.url import DatabaseUrl, parse_database_url
from index.storage.postgres.write import release_reindex_lock, try_reindex_lock
from index.storage.sql import META, RECORD_VOTE, postgres

_TABLES = ["articles", "passages", "sentences", "postings", "meta", "feedback"]
_BEGIN_SNAPSHOT = f"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {META}"
SNAPSHOT_ATTEMPTS = 1 + POOL_SIZE  # every pooled connection may have died with the server


class PostgresStorage:
    """One per process (per `Archive`): a pool of reader connections to one database (and, with a read URL,
    a few to its replica)."""

    def __init__(
        self,
        url: DatabaseUrl,
        pool: AsyncConnectionPool[Connection],
        meta: dict[str, str],
        replica: ReplicaReads | None = None,
    ) -> None:
        self.url = url
        self.location = url.redacted  # never the password
        self._pool = pool
        self._meta = meta
        self.replica = replica
        self._newest_generation = 0  # the newest index generation this process has seen (replica.py's rule 1)
        self._seen(meta)

    @classmethod
    async def open(
        cls,
        url: str | DatabaseUrl,
        *,
        create: bool = True,
        pool_size: int = POOL_SIZE,
        read_url: str | DatabaseUrl | None = None,
        replica_max_lag: float = 30.0,
    ) -> PostgresStorage:
        """Connect, migrate the schema if needed and open the pool. Raises `ConfigurationError` (malformed
        URL, wrong password, no such database, no pgvector), `ArchiveUnavailableError` (server unreachable),
        `IndexMismatchError` (a schema newer than this code) and, without `create`, `IndexNotBuiltError`
        for a database that holds no archive (nothing is written then). A replica named by `read_url` is not
        connected to here: an unreachable replica is a fallback to the primary, never a failure to start."""
        parsed = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
        replica = None
        if read_url:
            read = (
                read_url
                if isinstance(read_url, DatabaseUrl)
                else parse_database_url(read_url, "ARCHIVEBOT_DATABASE_READ_URL")
            )
            replica = ReplicaReads(read, replica_max_lag, pool_size)
        probe = await connect(parsed, "setup")
        try:
            async with translated(parsed):
                if not create and not await schema_version(probe):
                    raise IndexNotBuiltError(f"no archive in the database at {parsed} yet: run `archivebot index`")
                await ensure_schema(probe)
                meta = await read_meta(probe)
        finally:
            await probe.close()
        pool = make_pool(parsed, pool_size)
        async with translated(parsed):
            await pool.open(wait=True, timeout=10)
        return cls(parsed, pool, meta, replica)

    @classmethod
    async def from_settings(cls, settings: Settings, url: str | DatabaseUrl, *, create: bool = True) -> PostgresStorage:
        return await cls.open(
            url,
            create=create,
            read_url=settings.database_read_url or None,
            replica_max_lag=settings.replica_max_lag,
        )

    def _seen(self, meta: dict[str, str]) -> None:
        with contextlib.suppress(ValueError):
            self._newest_generation = max(self._newest_generation, int(meta.get("generation", "0") or 0))

    @property
    def meta(self) -> dict[str, str]:
        return self._meta

    async def refresh_meta(self) -> dict[str, str]:
        async with self._connection() as connection:
            self._meta = await read_meta(connection)
        self._seen(self._meta)
        return self._meta

    async def close(self) -> None:
        if self.replica is not None:
            await self.replica.close()
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        async with translated(self.url), self._pool.connection() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[tuple[Connection, dict[str, str]]]:
        """A pooled connection inside a `REPEATABLE READ READ ONLY` transaction (begun together with reading
        its meta: one round trip), rolled back afterwards. A connection that died with a server restart fails
        here, before anything was read: the pool discards it and the next one is tried."""
        async with translated(self.url):
            for attempt in range(SNAPSHOT_ATTEMPTS):
                async with self._pool.connection() as connection:
                    try:
                        cursor = await connection.execute(_BEGIN_SNAPSHOT)
                    except psycopg.OperationalError:
                        if attempt + 1 < SNAPSHOT_ATTEMPTS:
                            continue
                        raise
                    cursor.nextset()  # past BEGIN's result, to the meta rows
                    meta = {str(key): str(value) for key, value in await cursor.fetchall()}
                    try:
                        yield connection, meta
                    finally:
                        with contextlib.suppress(Exception):  # a dead connection is discarded by the pool anyway
                            await connection.execute("ROLLBACK")
                    return

    @contextlib.asynccontextmanager
    async def _read_snapshot(self) -> AsyncIterator[tuple[Connection, dict[str, str], bool]]:
        """A snapshot for questions: on the replica when there is one and it may be used, else the primary's
        (the last value: whether it is the replica's)."""
        if self.replica is not None:
            async with self.replica.snapshot(self._newest_generation) as on_replica:
                if on_replica is not None:
                    async with translated(self.replica.url):
                        yield (*on_replica, True)
                    return
        async with self._snapshot() as on_primary:
            yield (*on_primary, False)

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[PostgresReader]:
        async with self._read_snapshot() as (connection, meta, on_replica):
            if "generation" in meta:
                self._meta = meta
                self._seen(meta)
            # pg_textsearch 1.0 writes no WAL for its index: a streaming replica has the index's name, not its
            # pages ("could not read blocks"), so questions read there rank by the postings, kept by every commit.
            yield PostgresReader(connection, meta, bm25_index=not on_replica)

    async def warm_up(self) -> None:
        """Pull the HNSW index's pages into the server's cache (pg_prewarm is not always installed: a few
        searches do the same for the upper layers)."""
        await self.refresh_meta()

    @contextlib.asynccontextmanager
    async def index_session(self) -> AsyncIterator[PostgresSession]:
        """The exclusive writer on its own connection (`IndexBusyError` when another process, on any host,
        holds the lock). The lock goes with the connection: a killed indexer releases it."""
        connection = await connect(self.url, "reindex")
        try:
            async with translated(self.url):
                await try_reindex_lock(connection)
                try:
                    yield PostgresSession(connection, await read_meta(connection))
                finally:
                    with contextlib.suppress(Exception):
                        await release_reindex_lock(connection)
            self._meta = await self.refresh_meta()
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    @contextlib.asynccontextmanager
    async def check(self) -> AsyncIterator[PostgresCheck]:
        async with self._snapshot() as (connection, meta):
            yield PostgresCheck(connection, meta)

    async def stats(self) -> StorageStats:
        async with self._read_snapshot() as (connection, meta, _on_replica):
            check = PostgresCheck(connection, meta)
            counts = await check.counts()
            cursor = await connection.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0),"
                " coalesce(pg_relation_size(to_regclass('passages_embedding')), 0)"
                " FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
                (_TABLES,),
            )
            row = await cursor.fetchone()
        total, vectors = (int(value) for value in row) if row else (0, 0)
        return StorageStats(counts, check.meta, total - vectors, vectors)

    async def feedback(self) -> PostgresFeedback:
        return PostgresFeedback(self)

    async def questions(self) -> PostgresQuestions:
        return PostgresQuestions(self)

    def status_board(self) -> PostgresStatusBoard:
        return PostgresStatusBoard(self)


class PostgresStatusBoard:
    """The `StatusBoard` in the database: a reindex's progress seen by bot processes on every host."""

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage

    async def publish(self, status: ReindexStatus) -> None:
        async with self._storage._connection() as connection:
            await connection.execute(
                "INSERT INTO reindex_status (singleton, status) VALUES (true, %s)"
                " ON CONFLICT (singleton) DO UPDATE SET status = excluded.status",
                (status.to_json(),),
            )

    async def clear(self, pid: int, host: str) -> None:
        current = await self.read()
        if current is not None and (current.pid, current.host) == (pid, host):
            async with self._storage._connection() as connection:
                await connection.execute("DELETE FROM reindex_status WHERE status = %s", (current.to_json(),))

    async def read(self) -> ReindexStatus | None:
        async with self._storage._connection() as connection:
            cursor = await connection.execute("SELECT status FROM reindex_status")
            row = await cursor.fetchone()
        return ReindexStatus.from_json(str(row[0])) if row else None


class PostgresFeedback:
    """The `FeedbackLog`, in the shared database: every bot process counts the same votes."""

    def __init__(self, storage: PostgresStorage) -> None:
        self._storage = storage

    async def record(
        self,
        *,
        answer_key: str,
        user_id: str,
        guild_id: str | None,
        question: str,
        article_ids: Sequence[str],
        helpful: bool,
    ) -> None:
        """One vote per user per answer: a second click changes the vote."""
        async with self._storage._connection() as connection:
            await connection.execute(
                postgres(RECORD_VOTE),
                (answer_key, user_id, guild_id, question, ",".join(article_ids), helpful),
            )

    async def counts(self) -> dict[str, int]:
        async with self._storage._connection() as connection:
            cursor = await connection.execute(
                "SELECT count(*) FILTER (WHERE helpful), count(*) FILTER (WHERE NOT helpful) FROM feedback"
            )
            row = await cursor.fetchone()
        helpful, unhelpful = (int(value) for value in row) if row else (0, 0)
        return {"helpful": helpful, "unhelpful": unhelpful}
