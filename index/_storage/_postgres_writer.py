"""The writing side of the PostgreSQL archive: what the indexer, the doctor and `migrate` change.

A writer is one dedicated connection that holds the session-level advisory lock `REINDEX_LOCK` for as long
as it lives: a second reindex, from this host or another, is refused (`IndexBusyError`) instead of
interleaving. Rows and their vectors live in the same tables, so the transaction that replaces an article's
rows replaces its vectors too: readers see the old article or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import numpy as np
import psycopg

from .._errors import IndexBusyError
from .._store import NewPassage, NewSentence, StoredArticleState, vector_to_blob
from .._vectors import passage_vector
from ._postgres_codec import HalfVector
from ._postgres_connect import Connection
from ._postgres_schema import REINDEX_LOCK, create_vector_index, type_embeddings

TITLE_WEIGHT = 0.5  # as the embedded backend's passage vectors (index._indexer.TITLE_WEIGHT)

_INSERT_PASSAGE = """
INSERT INTO passages (id, article_row, ordinal, start, "end", first_sentence, last_sentence, token_count, embedding)
VALUES (%s, %s, %s, %s, %s, %s, %s, archivebot_word_count(archivebot_words(%s, %s)), %s)
"""
# The article's passages' stems into the inverted index BM25 reads (title words counted twice; see the schema).
_INSERT_POSTINGS = """
INSERT INTO postings (lexeme, passage_id, frequency, length)
SELECT e.key, p.id, e.value::real, p.token_count
FROM passages p JOIN articles a ON a.id = p.article_row,
     jsonb_each_text(archivebot_term_frequencies(
         archivebot_words(a.title, substr(a.body, p.start + 1, p."end" - p.start)))) e
WHERE p.article_row = %s
"""


async def try_reindex_lock(connection: Connection) -> None:
    """Take the reindex lock on this connection's session, or raise `IndexBusyError` naming who holds it."""
    cursor = await connection.execute("SELECT pg_try_advisory_lock(%s)", (REINDEX_LOCK,))
    row = await cursor.fetchone()
    if row and row[0]:
        return
    cursor = await connection.execute(
        "SELECT a.application_name, to_char(a.backend_start AT TIME ZONE 'UTC', 'HH24:MI') FROM pg_locks l"
        " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
        " AND l.classid = %s AND l.objid = %s LIMIT 1",
        (REINDEX_LOCK >> 32, REINDEX_LOCK & 0xFFFFFFFF),
    )
    holder = await cursor.fetchone()
    who = f" ({holder[0]}, since {holder[1]} UTC)" if holder and holder[0] else ""
    raise IndexBusyError(f"another reindex is already running on this database{who}: wait for it to finish")


async def release_reindex_lock(connection: Connection) -> None:
    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await connection.execute("ROLLBACK")  # an exception left a transaction open: it must not commit
    await connection.execute("SELECT pg_advisory_unlock(%s)", (REINDEX_LOCK,))


