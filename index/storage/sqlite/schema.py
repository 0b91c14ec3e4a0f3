"""The embedded backend's SQLite schema, connections and transactions, the helpers its roles share and the
few queries more than one role runs (meta, counts, passage ids, passage vector sources).

Tables: `meta` (model, dimension, schema version, FAISS generation, roots), `articles`, `passages`,
`sentences` (offsets and a float16 vector each: the source of truth the FAISS index is rebuilt from),
`passages_fts` (FTS5 over passage text and article title, rowid = passage id), `articles_fts`
(titles, for search and autocomplete), the copy tables (`copies.py`), and `feedback` and `questions` (in
their own database file, so a long reindex never blocks them). The FAISS vector id of a passage is its
`passages.id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from index._errors import IndexCorruptError, IndexNotBuiltError
from index._rows import KINDS
from index.storage import sql
from index.storage.layout import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    title_derived INTEGER NOT NULL DEFAULT 0,
    source TEXT,
    published TEXT,
    dateline TEXT,
    byline TEXT,
    url TEXT,
    body TEXT NOT NULL,
    title_vector BLOB,
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_path ON articles(path);
CREATE INDEX IF NOT EXISTS articles_body_hash ON articles(body_hash);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_row INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL,
    last_sentence INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_row);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_row INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_row, ordinal);
CREATE INDEX IF NOT EXISTS sentences_hash ON sentences(text_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    title, tokenize = 'unicode61 remove_diacritics 2'
);
"""

