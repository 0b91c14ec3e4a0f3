"""All of Archivebot's SQL, in one place (aiosqlite).

Tables: `meta` (model, dimension, schema version, FAISS generation, roots), `articles`, `passages`,
`sentences` (offsets and a float16 vector each: the source of truth the FAISS index is rebuilt from),
`passages_fts` (FTS5 over passage text and article title, rowid = passage id), `articles_fts`
(titles, for search and autocomplete) and `feedback` (in its own database file, so a long reindex
never blocks it). The FAISS vector id of a passage is its `passages.id`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

SCHEMA_VERSION = 1

_SCHEMA = """
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

_FEEDBACK_SCHEMA = """
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
    "a.article_id, a.location, a.path, a.title, a.title_derived, a.source, a.published, a.dateline, "
    "a.byline, a.url, a.body, a.content_hash, a.indexed_at"
)


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


@dataclass(frozen=True)
class StoredArticleState:
    row: int
    article_id: str
    path: str
    fingerprint: str
    content_hash: str


@dataclass(frozen=True)
class NewSentence:
    ordinal: int
    start: int
    end: int
    text_hash: str
    vector: np.ndarray


@dataclass(frozen=True)
class NewPassage:
    ordinal: int
    start: int
    end: int
    first_sentence: int
    last_sentence: int
    text: str


@dataclass(frozen=True)
class PassageRow:
    passage_id: int
    article_row: int
    start: int
    end: int
    first_sentence: int
    last_sentence: int


@dataclass(frozen=True)
class SentenceRow:
    sentence_id: int
    article_row: int
    ordinal: int
    start: int
    end: int
    vector: np.ndarray


@dataclass(frozen=True)
class ArticleRow:
    row: int
    article_id: str
    location: str
    path: str
    title: str
    title_derived: bool
    source: str | None
    published: str | None
    dateline: str | None
    byline: str | None
    url: str | None
    body: str
    content_hash: str
    indexed_at: str
    body_hash: str = ""


async def _connect(path: Path, *, readonly: bool = False) -> aiosqlite.Connection:
    if readonly:
        connection = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        connection = await aiosqlite.connect(str(path), isolation_level=None)
    await connection.execute("PRAGMA busy_timeout = 30000")
    await connection.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA synchronous = NORMAL")
    return connection


class Store:
    """The archive database. One instance per connection; not shared between tasks that write."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, create: bool = True) -> Store:
        if not create and not path.exists():
            raise FileNotFoundError(path)
        connection = await _connect(path)
        if create:
            await connection.executescript(_SCHEMA)
        if path.exists():
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)
        return cls(connection, path)

    async def close(self) -> None:
        await self._db.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[None]:
        """`BEGIN IMMEDIATE` for writers (so two writers can't interleave), deferred for a read snapshot."""
        await self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                await self._db.execute("ROLLBACK")
            raise
        else:
            await self._db.execute("COMMIT")

    # ---- meta -------------------------------------------------------------------------------------

    async def get_meta(self) -> dict[str, str]:
        return {key: value for key, value in await self._db.execute_fetchall("SELECT key, value FROM meta")}

    async def set_meta(self, values: dict[str, Any]) -> None:
        await self._db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(key, str(value)) for key, value in values.items()],
        )

    # ---- indexer ----------------------------------------------------------------------------------

    async def article_states(self) -> list[StoredArticleState]:
        async with self._db.execute("SELECT id, article_id, path, fingerprint, content_hash FROM articles") as cursor:
            return [StoredArticleState(*row) for row in await cursor.fetchall()]

    async def vectors_by_text_hash(self, hashes: Iterable[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(hashes))
        for chunk in _chunks(unique, 500):
            marks = ",".join("?" * len(chunk))
            async with self._db.execute(
                f"SELECT text_hash, vector FROM sentences WHERE text_hash IN ({marks})", chunk
            ) as cursor:
                for text_hash, vector in await cursor.fetchall():
                    found[text_hash] = vector
        return found

    async def title_vectors(self, article_ids: Iterable[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk in _chunks(list(article_ids), 500):
            marks = ",".join("?" * len(chunk))
            async with self._db.execute(
                f"SELECT title, title_vector FROM articles WHERE article_id IN ({marks}) AND title_vector IS NOT NULL",
                chunk,
            ) as cursor:
                for title, vector in await cursor.fetchall():
                    found[title] = vector
        return found

    async def delete_articles(self, rows: Sequence[int]) -> list[int]:
        """Delete articles (and their passages, sentences and FTS rows); returns the removed passage ids."""
        removed: list[int] = []
        for chunk in _chunks(list(rows), 500):
            marks = ",".join("?" * len(chunk))
            async with self._db.execute(f"SELECT id FROM passages WHERE article_row IN ({marks})", chunk) as cursor:
                passage_ids = [row[0] for row in await cursor.fetchall()]
            removed.extend(passage_ids)
            for ids in _chunks(passage_ids, 500):
                await self._db.execute(f"DELETE FROM passages_fts WHERE rowid IN ({','.join('?' * len(ids))})", ids)
            await self._db.execute(f"DELETE FROM articles_fts WHERE rowid IN ({marks})", chunk)
            await self._db.execute(f"DELETE FROM articles WHERE id IN ({marks})", chunk)
        return removed

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
    ) -> list[int]:
        """Insert one parsed article with its sentences and passages; returns the new passage ids in order."""
        cursor = await self._db.execute(
            "INSERT INTO articles (article_id, location, path, fingerprint, content_hash, body_hash, title,"
            " title_derived, source, published, dateline, byline, url, body, title_vector, indexed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.article_id,
                article.location,
                article.path,
                fingerprint,
                article.content_hash,
                body_hash,
                article.title,
                int(article.title_derived),
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
        article_row = cursor.lastrowid
        await cursor.close()
        await self._db.execute("INSERT INTO articles_fts(rowid, title) VALUES (?, ?)", (article_row, article.title))
        await self._db.executemany(
            "INSERT INTO sentences (article_row, ordinal, start, end, text_hash, vector) VALUES (?, ?, ?, ?, ?, ?)",
            [(article_row, s.ordinal, s.start, s.end, s.text_hash, vector_to_blob(s.vector)) for s in sentences],
        )
        # Explicit ids after the AUTOINCREMENT high-water mark (never an id a deleted passage had: FAISS ids are
        # passage ids), so all of an article's passages go in one executemany instead of a round trip each.
        async with self._db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'passages'), 0),"
            " COALESCE((SELECT MAX(id) FROM passages), 0))"
        ) as cursor:
            (last_id,) = await cursor.fetchone()
        passage_ids = list(range(last_id + 1, last_id + 1 + len(passages)))
        await self._db.executemany(
            "INSERT INTO passages (id, article_row, ordinal, start, end, first_sentence, last_sentence)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (pid, article_row, p.ordinal, p.start, p.end, p.first_sentence, p.last_sentence)
                for pid, p in zip(passage_ids, passages)
            ],
        )
        await self._db.executemany(
            "INSERT INTO passages_fts(rowid, title, text) VALUES (?, ?, ?)",
            [(pid, article.title, passage.text) for pid, passage in zip(passage_ids, passages)],
        )
        return passage_ids

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None:
        await self._db.executemany(
            "UPDATE articles SET fingerprint = ? WHERE id = ?", [(fp, row) for row, fp in fingerprints.items()]
        )

    async def passage_vector_sources(
        self, passage_ids: Sequence[int] | None = None
    ) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
        """For each passage (all of them, or those in `passage_ids`, in id order): its id, its sentences'
        vectors and its article's title vector. Ids are queried in chunks (SQLite caps bound parameters)."""
        select = (
            "SELECT p.id, s.vector, a.title_vector FROM passages p"
            " JOIN sentences s ON s.article_row = p.article_row AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence"
            " JOIN articles a ON a.id = p.article_row"
        )
        if passage_ids is None:
            batches: Iterable[tuple[str, list[Any]]] = [(f"{select} ORDER BY p.id, s.ordinal", [])]
        else:
            batches = (
                (f"{select} WHERE p.id IN ({','.join('?' * len(chunk))}) ORDER BY p.id, s.ordinal", chunk)
                for chunk in _chunks(sorted(set(passage_ids)), 500)
            )
        for query, params in batches:
            current: int | None = None
            vectors: list[bytes] = []
            title: bytes | None = None
            async with self._db.execute(query, params) as cursor:
                async for passage_id, vector, title_vector in cursor:
                    if passage_id != current:
                        if current is not None:
                            yield current, vectors, title
                        current, vectors, title = passage_id, [], title_vector
                    vectors.append(vector)
            if current is not None:
                yield current, vectors, title

    # ---- queries ----------------------------------------------------------------------------------

    async def fts_passages(self, match: str, limit: int) -> list[tuple[int, float]]:
        """Passages matching an FTS5 expression, best first, with a positive BM25 score (title weighs 2x)."""
        try:
            rows = await self._db.execute_fetchall(
                "SELECT rowid, -bm25(passages_fts, 2.0, 1.0) AS score FROM passages_fts"
                " WHERE passages_fts MATCH ? ORDER BY score DESC LIMIT ?",
                (match, limit),
            )
            return [(row, score) for row, score in rows]
        except sqlite3.OperationalError:
            return []

    async def fts_titles(self, match: str, limit: int) -> list[tuple[str, float]]:
        try:
            async with self._db.execute(
                "SELECT a.article_id, -bm25(articles_fts) AS score FROM articles_fts"
                " JOIN articles a ON a.id = articles_fts.rowid"
                " WHERE articles_fts MATCH ? ORDER BY score DESC LIMIT ?",
                (match, limit),
            ) as cursor:
                return [(row, score) for row, score in await cursor.fetchall()]
        except sqlite3.OperationalError:
            return []

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many passages contain each term (FTS5 applies its own stemmer to the term), and the passage
        count, in one round trip."""
        parts = ["(SELECT count(*) FROM passages)"]
        parts += ["(SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?)"] * len(terms)
        params = ['"' + term.replace('"', '""') + '"' for term in terms]
        try:
            rows = await self._db.execute_fetchall("SELECT " + ", ".join(parts), params)
        except sqlite3.OperationalError:
            return {term: 0 for term in terms}, 0
        total, *counts = rows[0]
        return dict(zip(terms, counts)), total

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        found: dict[int, PassageRow] = {}
        for chunk in _chunks(list(passage_ids), 500):
            marks = ",".join("?" * len(chunk))
            for row in await self._db.execute_fetchall(
                f"SELECT id, article_row, start, end, first_sentence, last_sentence FROM passages WHERE id IN ({marks})",
                chunk,
            ):
                found[row[0]] = PassageRow(*row)
        return found

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]:
        found: dict[int, ArticleRow] = {}
        for chunk in _chunks(list(dict.fromkeys(rows)), 500):
            marks = ",".join("?" * len(chunk))
            for row in await self._db.execute_fetchall(
                f"SELECT a.id, {ARTICLE_COLUMNS}, a.body_hash FROM articles a WHERE a.id IN ({marks})", chunk
            ):
                found[row[0]] = _article_row(row)
        return found

    async def sentences_of(self, article_rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        found: dict[int, list[SentenceRow]] = {}
        for chunk in _chunks(list(dict.fromkeys(article_rows)), 500):
            marks = ",".join("?" * len(chunk))
            for sid, row, ordinal, start, end, vector in await self._db.execute_fetchall(
                f"SELECT id, article_row, ordinal, start, end, vector FROM sentences"
                f" WHERE article_row IN ({marks}) ORDER BY article_row, ordinal",
                chunk,
            ):
                found.setdefault(row, []).append(SentenceRow(sid, row, ordinal, start, end, blob_to_vector(vector)))
        return found

    async def article(self, article_id: str) -> ArticleRow | None:
        async with self._db.execute(
            f"SELECT a.id, {ARTICLE_COLUMNS}, a.body_hash FROM articles a WHERE a.article_id = ?", (article_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _article_row(row) if row else None

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        """Titles containing `text` (case-insensitive), shortest first; exact matches first. Empty text: the
        latest articles (by publication date, then the most recently indexed)."""
        if not text.strip():
            async with self._db.execute(
                f"SELECT a.id, {ARTICLE_COLUMNS}, a.body_hash FROM articles a"
                " ORDER BY a.published IS NULL, a.published DESC, a.id DESC LIMIT ?",
                (limit,),
            ) as cursor:
                return [_article_row(row) for row in await cursor.fetchall()]
        async with self._db.execute(
            f"SELECT a.id, {ARTICLE_COLUMNS}, a.body_hash FROM articles a WHERE a.title LIKE ? ESCAPE '\\'"
            " ORDER BY (lower(a.title) = lower(?)) DESC, (lower(a.title) LIKE lower(?) ESCAPE '\\') DESC,"
            " length(a.title), a.title LIMIT ?",
            (f"%{_like(text)}%", text, f"{_like(text)}%", limit),
        ) as cursor:
            return [_article_row(row) for row in await cursor.fetchall()]

    async def article_rows_for_ids(self, article_ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(article_ids), 500):
            marks = ",".join("?" * len(chunk))
            async with self._db.execute(
                f"SELECT article_id, id FROM articles WHERE article_id IN ({marks})", chunk
            ) as cursor:
                found.update({aid: row for aid, row in await cursor.fetchall()})
        return found

    async def first_passages(self, article_rows: Sequence[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for chunk in _chunks(list(article_rows), 500):
            marks = ",".join("?" * len(chunk))
            async with self._db.execute(
                f"SELECT article_row, min(id) FROM passages WHERE article_row IN ({marks}) GROUP BY article_row", chunk
            ) as cursor:
                found.update({row: pid for row, pid in await cursor.fetchall()})
        return found

    async def counts(self) -> dict[str, int]:
        counts = {}
        for table in ("articles", "passages", "sentences"):
            async with self._db.execute(f"SELECT count(*) FROM {table}") as cursor:
                (counts[table],) = await cursor.fetchone()
        return counts

    # ---- consistency ------------------------------------------------------------------------------

    async def all_passage_ids(self) -> list[int]:
        async with self._db.execute("SELECT id FROM passages ORDER BY id") as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def fts_passage_ids(self) -> list[int]:
        async with self._db.execute("SELECT rowid FROM passages_fts ORDER BY rowid") as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def passage_texts(self, passage_ids: Sequence[int]) -> list[tuple[int, str, str]]:
        result = []
        for chunk in _chunks(list(passage_ids), 500):
            marks = ",".join("?" * len(chunk))
            async with self._db.execute(
                f"SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
                f" JOIN articles a ON a.id = p.article_row WHERE p.id IN ({marks})",
                chunk,
            ) as cursor:
                result.extend(await cursor.fetchall())
        return result

    async def delete_fts_rows(self, rowids: Sequence[int]) -> None:
        for chunk in _chunks(list(rowids), 500):
            await self._db.execute(f"DELETE FROM passages_fts WHERE rowid IN ({','.join('?' * len(chunk))})", chunk)

    async def insert_fts_rows(self, rows: Sequence[tuple[int, str, str]]) -> None:
        await self._db.executemany("INSERT INTO passages_fts(rowid, title, text) VALUES (?, ?, ?)", rows)

    async def integrity_check(self) -> str:
        async with self._db.execute("PRAGMA quick_check") as cursor:
            (result,) = await cursor.fetchone()
        return result

    async def checkpoint(self) -> None:
        await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class FeedbackStore:
    """Feedback on answers (👍/👎), in its own database file so it is never blocked by a reindex."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> FeedbackStore:
        connection = await _connect(path)
        await connection.executescript(_FEEDBACK_SCHEMA)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
        return cls(connection)

    async def close(self) -> None:
        await self._db.close()

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
        await self._db.execute(
            "INSERT INTO feedback (answer_key, user_id, guild_id, question, article_ids, helpful)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(answer_key, user_id) DO UPDATE SET helpful = excluded.helpful",
            (answer_key, user_id, guild_id, question, ",".join(article_ids), int(helpful)),
        )

    async def counts(self) -> dict[str, int]:
        async with self._db.execute(
            "SELECT coalesce(sum(helpful), 0), coalesce(sum(1 - helpful), 0) FROM feedback"
        ) as cursor:
            helpful, unhelpful = await cursor.fetchone()
        return {"helpful": int(helpful), "unhelpful": int(unhelpful)}

    async def all(self) -> list[dict[str, Any]]:
        self._db.row_factory = aiosqlite.Row
        try:
            async with self._db.execute("SELECT * FROM feedback ORDER BY id") as cursor:
                return [dict(row) for row in await cursor.fetchall()]
        finally:
            self._db.row_factory = None


def _article_row(row: Sequence[Any]) -> ArticleRow:
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


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
