"""The PostgreSQL + pgvector archive (chosen by `ARCHIVEBOT_DATABASE_URL`): pool, snapshots, writer, feedback.

`PostgresStorage.open` validates the URL, makes one probe connection (so a wrong password or a missing
pgvector is one clear error before anything else happens), applies the schema migrations and opens a small
connection pool for readers. Questions read through `reader()` snapshots; a reindex, repair or migration
writes through `writer()`, which holds the database-wide reindex lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from .._store import ArticleRow
from ._postgres_connect import POOL_SIZE, Connection, connect, make_pool, translated
from ._postgres_reader import ARTICLE_COLUMNS, PostgresReader, article_row
from ._postgres_schema import SCHEMA_VERSION, embedding_dimension, ensure_schema
from ._postgres_url import DatabaseUrl, parse_database_url
from ._postgres_writer import PostgresWriter, release_reindex_lock, try_reindex_lock


class PostgresStorage:
    """One per process (per `Archive`): a pool of reader connections to one database."""

    def __init__(self, url: DatabaseUrl, pool: AsyncConnectionPool[Connection]) -> None:
        self.url = url
        self._pool = pool

    @classmethod
    async def open(cls, url: str | DatabaseUrl, *, pool_size: int = POOL_SIZE) -> PostgresStorage:
        """Connect, migrate the schema if needed and open the pool. Raises `ConfigurationError` (malformed
        URL, wrong password, no such database, no pgvector), `ArchiveUnavailableError` (server unreachable)
        or `IndexMismatchError` (a schema newer than this code)."""
        parsed = url if isinstance(url, DatabaseUrl) else parse_database_url(url)
        probe = await connect(parsed, "setup")
        try:
            async with translated(parsed):
                await ensure_schema(probe)
        finally:
            await probe.close()
        pool = make_pool(parsed, pool_size)
        async with translated(parsed):
            await pool.open(wait=True, timeout=10)
        return cls(parsed, pool)

    async def close(self) -> None:
        await self._pool.close()

    @property
    def location(self) -> str:
        """Where the archive lives, for reports and `/stats` (never with the password)."""
        return self.url.redacted

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        async with translated(self.url), self._pool.connection() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[PostgresReader]:
        """A consistent read snapshot (`REPEATABLE READ`, read-only) with its meta."""
        async with self._connection() as connection:
            await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                cursor = await connection.execute("SELECT key, value FROM meta")
                meta = {str(key): str(value) for key, value in await cursor.fetchall()}
                yield PostgresReader(connection, meta)
            finally:
                with contextlib.suppress(Exception):  # a dead connection is discarded by the pool anyway
                    await connection.execute("ROLLBACK")

    @contextlib.asynccontextmanager
    async def inspector(self) -> AsyncIterator[PostgresWriter]:
        """The writer's queries on a read-only snapshot, without the reindex lock (for `doctor` checks, which
        must work while a reindex runs)."""
        async with self._connection() as connection:
            await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PostgresWriter(connection)
            finally:
                with contextlib.suppress(Exception):
                    await connection.execute("ROLLBACK")

    @contextlib.asynccontextmanager
    async def writer(self, model: str = "") -> AsyncIterator[PostgresWriter]:
        """A writer on its own connection holding the reindex lock (`IndexBusyError` if another holds it).
        The lock goes with the connection: a killed indexer releases it."""
        connection = await connect(self.url, "reindex")
        try:
            async with translated(self.url):
                await try_reindex_lock(connection)
                try:
                    yield PostgresWriter(connection, model)
                finally:
                    # Released now, not when the server notices the closed connection (a few ms later: long
                    # enough to refuse the next run of the same process).
                    with contextlib.suppress(Exception):
                        await release_reindex_lock(connection)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    # ---- small reads outside a question -----------------------------------------------------------

    async def _fetch(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self._connection() as connection:
            cursor = await connection.execute(query, params)
            return await cursor.fetchall()

    async def get_meta(self) -> dict[str, str]:
        return {str(key): str(value) for key, value in await self._fetch("SELECT key, value FROM meta")}

    async def counts(self) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages), (SELECT count(*) FROM sentences)"
        )
        articles, passages, sentences = (int(value) for value in rows[0])
        return {"articles": articles, "passages": passages, "sentences": sentences}

    async def sizes(self) -> dict[str, int]:
        """Bytes on the server: the archive's tables with their indexes, and the vector index alone."""
        rows = await self._fetch(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0),"
            " coalesce(pg_relation_size(to_regclass('passages_embedding')), 0)"
            " FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
            (["articles", "passages", "sentences", "meta", "feedback"],),
        )
        total, vectors = (int(value) for value in rows[0])
        return {"database": total, "vectors": vectors}

    async def schema(self) -> dict[str, int | None]:
        async with self._connection() as connection:
            from ._postgres_schema import schema_version

            return {
                "schema_version": await schema_version(connection),
                "code_schema_version": SCHEMA_VERSION,
                "dimension": await embedding_dimension(connection),
            }

    async def article(self, article_id: str) -> ArticleRow | None:
        rows = await self._fetch(f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.article_id = %s", (article_id,))
        return article_row(rows[0]) if rows else None

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        """Titles containing `text` (case-insensitive), exact then prefix matches first, then shortest; empty
        text: the latest articles (as the embedded backend orders them)."""
        if not text.strip():
            rows = await self._fetch(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a"
                " ORDER BY a.published IS NULL, a.published DESC, a.id DESC LIMIT %s",
                (limit,),
            )
        else:
            pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = await self._fetch(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.title ILIKE %s"
                " ORDER BY lower(a.title) = lower(%s) DESC, a.title ILIKE %s DESC, length(a.title), a.title LIMIT %s",
                (f"%{pattern}%", text, f"{pattern}%", limit),
            )
        return [article_row(row) for row in rows]

    # ---- feedback ---------------------------------------------------------------------------------

    async def record_feedback(
        self,
        *,
        answer_key: str,
        user_id: str,
        guild_id: str | None,
        question: str,
        article_ids: Sequence[str],
        helpful: bool,
    ) -> None:
        """One vote per user per answer, shared by every bot process: a second click changes the vote."""
        async with self._connection() as connection:
            await connection.execute(
                "INSERT INTO feedback (answer_key, user_id, guild_id, question, article_ids, helpful)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (answer_key, user_id) DO UPDATE SET helpful = excluded.helpful",
                (answer_key, user_id, guild_id, question, ",".join(article_ids), helpful),
            )

    async def feedback_counts(self) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT count(*) FILTER (WHERE helpful), count(*) FILTER (WHERE NOT helpful) FROM feedback"
        )
        helpful, unhelpful = (int(value) for value in rows[0])
        return {"helpful": helpful, "unhelpful": unhelpful}

    async def feedback_rows(self) -> list[dict[str, Any]]:
        rows = await self._fetch(
            "SELECT id, created_at, user_id, guild_id, question, article_ids, helpful, answer_key"
            " FROM feedback ORDER BY id"
        )
        names = ("id", "created_at", "user_id", "guild_id", "question", "article_ids", "helpful", "answer_key")
        return [{**dict(zip(names, row, strict=True)), "helpful": int(row[6])} for row in rows]
