"""The PostgreSQL archive's search indexes: the typed vector column and its HNSW index (partial: one copy of
each text, see migration 5 in schema.py), and the postings' lexeme-ordered indexes, which a first build drops
and builds once at its end (`PostgresWrite`); the pg_textsearch index is in lexical.py."""

from __future__ import annotations

import psycopg
from psycopg import sql

from index.storage.postgres.lexical import drop_lexical_index

# HNSW build parameters, chosen on the BBC archive's real vectors (docs/scale-out.md, "HNSW parameters").
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
HNSW_EF_SEARCH = 200


async def embedding_dimension(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> int | None:
    """The dimension `passages.embedding` is typed with (None while it is untyped: nothing indexed yet)."""
    cursor = await connection.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'passages'::regclass AND attname = 'embedding'"
    )
    row = await cursor.fetchone()
    typmod = int(row[0]) if row else -1  # type: ignore[call-overload]  # pg_attribute.atttypmod is an int4
    return typmod if typmod > 0 else None


async def type_embeddings(connection: psycopg.AsyncConnection[tuple[object, ...]], dimension: int) -> bool:
    """Type `passages.embedding` as halfvec(dimension), for a table with no passages (a first build, or a full
    rebuild that deleted every passage in the same transaction). The HNSW index is dropped: building it once
    after the rows are in is several times faster than growing it row by row; `create_vector_index` at the end
    of the transaction puts it back. Returns whether the index must be created again."""
    if await embedding_dimension(connection) == dimension:
        cursor = await connection.execute("SELECT EXISTS (SELECT 1 FROM passages)")
        row = await cursor.fetchone()
        if row and row[0]:
            return False  # incremental: the index stays and grows with the inserts
    await connection.execute("DROP INDEX IF EXISTS passages_embedding")
    await drop_lexical_index(connection)  # built once at the end too (PostgresWrite._finish_vectors)
    await connection.execute(
        sql.SQL("ALTER TABLE passages ALTER COLUMN embedding TYPE halfvec({})").format(sql.Literal(dimension))
    )
    return True


async def create_vector_index(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    await connection.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(INDEX_BUILD_MEMORY)))
    await connection.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS passages_embedding ON passages USING hnsw (embedding halfvec_cosine_ops)"
            " WITH (m = {}, ef_construction = {}) WHERE first_copy"
        ).format(sql.Literal(HNSW_M), sql.Literal(HNSW_EF_CONSTRUCTION))
    )


# The postings' lexeme-ordered index and their foreign key: each posting lands at a random place in the
# index, and the key is checked posting by posting (3.4 of the 4.2 s that inserting the BBC archive's 1M
# postings took; adding the key afterwards checks them all in one join). So a first build drops them with the
# HNSW and BM25 indexes and builds them once at its end (`postings_passage`, in passage order, stays: deletes
# use it; `PostgresWrite.delete_articles` deletes postings itself for the time the key is absent).
_POSTING_INDEXES = (
    (
        "postings_impact",
        "CREATE INDEX postings_impact ON postings (lexeme, weight DESC) INCLUDE (passage_id, frequency, length)",
    ),
    (
        "postings_passage_id_fkey",
        "ALTER TABLE postings ADD CONSTRAINT postings_passage_id_fkey"
        " FOREIGN KEY (passage_id) REFERENCES passages (id) ON DELETE CASCADE",
    ),
)
# Memory for one index build (each of the statements above, and HNSW's graph, which pgvector builds far faster
# while it fits): the server's default, 64 MB, spills a million passages' postings to disk.
INDEX_BUILD_MEMORY = "1GB"


async def drop_posting_indexes(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    await connection.execute("DROP INDEX IF EXISTS postings_impact")
    await connection.execute("ALTER TABLE postings DROP CONSTRAINT IF EXISTS postings_passage_id_fkey")


async def create_posting_indexes(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
    """The postings indexes and key a first build dropped. Returns whether any was built."""
    built = False
    for name, statement in _POSTING_INDEXES:
        cursor = await connection.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'postings'::regclass AND conname = %s)"
            " AND to_regclass(%s) IS NULL",
            (name, name),
        )
        row = await cursor.fetchone()
        if row and row[0]:
            await connection.execute(statement)
            built = True
    return built


async def has_vector_index(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
    cursor = await connection.execute("SELECT to_regclass('passages_embedding') IS NOT NULL")
    row = await cursor.fetchone()
    return bool(row and row[0])