FEEDBACK_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    user_id TEXT NOT NULL,
    guild_id TEXT,
    question TEXT NOT NULL,
    article_ids TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    answer_key TEXT NOT NULL,
    UNIQUE (answer_key, user_id)
);
"""

# Syndicated copies, keyed by content (see `copies.py`). The article-keyed tables of older versions are dropped,
# so an archive they indexed is keyed again, by content, by its next run.
COPIES_SCHEMA = """
DROP TABLE IF EXISTS copy_groups;
DROP TABLE IF EXISTS copy_pairs;
DROP TABLE IF EXISTS copy_keys;
CREATE TABLE IF NOT EXISTS copy_content_keys (
    body_hash TEXT NOT NULL,
    band_key INTEGER
);
CREATE INDEX IF NOT EXISTS copy_content_keys_key ON copy_content_keys(band_key);
CREATE INDEX IF NOT EXISTS copy_content_keys_hash ON copy_content_keys(body_hash);
CREATE TABLE IF NOT EXISTS copy_content_pairs (
    first_hash TEXT NOT NULL,
    second_hash TEXT NOT NULL,
    jaccard REAL NOT NULL,
    PRIMARY KEY (first_hash, second_hash)
);
CREATE INDEX IF NOT EXISTS copy_content_pairs_second ON copy_content_pairs(second_hash);
CREATE TABLE IF NOT EXISTS copy_content_groups (
    body_hash TEXT PRIMARY KEY,
    group_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS copy_content_groups_group ON copy_content_groups(group_hash);
"""

# The question log (`archivebot gaps`), in the feedback database: question text, when (ISO UTC), server, why it
# is a gap; never a user id. `answer_key` (the answer a 👎 was given to) is unique: a second 👎 counts once.
QUESTIONS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at TEXT NOT NULL,
    guild_id TEXT,
    question TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(f"'{kind}'" for kind in KINDS)})),
    answer_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS questions_asked_at ON questions(asked_at);
"""

BATCH = 500  # ids bound per statement (SQLite caps bound parameters; builds differ, the smallest is 999)

Item = TypeVar("Item")


async def connect(path: Path, *, readonly: bool = False) -> aiosqlite.Connection:
    if readonly:
        pending = aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        pending = aiosqlite.connect(str(path), isolation_level=None)
    # aiosqlite runs each connection in a thread that is not a daemon: an Archive its program never closed (a
    # script that raised before `close()`, the bench once) kept the process alive after everything else had
    # ended. A daemon thread lets it exit; what a connection abandoned at exit had not committed is rolled back
    # by SQLite's own recovery, as after a crash (the archive is crash-safe by design, tests/test_crash_safety).
    # `_thread` is aiosqlite's (0.20-0.22); tests/test_crash_safety.py fails if this stops taking effect.
    worker = getattr(pending, "_thread", None)
    if worker is not None and not worker.is_alive():
        worker.daemon = True
    connection = await pending
    async with closed_on_failure(connection):  # a file that is not a database fails here
        await connection.execute("PRAGMA busy_timeout = 30000")
        await connection.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA synchronous = NORMAL")
    return connection


async def open_database(path: Path, *, create: bool = True) -> aiosqlite.Connection:
    """The archive database (with `create`, its schema first created). Without `create`, a missing or empty
    file is `IndexNotBuiltError` and a file SQLite can't read is `IndexCorruptError`."""
    if not create:
        if not path.exists() or not path.stat().st_size:
            raise IndexNotBuiltError(f"no index in {path.parent} yet: run `archivebot index`")
        try:
            return await connect(path)
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(f"{path} is not a readable SQLite database ({error})") from error
    connection = await connect(path)
    async with closed_on_failure(connection):
        await connection.executescript(SCHEMA + COPIES_SCHEMA)
        if path.exists():
            private_file(path)
    return connection


async def open_feedback_database(path: Path) -> aiosqlite.Connection:
    connection = await connect(path)
    async with closed_on_failure(connection):
        await connection.executescript(FEEDBACK_SCHEMA + QUESTIONS_SCHEMA)
        private_file(path)
    return connection


class _Closable(Protocol):
    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def closed_on_failure(resource: _Closable) -> AsyncIterator[None]:
    """Close `resource` (a connection, a storage) if the block fails or is cancelled, so no open file outlives
    the error (a reindex cancelled at shutdown while its writer was being set up, a damaged file: before
    connections ran in daemon threads, either kept the process alive after everything else had ended)."""
    try:
        yield
    except BaseException:
        await asyncio.shield(resource.close())
        raise


@contextlib.asynccontextmanager
async def transaction(db: aiosqlite.Connection, *, write: bool = True) -> AsyncIterator[None]:
    """`BEGIN IMMEDIATE` for writers (so two writers can't interleave), deferred for a read snapshot."""
    await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            await db.execute("ROLLBACK")
        raise
    else:
        await db.execute("COMMIT")


@contextlib.asynccontextmanager
async def snapshot(db: aiosqlite.Connection) -> AsyncIterator[None]:
    """A read snapshot that is always rolled back (the doctor's: it must change nothing)."""
    await db.execute("BEGIN")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await db.execute("ROLLBACK")


async def fetch(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    # One hop to aiosqlite's thread (execute + fetchall + close would be three: on a busy machine each
    # hop costs milliseconds, and a question runs about ten statements).
    return [tuple(row) for row in await db.execute_fetchall(sql, params)]


async def fetch_one(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
    """The single row a statement returns (an aggregate); checked, never unpacked blindly."""
    rows = await fetch(db, sql, params)
    if not rows:
        raise RuntimeError(f"no row from: {sql}")
    return rows[0]


# ---- queries more than one role runs -----------------------------------------------------------------


async def get_meta(db: aiosqlite.Connection) -> dict[str, str]:
    return {str(key): str(value) for key, value in await fetch(db, sql.META)}


async def set_meta(db: aiosqlite.Connection, values: dict[str, Any]) -> None:
    await db.executemany(sql.SET_META, [(key, str(value)) for key, value in values.items()])


async def counts(db: aiosqlite.Connection) -> dict[str, int]:
    articles, passages, sentences = await fetch_one(db, sql.COUNTS)
    return {"articles": int(articles), "passages": int(passages), "sentences": int(sentences)}


async def all_passage_ids(db: aiosqlite.Connection) -> list[int]:
    return [int(row[0]) for row in await fetch(db, "SELECT id FROM passages ORDER BY id")]


async def passage_vector_sources(
    db: aiosqlite.Connection, passage_ids: Sequence[int] | None = None
) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
    """For each passage (all of them, or those in `passage_ids`, in id order): its id, its sentences'
    vectors and its article's title vector. Ids are queried in chunks (SQLite caps bound parameters)."""
    select = (
        "SELECT p.id, s.vector, a.title_vector FROM passages p"
        " JOIN sentences s ON s.article_row = p.article_row"
        " AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence"
        " JOIN articles a ON a.id = p.article_row"
    )
    batches: list[tuple[str, list[Any]]]
    if passage_ids is None:
        batches = [(f"{select} ORDER BY p.id, s.ordinal", [])]
    else:
        batches = [
            (f"{select} WHERE p.id IN ({marks(chunk)}) ORDER BY p.id, s.ordinal", list(chunk))
            for chunk in chunks(sorted(set(passage_ids)))
        ]
    for query, params in batches:
        current: int | None = None
        vectors: list[bytes] = []
        title: bytes | None = None
        async with db.execute(query, params) as cursor:
            async for passage_id, vector, title_vector in cursor:
                if passage_id != current:
                    if current is not None:
                        yield current, vectors, title
                    current, vectors, title = passage_id, [], title_vector
                vectors.append(vector)
        if current is not None:
            yield current, vectors, title


def like_pattern(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))


def chunks(items: Sequence[Item], size: int = BATCH) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def fts_match(terms: Sequence[str]) -> str:
    """An FTS5 OR-query of quoted terms (quoting neutralises FTS syntax in user input)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
