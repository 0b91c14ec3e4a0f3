"""The embedded backend's SQLite schema, connections and the helpers its query modules share.

Tables: `meta` (model, dimension, schema version, FAISS generation, roots), `articles`, `passages`,
`sentences` (offsets and a float16 vector each: the source of truth the FAISS index is rebuilt from),
`passages_fts` (FTS5 over passage text and article title, rowid = passage id), `articles_fts`
(titles, for search and autocomplete) and `feedback` (in its own database file, so a long reindex
never blocks it). The FAISS vector id of a passage is its `passages.id`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from index._rows import ArticleRow

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

ARTICLE_COLUMNS = (
    "a.id, a.article_id, a.location, a.path, a.title, a.title_derived, a.source, a.published, a.dateline, "
    "a.byline, a.url, a.body, a.content_hash, a.indexed_at, a.body_hash"
)
BATCH = 500  # ids bound per statement (SQLite caps bound parameters; builds differ, the smallest is 999)

Item = TypeVar("Item")


async def connect(path: Path, *, readonly: bool = False) -> aiosqlite.Connection:
    if readonly:
        connection = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        connection = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        await connection.execute("PRAGMA busy_timeout = 30000")
        await connection.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        # A file that is not a database fails here: close, or aiosqlite's (non-daemon) thread keeps the
        # process alive after everything else ended (the test suite hung at exit on a damaged file).
        await connection.close()
        raise
    return connection


class Connected:
    """Base of the query classes: they all run on one aiosqlite connection."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # One hop to aiosqlite's thread (execute + fetchall + close would be three: on a busy machine each
        # hop costs milliseconds, and a question runs about ten statements).
        return [tuple(row) for row in await self._db.execute_fetchall(sql, params)]

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        """The single row a statement returns (an aggregate); checked, never unpacked blindly."""
        rows = await self._rows(sql, params)
        if not rows:
            raise RuntimeError(f"no row from: {sql}")
        return rows[0]


def article_row(row: Sequence[Any]) -> ArticleRow:
    """An `ArticleRow` from the columns of ARTICLE_COLUMNS, in order."""
    (
        row_id,
        article_id,
        location,
        path,
        title,
        title_derived,
        source,
        published,
        dateline,
        byline,
        url,
        body,
        content_hash,
        indexed_at,
        body_hash,
    ) = row
    return ArticleRow(
        row_id,
        article_id,
        location,
        path,
        title,
        bool(title_derived),
        source,
        published,
        dateline,
        byline,
        url,
        body,
        content_hash,
        indexed_at,
        body_hash,
    )


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
