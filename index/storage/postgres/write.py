"""The PostgreSQL archive's writes: `PostgresWrite` (the `IndexWrite`: one transaction) and the reindex lock.

Rows and their vectors live in the same tables, so the transaction that replaces an article's rows replaces
its vector and its postings too: readers see the old article or the new one, never a mix, and a killed
writer leaves nothing behind (the server rolls its transaction back). The reindex lock is a session-level
advisory lock on the writer's own connection: a second reindex, from this host or another, is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from index._errors import IndexBusyError
from index._rows import NewArticleRow
from index.storage.base import FullTextRepair, VectorRepair
from index.storage.common import SCHEMA_VERSION, UNFINISHED_BUILD, passage_vector_from_blobs
from index.storage.postgres.codec import HalfVector
from index.storage.postgres.connect import Connection
from index.storage.postgres.extras import PostgresCopies
from index.storage.postgres.lexical import create_lexical_index, describe
from index.storage.postgres.schema import REINDEX_LOCK, TITLE_TERM_WEIGHT
from index.storage.postgres.search_indexes import (
    create_posting_indexes,
    create_vector_index,
    drop_posting_indexes,
    has_vector_index,
    type_embeddings,
)
from index.storage.postgres.sql import (
    PASSAGE_VECTOR_SOURCES,
    POSTINGS_OF_PASSAGES,
    WORD_COUNTS_OF_PASSAGES,
)
from index.storage.sql import (
    INSERT_ARTICLE,
    INSERT_SENTENCE,
    SET_META,
    UPDATE_FINGERPRINT,
    article_values,
    postgres,
    sentence_values,
)

FLUSH_PASSAGES = 5_000  # held passages sent by COPY at a time (bounded memory on the server's side too)
# An article's row id and its passages' ids, taken before its rows are sent (by COPY, with their ids).
_NEW_IDS = (
    "SELECT nextval(pg_get_serial_sequence('articles', 'id')),"
    " (SELECT array_agg(nextval('passage_ids')) FROM generate_series(1, %s))"
)
_ARTICLE_INSERT_COLUMNS = postgres(INSERT_ARTICLE).split("(", 1)[1].split(")", 1)[0]
_COPY_ARTICLES = f"COPY articles (id, {_ARTICLE_INSERT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_ARTICLE_TYPES = ["bigint"] + ["text"] * 7 + ["boolean"] + ["text"] * 6 + ["bytea", "text"]
_SENTENCE_INSERT_COLUMNS = postgres(INSERT_SENTENCE).split("(", 1)[1].split(")", 1)[0]
_COPY_SENTENCES = f"COPY sentences ({_SENTENCE_INSERT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_SENTENCE_TYPES = ["bigint", "integer", "integer", "integer", "text", "bytea"]
_PASSAGE_COLUMNS = 'id, article_row, ordinal, start, "end", first_sentence, last_sentence'
_PASSAGE_ROWS_TABLE = """
CREATE TEMPORARY TABLE IF NOT EXISTS archivebot_passage_rows (
    id bigint, article_row bigint, ordinal integer, start integer, "end" integer, first_sentence integer,
    last_sentence integer, title text, text text, embedding halfvec
) ON COMMIT DELETE ROWS
"""
_COPY_PASSAGES = f"COPY archivebot_passage_rows ({_PASSAGE_COLUMNS}, title, text, embedding) FROM STDIN (FORMAT BINARY)"
_PASSAGE_TYPES = ["bigint", "bigint"] + ["integer"] * 5 + ["text", "text", "halfvec"]
# The held passages and their postings in one statement, each passage's words parsed and stemmed once (on the
# BBC archive: 0.95 s of stemming for its 19k passages; the frequencies as `archivebot_term_frequencies`
# counts them, which the doctor's check compares with, without its jsonb: 0.9 s instead of 1.8 s).
# The postings' foreign key, when present, is checked at the end of the statement, when the passages are in.
_PASSAGES_AND_POSTINGS_FROM_ROWS = f"""
WITH held AS MATERIALIZED (
    SELECT r.*, archivebot_words(r.title, r.text) AS lexemes FROM archivebot_passage_rows r
), counted AS MATERIALIZED (
    SELECT h.*, archivebot_word_count(h.lexemes) AS token_count FROM held h
), inserted AS (
    INSERT INTO passages ({_PASSAGE_COLUMNS}, token_count, words, embedding, first_copy)
    SELECT {_PASSAGE_COLUMNS}, token_count, archivebot_bm25_text(title, text), embedding, NOT EXISTS (
        SELECT 1 FROM articles a JOIN articles b ON b.body_hash = a.body_hash AND b.id < a.id
        WHERE a.id = counted.article_row
    ) FROM counted
)
INSERT INTO postings (lexeme, passage_id, frequency, length)
SELECT u.lexeme, c.id, (
    SELECT coalesce(sum(CASE WHEN w = 'A' THEN {TITLE_TERM_WEIGHT} ELSE 1 END), 1) FROM unnest(u.weights) w
), c.token_count
FROM counted c, unnest(c.lexemes) u
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
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid = %s AND l.objid = %s LIMIT 1",
        (REINDEX_LOCK >> 32, REINDEX_LOCK & 0xFFFFFFFF),
    )
    holder = await cursor.fetchone()
    who = f" ({holder[0]}, since {holder[1]} UTC)" if holder and holder[0] else ""
    raise IndexBusyError(f"another reindex is already running on this database{who}: wait for it to finish")


