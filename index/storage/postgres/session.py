"""The PostgreSQL archive's writer session (`IndexSession`, with its staging) and the doctor's snapshot
(`ArchiveCheck`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np

from index._models import ParsedArticle
from index._rows import StoredArticleState
from index.storage.base import FullTextFindings, UnfinishedWork
from index.storage.common import UNFINISHED_BUILD
from index.storage.postgres.connect import Connection
from index.storage.postgres.lexical import BM25_WRITE_LOCK, SET_UP_KEYS, TAKE_BM25_WRITE
from index.storage.postgres.schema import SCHEMA_VERSION as DATABASE_SCHEMA_VERSION
from index.storage.postgres.schema import schema_version
from index.storage.postgres.search_indexes import embedding_dimension
from index.storage.postgres.sql import PASSAGE_VECTOR_SOURCES, STALE_POSTINGS
from index.storage.postgres.write import PostgresWrite, vector_index_valid
from index.storage.sql import ARTICLE_STATES, COUNTS, META, PASSAGE_IDS

VACUUM_AFTER_PASSAGES = 2_000  # smaller writes are left to autovacuum
_STORED_ARTICLES = (
    "SELECT article_id, location, path, title, title_derived, source, published, dateline, byline, url, body,"
    " content_hash, fingerprint FROM articles WHERE id = ANY(%s::bigint[]) ORDER BY id"
)


async def _fetch(connection: Connection, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    cursor = await connection.execute(query, params)
    return await cursor.fetchall()


async def read_meta(connection: Connection) -> dict[str, str]:
    """The archive's meta, without what the schema set-up records (`lexical`): a database that holds no archive
    yet reads as empty (the indexer takes a non-empty meta for an archive built before). Snapshots read it all."""
    return {str(key): str(value) for key, value in await _fetch(connection, META) if key not in SET_UP_KEYS}


class PostgresStaging:
    """The `VectorStaging`: texts embedded by an unfinished run, in an UNLOGGED table (each batch committed
    on its own, so a killed run keeps them; cleared when the run finishes)."""

    def __init__(self, connection: Connection, model: str) -> None:
        self._connection = connection
        self._model = model

    async def get(self, hashes: Sequence[str]) -> dict[str, bytes]:
        rows = await _fetch(
            self._connection,
            "SELECT text_hash, vector FROM staged_vectors WHERE model = %s AND text_hash = ANY(%s::text[])",
            (self._model, list(dict.fromkeys(hashes))),
        )
        return {str(key): bytes(vector) for key, vector in rows}

    async def put(self, vectors: dict[str, bytes]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO staged_vectors (text_hash, model, vector) VALUES (%s, %s, %s)"
                " ON CONFLICT (text_hash, model) DO UPDATE SET vector = excluded.vector",
                [(key, self._model, value) for key, value in vectors.items()],
            )

    async def clear(self) -> None:
        await self._connection.execute("TRUNCATE staged_vectors")


class PostgresSession:
    """The `IndexSession`: its own connection, holding the reindex lock (taken by the storage)."""

    def __init__(self, connection: Connection, meta: dict[str, str]) -> None:
        self._connection = connection
        self.meta = meta
        self._unvacuumed = 0  # passages this session committed since its last VACUUM

    async def article_states(self) -> list[StoredArticleState]:
        rows = await _fetch(self._connection, ARTICLE_STATES)
        return [StoredArticleState(int(row[0]), *row[1:]) for row in rows]

    async def vectors_by_text_hash(self, hashes: Sequence[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return {}
        rows = await _fetch(
            self._connection,
            # One row per hash, not every sentence with that text (a sentence held by k syndicated copies cost
            # k rows, sorted, at every lookup: most of the server's time in a 53-copy build).
            "SELECT h, (SELECT s.vector FROM sentences s WHERE s.text_hash = h LIMIT 1) FROM unnest(%s::text[]) AS h",
            (unique,),
        )
        return {str(key): bytes(vector) for key, vector in rows if vector is not None}

    async def title_vectors(self, article_ids: Sequence[str]) -> dict[str, bytes]:
        rows = await _fetch(
            self._connection,
            "SELECT title, title_vector FROM articles WHERE article_id = ANY(%s::text[]) AND title_vector IS NOT NULL",
            (list(article_ids),),
        )
        return {str(title): bytes(vector) for title, vector in rows}

    async def stored_articles(self, rows: Sequence[int]) -> list[tuple[ParsedArticle, str]]:
        found: list[tuple[ParsedArticle, str]] = []
        for values in await _fetch(self._connection, _STORED_ARTICLES, (list(rows),)):
            *fields, fingerprint = values
            fields[4] = bool(fields[4])
            found.append((ParsedArticle(*fields), str(fingerprint)))
        return found

    def staging(self, model: str) -> PostgresStaging:
        return PostgresStaging(self._connection, model)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[PostgresWrite]:
        """One transaction: everything written through it becomes visible at COMMIT, or not at all. After a
        large one, VACUUM ANALYZE: BM25 reads the postings by index-only scans, which need the visibility map
        (a freshly migrated BBC archive answered its full-text half in 156 ms p50 before, 2 ms after).

        A first build's chunks are vacuumed once, after its last commit (which builds the indexes the scans
        read): a VACUUM after each of the 56 chunks of the 1M-passage build took 70 of its 954 s (bench/HISTORY.md,
        2026-12-07 (late)), and while the build runs there is no lexeme index to scan; autovacuum still
        analyses the growing tables for the questions answered meanwhile."""
        building = UNFINISHED_BUILD in self.meta
        write = PostgresWrite(self._connection, self.meta)
        async with self._connection.transaction():
            await self._connection.execute(TAKE_BM25_WRITE, (BM25_WRITE_LOCK,))  # see lexical.BM25_WRITE_LOCK
            yield write
        self.meta = await read_meta(self._connection)
        self._unvacuumed += write.inserted_passages
        if UNFINISHED_BUILD in self.meta:
            return
        if self._unvacuumed >= VACUUM_AFTER_PASSAGES or building:
            await self._connection.execute("VACUUM (ANALYZE) passages, postings, sentences, articles")
            self._unvacuumed = 0


class PostgresVectorSet:
    """The `VectorSet` of a snapshot: every passage's stored vector (read once, for the doctor)."""

    def __init__(self, vectors: dict[int, np.ndarray], dimension: int) -> None:
        self._vectors = vectors
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def size(self) -> int:
        return len(self._vectors)

    def ids(self) -> np.ndarray:
        return np.fromiter(self._vectors, dtype=np.int64, count=len(self._vectors))

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        return {pid: self._vectors[pid] for pid in ids if pid in self._vectors}


