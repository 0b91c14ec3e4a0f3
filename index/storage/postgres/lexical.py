"""BM25 in PostgreSQL without reading every posting: a pg_textsearch index where the server has the extension,
a top-k over stored per-posting weights where it does not.

The archive's lexical path is chosen once, when the schema is set up, and recorded in `meta.lexical`:
- `pg_textsearch`: a `bm25` index (Tiger Data's pg_textsearch, Block-Max WAND top-k) on `passages.words`
  (the title twice, as FTS5 weighs it, then the passage's text), English Snowball stems without stop words.
- `postings`: each posting stores its BM25 term weight (`postings.weight`, computed for a nominal passage
  length), indexed `(lexeme, weight DESC)`; a question reads the best `TOP_POSTINGS` postings of each of its
  stems and scores them exactly (the real average length, idf from the `lexeme_passages` table of document
  frequencies, kept by statement triggers), instead of aggregating every posting of every stem.
Measured on a 1M-passage table (p50 / p95, top-64): every posting aggregated 148 / 416 ms, pg_textsearch
7.6 / 14.5 ms, the stored-weight top-k 3.5 / 8.3 ms (docs/scale-out.md).
"""

from __future__ import annotations

import psycopg

Connection = psycopg.AsyncConnection[tuple[object, ...]]  # as schema.py types it (connect.py imports schema)

PG_TEXTSEARCH = "pg_textsearch"
POSTINGS = "postings"
LEXICAL_MODES = (PG_TEXTSEARCH, POSTINGS)
SET_UP_KEYS = frozenset({"lexical"})  # meta written by the schema set-up, not by an index run
TEXT_SEARCH_CONFIG = "archivebot_english"  # created by migration 1 (schema.py)
BM25_INDEX = "passages_words_bm25"
BM25_K1 = 1.2
BM25_B = 0.75
NOMINAL_PASSAGE_WORDS = 120  # the length stored weights assume (only which postings are read depends on it)
TOP_POSTINGS = 1024  # postings read per question stem by the `postings` path
# pg_textsearch 1.0 takes a per-index lock for the whole of a transaction that writes the index (shared for
# readers, exclusive for writers; not interruptible, so `statement_timeout` does not end the wait): a question
# asked during an index commit would wait for the commit, and forever behind a paused one. So every write
# transaction first takes this advisory lock (exclusive, transaction level; it waits for questions already
# in the index, a few ms), and a question uses the index only if it gets the lock shared at once; otherwise
# it is answered by the postings path, which the same transaction keeps current.
BM25_WRITE_LOCK = 0x61726368_69766503  # "archive" + 3
TRY_BM25_READ = "SELECT pg_try_advisory_xact_lock_shared(%s)"
TAKE_BM25_WRITE = "SELECT pg_advisory_xact_lock(%s)"


async def _one(connection: Connection, query: str) -> object:
    cursor = await connection.execute(query)
    row = await cursor.fetchone()
    return row[0] if row else None


async def pg_textsearch_available(connection: Connection) -> bool:
    """Whether pg_textsearch is (or can be) enabled in this database: installed on the server, loaded
    (it must be in shared_preload_libraries) and creatable by this user. Tried in a savepoint."""
    if await _one(connection, "SELECT 1 FROM pg_extension WHERE extname = 'pg_textsearch'"):
        return True
    if not await _one(connection, "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_textsearch'"):
        return False
    try:
        async with connection.transaction():
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_textsearch")
    except psycopg.Error:
        return False
    return True


async def choose_lexical_mode(connection: Connection) -> str:
    """The lexical path recorded in meta, or (at schema set-up) pg_textsearch when the server has it, else the
    stored-weight postings; recorded in meta, and the BM25 index created (empty tables: cheap)."""
    recorded = await _one(connection, "SELECT value FROM meta WHERE key = 'lexical'")
    if recorded in LEXICAL_MODES:
        return str(recorded)
    mode = PG_TEXTSEARCH if await pg_textsearch_available(connection) else POSTINGS
    if mode == PG_TEXTSEARCH:
        await create_lexical_index(connection, mode)
    await connection.execute(
        "INSERT INTO meta (key, value) VALUES ('lexical', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (mode,),
    )
    from index.storage.postgres.write import index_description

    # An archive built before: its stats name the new lexical path at once.
    await connection.execute("UPDATE meta SET value = %s WHERE key = 'index_factory'", (index_description(mode),))
    return mode


async def create_lexical_index(connection: Connection, mode: str | None) -> bool:
    """The pg_textsearch index, when that is the archive's path and it is missing. Returns whether it was built."""
    if mode != PG_TEXTSEARCH or await has_lexical_index(connection):
        return False
    # Schema-qualified: pg_textsearch 1.0 resolves the configuration outside the search path.
    schema = await _one(
        connection,
        "SELECT n.nspname FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace"
        f" WHERE c.oid = '{TEXT_SEARCH_CONFIG}'::regconfig",
    )
    await connection.execute(
        f"CREATE INDEX {BM25_INDEX} ON passages USING bm25 (words)"
        f" WITH (text_config = '{schema}.{TEXT_SEARCH_CONFIG}', k1 = {BM25_K1}, b = {BM25_B})"
    )
    return True


async def drop_lexical_index(connection: Connection) -> None:
    await connection.execute(f"DROP INDEX IF EXISTS {BM25_INDEX}")


async def has_lexical_index(connection: Connection) -> bool:
    return bool(await _one(connection, f"SELECT to_regclass('{BM25_INDEX}') IS NOT NULL"))


def describe(mode: str | None) -> str:
    if mode == PG_TEXTSEARCH:
        return "lexical: pg_textsearch BM25 index"
    if mode == POSTINGS:
        return f"lexical: postings top-{TOP_POSTINGS} by stored BM25 weight"
    return "lexical: postings"


# The pg_textsearch path: its scores are negative BM25 (lower is better); passages holding no query stem score 0.
BM25_INDEX_QUERY = f"""
SELECT id, -(words <@> to_bm25query(%(text)s, '{BM25_INDEX}')) AS score FROM passages
ORDER BY words <@> to_bm25query(%(text)s, '{BM25_INDEX}')
LIMIT %(limit)s
"""

# The postings path: per question stem its idf (FTS5's formula, document frequency from the table), its best
# TOP_POSTINGS postings by stored weight (an index-only scan of postings_impact), scored with the real average.
TOP_POSTINGS_QUERY = f"""
WITH stat AS MATERIALIZED (
    SELECT f.lexeme, greatest(ln((%(total)s - f.passages + 0.5) / (f.passages + 0.5)), 1e-6) AS idf
    FROM (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', %(text)s)) AS t) l
    JOIN lexeme_passages f ON f.lexeme = l.lexeme AND f.passages > 0
)
SELECT o.passage_id, sum(
    s.idf * o.frequency * ({BM25_K1} + 1)
    / (o.frequency + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * o.length / %(average)s))
) AS score
FROM stat s, LATERAL (
    SELECT passage_id, frequency, length FROM postings WHERE lexeme = s.lexeme ORDER BY weight DESC
    LIMIT {TOP_POSTINGS}
) o
GROUP BY o.passage_id
ORDER BY score DESC, o.passage_id
LIMIT %(limit)s
"""