async def release_reindex_lock(connection: Connection) -> None:
    """Released now, not when the server notices the closed connection (a few ms later: long enough to
    refuse the next run of the same process)."""
    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await connection.execute("ROLLBACK")  # an exception left a transaction open: it must not commit
    await connection.execute("SELECT pg_advisory_unlock(%s)", (REINDEX_LOCK,))


class PostgresWrite:
    """The `IndexWrite`: statements inside the transaction the session opened."""

    def __init__(self, connection: Connection, meta: dict[str, str]) -> None:
        self._connection = connection
        self._meta = meta
        self._typed = False  # the vector column checked (and typed) for this write's vectors
        self._dropped_indexes = False  # this write began a first build: its search indexes are dropped
        self._pending: list[tuple[int, NewArticleRow, list[int]]] = []  # held for COPY (see `flush`)
        self._pending_passages = 0
        self.inserted_passages = 0

    async def _fetch(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        await self.flush()  # every statement sees the held rows
        cursor = await self._connection.execute(query, params)
        return await cursor.fetchall()

    async def set_meta(self, values: dict[str, Any]) -> None:
        await self.flush()
        async with self._connection.cursor() as cursor:
            await cursor.executemany(postgres(SET_META), [(key, str(value)) for key, value in values.items()])

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None:
        await self.flush()
        if fingerprints:
            async with self._connection.cursor() as cursor:
                await cursor.executemany(postgres(UPDATE_FINGERPRINT), [(fp, row) for row, fp in fingerprints.items()])

    async def delete_articles(self, rows: Sequence[int]) -> None:
        """Articles with their passages (so their vectors) and sentences, by foreign-key cascade; their postings
        first, as the cascade would (a first build's commits run without the postings' key: see schema.py)."""
        await self.flush()
        if rows:
            await self._connection.execute(
                "DELETE FROM postings WHERE passage_id IN"
                " (SELECT id FROM passages WHERE article_row = ANY(%s::bigint[]))",
                (list(rows),),
            )
            cursor = await self._connection.execute(
                "DELETE FROM articles WHERE id = ANY(%s::bigint[]) RETURNING body_hash", (list(rows),)
            )
            bodies = sorted({str(body) for (body,) in await cursor.fetchall()})
            await self._connection.execute(_PROMOTE_FIRST_COPIES, (bodies,))

    async def _type_vectors(self, dimension: int) -> None:
        """Before the first insert: a first build (or a new dimension) types the vector column and drops the
        HNSW, BM25 and lexeme-ordered postings indexes, which the build's last commit builds once over all the
        rows (several times faster than growing them row by row; the commits before it leave them out, see
        `commit_vectors`). An update keeps them: dropping one would lock readers out until COMMIT."""
        if self._typed:
            return
        self._typed = True
        first_build = "generation" not in self._meta or self._meta.get("dimension") != str(dimension)
        if first_build and await type_embeddings(self._connection, dimension):
            await drop_posting_indexes(self._connection)
            self._dropped_indexes = True

    async def insert_article(self, new: NewArticleRow, passage_ids: Sequence[int] | None = None) -> list[int]:
        """One article with its sentences, passages (and their vectors) and postings. Returns the passage ids:
        new ones from a sequence that never repeats an id, or `passage_ids` when copying an archive. The rows
        are held and sent by COPY, `FLUSH_PASSAGES` passages at a time, before any other statement of this
        write (or at `commit_vectors`): same transaction, so readers still see them all at COMMIT or none."""
        passages, passage_vectors = new.passages, new.passage_vectors
        if len(passages):
            await self._type_vectors(int(np.asarray(passage_vectors).shape[1]))
        count = 0 if passage_ids is not None else len(passages)
        cursor = await self._connection.execute(_NEW_IDS, (count,))
        row = await cursor.fetchone()
        assert row is not None
        article_row = int(row[0])
        ids = list(passage_ids) if passage_ids is not None else [int(i) for i in row[1] or []]
        self._pending.append((article_row, new, ids))
        self._pending_passages += len(ids)
        self.inserted_passages += len(ids)
        if self._pending_passages >= FLUSH_PASSAGES:
            await self.flush()
        return ids

    async def flush(self) -> None:
        """Send the held articles: COPY of articles, sentences and passages (through a temporary table, where
        the server counts each passage's words), then their postings in one statement."""
        pending, self._pending, self._pending_passages = self._pending, [], 0
        if not pending:
            return
        await self._connection.execute(_PASSAGE_ROWS_TABLE)
        async with self._connection.cursor() as cursor:
            async with cursor.copy(_COPY_ARTICLES) as copy:
                copy.set_types(_ARTICLE_TYPES)
                for article_row, new, _ in pending:
                    await copy.write_row((article_row, *article_values(new)))
            async with cursor.copy(_COPY_SENTENCES) as copy:
                copy.set_types(_SENTENCE_TYPES)
                for article_row, new, _ in pending:
                    for values in sentence_values(article_row, new):
                        await copy.write_row(values)
            async with cursor.copy(_COPY_PASSAGES) as copy:
                copy.set_types(_PASSAGE_TYPES)
                for article_row, new, ids in pending:
                    for pid, p, vector in zip(ids, new.passages, new.passage_vectors, strict=True):
                        await copy.write_row(
                            (pid, article_row, p.ordinal, p.start, p.end, p.first_sentence, p.last_sentence)
                            + (new.article.title, p.text, HalfVector(vector))
                        )
        await self._connection.execute(_PASSAGES_AND_POSTINGS_FROM_ROWS)
        await self._connection.execute("TRUNCATE archivebot_passage_rows")

    async def _lexical_mode(self) -> str | None:
        """The archive's lexical path, from the table (a copy starts from empty meta, see migrate.py)."""
        rows = await self._fetch("SELECT value FROM meta WHERE key = 'lexical'")
        return str(rows[0][0]) if rows else None

    async def _next_passage_ids(self, count: int) -> list[int]:
        if not count:
            return []
        rows = await self._fetch("SELECT nextval('passage_ids') FROM generate_series(1, %s)", (count,))
        return [int(row[0]) for row in rows]

    def copies(self) -> PostgresCopies:
        """The copy tables on this write's connection (inside its transaction). Held articles are sent by
        `commit_vectors` (the indexer and `migrate` call it, or `advance_passage_ids`, before grouping copies)."""
        return PostgresCopies(self._connection)

    async def commit_vectors(
        self, *, model: str, dimension: int, factory: str, rebuild: bool = False, final: bool = True
    ) -> None:
        """The vectors went in with their rows: build the search indexes a first build dropped (in its last
        commit: until then `UNFINISHED_BUILD` is recorded, and questions are answered without them, exactly
        but slower), record the totals BM25 needs and the next generation with model, dimension and schema
        version."""
        await self.flush()
        del factory, rebuild  # the server keeps one HNSW index whatever the archive's size
        unfinished = not final and (self._dropped_indexes or UNFINISHED_BUILD in self._meta)
        if unfinished:
            await self.refresh_totals()
        else:
            await self._finish_vectors()
            await self._connection.execute("DELETE FROM meta WHERE key = %s", (UNFINISHED_BUILD,))
        generation = int(self._meta.get("generation", "0") or 0) + 1
        await self.set_meta(
            {
                "generation": generation,
                "model": model,
                "dimension": dimension,
                "schema_version": SCHEMA_VERSION,
                "index_factory": index_description(await self._lexical_mode()),
            }
            | ({UNFINISHED_BUILD: "1"} if unfinished else {})
        )

    async def _finish_vectors(self) -> None:
        built = await create_posting_indexes(self._connection)
        if not await has_vector_index(self._connection):
            await create_vector_index(self._connection)
            built = True
        if await create_lexical_index(self._connection, await self._lexical_mode()):
            built = True
        if built:
            await self._connection.execute("ANALYZE passages, postings")
        await self.refresh_totals()

    async def refresh_totals(self) -> None:
        """The passage count and their total length in words (BM25's N and average length), recorded in the
        transaction that changed them, so every snapshot carries its own."""
        await self.flush()
        rows = await self._fetch("SELECT count(*), coalesce(sum(token_count), 0) FROM passages")
        await self.set_meta({"passage_count": int(rows[0][0]), "token_total": int(rows[0][1])})

    # ---- repairs (doctor) ---------------------------------------------------------------------------

    async def commit_full_text(self) -> None:
        return None  # PostgreSQL's full-text rows and indexes are tables, committed with the rows

    async def delete_orphan_rows(self) -> int:
        return 0  # foreign keys with ON DELETE CASCADE: the server never keeps a row of no article

    async def repair_full_text(self, stale: set[int]) -> FullTextRepair:
        """Rewrite the postings (and word counts) of the `stale` passages and of passages without any."""
        await self.flush()
        missing = {int(row[0]) for row in await self._fetch(_WITHOUT_POSTINGS)}
        rewrite = sorted(stale | missing)
        if rewrite:
            await self._connection.execute("DELETE FROM postings WHERE passage_id = ANY(%s::bigint[])", (rewrite,))
            await self._connection.execute(WORD_COUNTS_OF_PASSAGES, (rewrite,))
            await self._connection.execute(POSTINGS_OF_PASSAGES, (rewrite,))
        await self.refresh_totals()
        return FullTextRepair(len(rewrite), 0, 0, 0)

    async def repair_vectors(self, wrong: set[int], unusable: bool) -> VectorRepair | None:
        """Recompute the `wrong` passages' vectors (every passage's when `unusable`) from their stored sentence
        vectors, and rebuild the HNSW index if it is missing or invalid."""
        await self.flush()
        fixed = 0
        if wrong or unusable:
            params = None if unusable else (sorted(wrong),)
            where = "" if unusable else "WHERE p.id = ANY(%s::bigint[])"
            updates: list[tuple[HalfVector, int]] = []
            cursor = self._connection.cursor(name="archivebot_repair_vectors")
            await cursor.execute(PASSAGE_VECTOR_SOURCES.format(where=where), params)
            async for passage_id, blobs, title in cursor:
                vector = passage_vector_from_blobs([bytes(b) for b in blobs], bytes(title) if title else None)
                updates.append((HalfVector(vector), int(passage_id)))
            await cursor.close()
            async with self._connection.cursor() as writer:
                await writer.executemany("UPDATE passages SET embedding = %s WHERE id = %s", updates)
            fixed = len(updates)
        rebuilt_index = not await vector_index_valid(self._connection)
        if await create_lexical_index(self._connection, await self._lexical_mode()):
            rebuilt_index = True
        if rebuilt_index:
            await self._connection.execute("DROP INDEX IF EXISTS passages_embedding")
            await create_vector_index(self._connection)
        if not fixed and not rebuilt_index:
            return None
        count = (await self._fetch("SELECT count(*) FROM passages"))[0][0]
        return VectorRepair(fixed if unusable else None, 0, 0 if unusable else fixed, "passages_embedding", count)

    # ---- copying an embedded archive (migrate) -------------------------------------------------------

    async def delete_everything(self) -> None:
        await self.flush()
        await self._connection.execute(
            "TRUNCATE articles, passages, sentences, postings, feedback, copy_content_keys, copy_content_pairs,"
            " copy_content_groups, questions"
        )

    async def insert_feedback(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Votes as (created_at, user_id, guild_id, question, article_ids, helpful, answer_key)."""
        await self.flush()
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO feedback (created_at, user_id, guild_id, question, article_ids, helpful, answer_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (answer_key, user_id) DO NOTHING",
                [(*row[:5], bool(row[5]), row[6]) for row in rows],
            )

    async def advance_passage_ids(self) -> None:
        """After copying passages with their ids: new ones start above the highest."""
        await self.flush()
        await self._connection.execute(
            "SELECT setval('passage_ids', greatest((SELECT coalesce(max(id), 0) FROM passages), 1))"
        )


# A deleted article's copies: the oldest one left holds the body's passages in the HNSW index now.
_PROMOTE_FIRST_COPIES = """
UPDATE passages SET first_copy = true WHERE NOT first_copy AND article_row IN (
    SELECT min(id) FROM articles WHERE body_hash = ANY(%s::text[]) GROUP BY body_hash
)
"""
_WITHOUT_POSTINGS = "SELECT p.id FROM passages p WHERE NOT EXISTS (SELECT 1 FROM postings o WHERE o.passage_id = p.id)"


def index_description(lexical: str | None) -> str:
    """What `stats` shows as the index type: the vector index and the lexical path (`meta.lexical`)."""
    from index.storage.postgres.search_indexes import HNSW_EF_CONSTRUCTION, HNSW_M

    vectors = f"pgvector HNSW halfvec cosine (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION})"
    return f"{vectors}; {describe(lexical)}"


async def vector_index_valid(connection: Connection) -> bool:
    cursor = await connection.execute(
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('passages_embedding')"
    )
    row = await cursor.fetchone()
    return bool(row and row[0])