class PostgresCheck:
    """The `ArchiveCheck`: a read-only snapshot on a pooled connection, rolled back afterwards."""

    vectors_name = "passages.embedding"

    def __init__(self, connection: Connection, meta: dict[str, str]) -> None:
        self._connection = connection
        self.meta = meta

    async def counts(self) -> dict[str, int]:
        rows = await _fetch(self._connection, COUNTS)
        articles, passages, sentences = (int(value) for value in rows[0])
        return {"articles": articles, "passages": passages, "sentences": sentences}

    async def passage_ids(self) -> set[int]:
        return {int(row[0]) for row in await _fetch(self._connection, PASSAGE_IDS)}

    async def integrity_problems(self) -> list[str]:
        """What the server's own constraints can't catch: the schema's version, the vector column's type and
        index. (Rows of no article can't exist: foreign keys cascade.)"""
        problems: list[str] = []
        version = await schema_version(self._connection)
        if version != DATABASE_SCHEMA_VERSION:
            problems.append(
                f"database schema version {version}, this version of Archivebot uses {DATABASE_SCHEMA_VERSION}"
            )
        stored = await embedding_dimension(self._connection)
        dimension = self.meta.get("dimension")
        if stored is not None and dimension and str(stored) != dimension:
            problems.append(f"the vector column holds {stored}-dimensional vectors, the metadata says {dimension}")
        return problems

    async def orphan_rows(self) -> int:
        return 0

    async def articles_with_bad_vectors(self, dimension: int) -> set[int]:
        rows = await _fetch(
            self._connection,
            "SELECT article_row FROM sentences WHERE octet_length(vector) <> %s"
            " UNION SELECT id FROM articles WHERE title_vector IS NOT NULL AND octet_length(title_vector) <> %s",
            (2 * dimension, 2 * dimension),
        )
        return {int(row[0]) for row in rows}

    async def articles_with_missing_sentences(self) -> set[int]:
        rows = await _fetch(
            self._connection,
            "SELECT DISTINCT p.article_row FROM passages p WHERE (SELECT count(*) FROM sentences s"
            " WHERE s.article_row = p.article_row AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence)"
            " <> p.last_sentence - p.first_sentence + 1",
        )
        return {int(row[0]) for row in rows}

    async def full_text(self) -> FullTextFindings:
        """Postings: passages without any (missing) and passages whose postings disagree with their text."""
        (covered,) = (await _fetch(self._connection, "SELECT count(DISTINCT passage_id) FROM postings"))[0]
        missing = await _fetch(
            self._connection,
            "SELECT p.id FROM passages p WHERE NOT EXISTS (SELECT 1 FROM postings o WHERE o.passage_id = p.id)",
        )
        stale = await _fetch(self._connection, STALE_POSTINGS)
        return FullTextFindings(
            int(covered), {int(row[0]) for row in missing}, set(), {int(row[0]) for row in stale}, 0
        )

    async def vectors(self) -> PostgresVectorSet:
        cursor = self._connection.cursor(binary=True)
        await cursor.execute("SELECT id, embedding FROM passages")
        vectors = {int(pid): vector for pid, vector in await cursor.fetchall()}
        dimension = await embedding_dimension(self._connection) or int(self.meta.get("dimension", "0") or 0)
        building = UNFINISHED_BUILD in self.meta  # a first build's chunks: the index comes with its last commit
        if not building and vectors and not await vector_index_valid(self._connection):
            from index.storage.base import VectorsUnusableError

            raise VectorsUnusableError("the HNSW index on passages.embedding is missing or invalid")
        return PostgresVectorSet(vectors, dimension)

    async def passage_vector_sources(self) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
        cursor = self._connection.cursor(name="archivebot_check_vectors")
        await cursor.execute(PASSAGE_VECTOR_SOURCES.format(where=""))
        async for passage_id, blobs, title in cursor:
            yield int(passage_id), [bytes(blob) for blob in blobs], bytes(title) if title is not None else None
        await cursor.close()

    async def unfinished_work(self) -> UnfinishedWork:
        (staged,) = (await _fetch(self._connection, "SELECT count(*) FROM staged_vectors"))[0]
        return UnfinishedWork(0, int(staged), "the staged_vectors table")