class PostgresWriter:
    """Writes through one connection that holds the reindex lock (see the module docstring)."""

    def __init__(self, connection: Connection, model: str = "") -> None:
        self._connection = connection
        self._model = model

    async def _fetch(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        cursor = await self._connection.execute(query, params)
        return await cursor.fetchall()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._connection.transaction():
            yield

    # ---- meta -------------------------------------------------------------------------------------

    async def get_meta(self) -> dict[str, str]:
        return {str(key): str(value) for key, value in await self._fetch("SELECT key, value FROM meta")}

    async def set_meta(self, values: dict[str, Any]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(key, str(value)) for key, value in values.items()],
            )

    async def refresh_totals(self) -> dict[str, int]:
        """Record the passage count and their total length in words (BM25's N and average length), in the
        transaction that changed them, so every snapshot carries its own."""
        rows = await self._fetch("SELECT count(*), coalesce(sum(token_count), 0) FROM passages")
        passages, tokens = (int(value) for value in rows[0])
        await self.set_meta({"passage_count": passages, "token_total": tokens})
        return {"passages": passages, "tokens": tokens}

    async def prepare_vectors(self, dimension: int) -> bool:
        """Type the vector column for `dimension` when no passage is stored (a first build, or a full rebuild
        after every passage was deleted in this transaction); then `finish_vectors` must follow in the same
        transaction. Returns whether the vector index was dropped for the bulk insert."""
        return await type_embeddings(self._connection, dimension)

    async def finish_vectors(self) -> None:
        """(Re)create the HNSW index if it is missing, and refresh the planner's statistics."""
        await create_vector_index(self._connection)
        await self._connection.execute("ANALYZE passages")

    # ---- indexer ----------------------------------------------------------------------------------

    async def article_states(self) -> list[StoredArticleState]:
        rows = await self._fetch("SELECT id, article_id, path, fingerprint, content_hash FROM articles")
        return [StoredArticleState(*row) for row in rows]

    async def vectors_by_text_hash(self, hashes: Iterable[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return {}
        rows = await self._fetch(
            "SELECT DISTINCT ON (text_hash) text_hash, vector FROM sentences WHERE text_hash = ANY(%s::text[])",
            (unique,),
        )
        return {str(key): bytes(vector) for key, vector in rows}

    async def title_vectors(self, article_ids: Iterable[str]) -> dict[str, bytes]:
        rows = await self._fetch(
            "SELECT title, title_vector FROM articles WHERE article_id = ANY(%s::text[]) AND title_vector IS NOT NULL",
            (list(article_ids),),
        )
        return {str(title): bytes(vector) for title, vector in rows}

    async def delete_articles(self, rows: Sequence[int]) -> list[int]:
        """Delete articles with their passages (and so their vectors) and sentences; returns the passage ids."""
        if not rows:
            return []
        removed = await self._fetch(
            "DELETE FROM passages WHERE article_row = ANY(%s::bigint[]) RETURNING id", (list(rows),)
        )
        await self._connection.execute("DELETE FROM articles WHERE id = ANY(%s::bigint[])", (list(rows),))
        return sorted(int(row[0]) for row in removed)

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None:
        if fingerprints:
            async with self._connection.cursor() as cursor:
                await cursor.executemany(
                    "UPDATE articles SET fingerprint = %s WHERE id = %s",
                    [(fp, row) for row, fp in fingerprints.items()],
                )

    async def insert_article(
        self,
        article: Any,
        *,
        fingerprint: str,
        body_hash: str,
        title_vector: np.ndarray | None,
        indexed_at: str,
        sentences: Sequence[NewSentence],
        passages: Sequence[NewPassage],
        passage_ids: Sequence[int] | None = None,
    ) -> list[int]:
        """Insert one article, its sentences and its passages with their vectors (the normalised mean of the
        sentences', nudged toward the title, as the embedded backend computes them). Returns the passage ids
        (new ones from a sequence that never repeats, or `passage_ids` when copying an archive)."""
        rows = await self._fetch(
            "INSERT INTO articles (article_id, location, path, fingerprint, content_hash, body_hash, title,"
            " title_derived, source, published, dateline, byline, url, body, title_vector, indexed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                article.article_id,
                article.location,
                article.path,
                fingerprint,
                article.content_hash,
                body_hash,
                article.title,
                bool(article.title_derived),
                article.source,
                article.published,
                article.dateline,
                article.byline,
                article.url,
                article.body,
                vector_to_blob(title_vector) if title_vector is not None else None,
                indexed_at,
            ),
        )
        article_row = int(rows[0][0])
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                'INSERT INTO sentences (article_row, ordinal, start, "end", text_hash, vector)'
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(article_row, s.ordinal, s.start, s.end, s.text_hash, vector_to_blob(s.vector)) for s in sentences],
            )
        ids = list(passage_ids) if passage_ids is not None else await self._next_passage_ids(len(passages))
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                _INSERT_PASSAGE,
                [
                    (
                        pid,
                        article_row,
                        p.ordinal,
                        p.start,
                        p.end,
                        p.first_sentence,
                        p.last_sentence,
                        article.title,
                        p.text,
                        HalfVector(
                            passage_vector(
                                [sentences[i].vector for i in range(p.first_sentence, p.last_sentence + 1)],
                                title_vector,
                                TITLE_WEIGHT,
                            )
                        ),
                    )
                    for pid, p in zip(ids, passages, strict=True)
                ],
            )
        await self._connection.execute(_INSERT_POSTINGS, (article_row,))
        return ids

    async def _next_passage_ids(self, count: int) -> list[int]:
        if not count:
            return []
        rows = await self._fetch("SELECT nextval('passage_ids') FROM generate_series(1, %s)", (count,))
        return [int(row[0]) for row in rows]

    async def advance_passage_ids(self) -> None:
        """After copying passages with their ids: new ones start above the highest."""
        await self._connection.execute(
            "SELECT setval('passage_ids', greatest((SELECT coalesce(max(id), 0) FROM passages), 1))"
        )

    # ---- staging: vectors embedded by a run that has not committed yet ------------------------------

    async def staged(self, hashes: Sequence[str]) -> dict[str, bytes]:
        rows = await self._fetch(
            "SELECT text_hash, vector FROM staged_vectors WHERE model = %s AND text_hash = ANY(%s::text[])",
            (self._model, list(dict.fromkeys(hashes))),
        )
        return {str(key): bytes(vector) for key, vector in rows}

    async def stage(self, items: dict[str, bytes]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO staged_vectors (text_hash, model, vector) VALUES (%s, %s, %s)"
                " ON CONFLICT (text_hash, model) DO UPDATE SET vector = excluded.vector",
                [(key, self._model, value) for key, value in items.items()],
            )

    async def clear_staged(self) -> None:
        await self._connection.execute("TRUNCATE staged_vectors")

    # ---- feedback (migrate) ------------------------------------------------------------------------

    async def delete_feedback(self) -> None:
        await self._connection.execute("DELETE FROM feedback")

    async def insert_feedback(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Copy votes: (created_at, user_id, guild_id, question, article_ids, helpful, answer_key)."""
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO feedback (created_at, user_id, guild_id, question, article_ids, helpful, answer_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (answer_key, user_id) DO NOTHING",
                [(*row[:5], bool(row[5]), row[6]) for row in rows],
            )

    # ---- consistency (doctor) -----------------------------------------------------------------------

    async def passage_vector_sources(
        self, passage_ids: Sequence[int] | None = None
    ) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
        """Each passage's id, its sentences' vectors and its title vector, in id order (for the doctor)."""
        where = "" if passage_ids is None else "WHERE p.id = ANY(%s::bigint[])"
        params = () if passage_ids is None else (sorted(set(passage_ids)),)
        query = (
            "SELECT p.id, array_agg(s.vector ORDER BY s.ordinal), a.title_vector FROM passages p"
            " JOIN sentences s ON s.article_row = p.article_row"
            " AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence"
            f" JOIN articles a ON a.id = p.article_row {where} GROUP BY p.id, a.title_vector ORDER BY p.id"
        )
        async with self._connection.cursor(name="passage_vector_sources") as cursor:
            await cursor.execute(query, params)
            async for passage_id, vectors, title in cursor:
                yield int(passage_id), [bytes(v) for v in vectors], bytes(title) if title is not None else None

    async def fetch(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        return await self._fetch(query, params)

    async def execute(self, query: str, params: Any = None) -> None:
        await self._connection.execute(query, params)

    async def all_passage_vectors(self) -> dict[int, np.ndarray]:
        cursor = self._connection.cursor(binary=True)
        await cursor.execute("SELECT id, embedding FROM passages")
        return {int(pid): vector for pid, vector in await cursor.fetchall()}

    async def actual_totals(self) -> dict[str, int]:
        rows = await self._fetch("SELECT count(*), coalesce(sum(token_count), 0) FROM passages")
        return {"passage_count": int(rows[0][0]), "token_total": int(rows[0][1])}

    async def vector_index_valid(self) -> bool:
        rows = await self._fetch(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('passages_embedding')"
        )
        return bool(rows and rows[0][0])

    async def rebuild_vector_index(self) -> None:
        await self._connection.execute("DROP INDEX IF EXISTS passages_embedding")
        await create_vector_index(self._connection)

    async def set_passage_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "UPDATE passages SET embedding = %s WHERE id = %s",
                [(HalfVector(vector), pid) for pid, vector in vectors.items()],
            )
