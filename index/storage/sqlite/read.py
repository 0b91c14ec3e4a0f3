"""The embedded backend's read queries (a question's, the indexer's and the consistency checks')."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

from index._rows import ArticleRow, PassageRow, SentenceRow, StoredArticleState, blob_to_vector
from index.storage.sqlite.schema import ARTICLE_COLUMNS, Connected, article_row, chunks, fts_match, like_pattern, marks


class ReadQueries(Connected):
    async def get_meta(self) -> dict[str, str]:
        return {str(key): str(value) for key, value in await self._rows("SELECT key, value FROM meta")}

    async def counts(self) -> dict[str, int]:
        articles, passages, sentences = await self._one(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages), (SELECT count(*) FROM sentences)"
        )
        return {"articles": int(articles), "passages": int(passages), "sentences": int(sentences)}

    # ---- a question's -----------------------------------------------------------------------------

    async def fts_passages(self, match: str, limit: int) -> list[tuple[int, float]]:
        """Passages matching an FTS5 expression, best first, with a positive BM25 score (title weighs 2x)."""
        try:
            rows = await self._rows(
                "SELECT rowid, -bm25(passages_fts, 2.0, 1.0) AS score FROM passages_fts"
                " WHERE passages_fts MATCH ? ORDER BY score DESC LIMIT ?",
                (match, limit),
            )
        except sqlite3.OperationalError:
            return []
        return [(int(row), float(score)) for row, score in rows]

    async def fts_titles(self, match: str, limit: int) -> list[tuple[str, float]]:
        try:
            rows = await self._rows(
                "SELECT a.article_id, -bm25(articles_fts) AS score FROM articles_fts"
                " JOIN articles a ON a.id = articles_fts.rowid"
                " WHERE articles_fts MATCH ? ORDER BY score DESC LIMIT ?",
                (match, limit),
            )
        except sqlite3.OperationalError:
            return []
        return [(str(article_id), float(score)) for article_id, score in rows]

    async def document_frequencies(
        self, terms: Sequence[str], passages: int | None = None
    ) -> tuple[dict[str, int], int]:
        """How many passages contain each term (FTS5 applies its own stemmer to the term), and the passage
        count (counted here unless the caller knows it), in one round trip."""
        parts = ["(SELECT count(*) FROM passages)" if passages is None else str(int(passages))]
        parts += ["(SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?)"] * len(terms)
        try:
            total, *counts = await self._one("SELECT " + ", ".join(parts), [fts_match([term]) for term in terms])
        except sqlite3.OperationalError:
            return {term: 0 for term in terms}, 0
        return {term: int(count) for term, count in zip(terms, counts, strict=True)}, int(total)

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        found: dict[int, PassageRow] = {}
        for chunk in chunks(list(passage_ids)):
            for row in await self._rows(
                "SELECT id, article_row, start, end, first_sentence, last_sentence FROM passages"
                f" WHERE id IN ({marks(chunk)})",
                chunk,
            ):
                found[row[0]] = PassageRow(*row)
        return found

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]:
        found: dict[int, ArticleRow] = {}
        for chunk in chunks(list(dict.fromkeys(rows))):
            query = f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id IN ({marks(chunk)})"
            for row in await self._rows(query, chunk):
                found[row[0]] = article_row(row)
        return found

    async def sentences_of(self, article_rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        found: dict[int, list[SentenceRow]] = {}
        for chunk in chunks(list(dict.fromkeys(article_rows))):
            for sid, row, ordinal, start, end, vector in await self._rows(
                "SELECT id, article_row, ordinal, start, end, vector FROM sentences"
                f" WHERE article_row IN ({marks(chunk)}) ORDER BY article_row, ordinal",
                chunk,
            ):
                found.setdefault(row, []).append(SentenceRow(sid, row, ordinal, start, end, blob_to_vector(vector)))
        return found

    async def article(self, article_id: str) -> ArticleRow | None:
        rows = await self._rows(f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.article_id = ?", (article_id,))
        return article_row(rows[0]) if rows else None

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        """Titles containing `text` (case-insensitive), shortest first; exact matches first. Empty text: the
        latest articles (by publication date, then the most recently indexed)."""
        if not text.strip():
            rows = await self._rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a"
                " ORDER BY a.published IS NULL, a.published DESC, a.id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = await self._rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.title LIKE ? ESCAPE '\\'"
                " ORDER BY (lower(a.title) = lower(?)) DESC, (lower(a.title) LIKE lower(?) ESCAPE '\\') DESC,"
                " length(a.title), a.title LIMIT ?",
                (f"%{like_pattern(text)}%", text, f"{like_pattern(text)}%", limit),
            )
        return [article_row(row) for row in rows]

    # ---- the indexer's ----------------------------------------------------------------------------

    async def article_states(self) -> list[StoredArticleState]:
        rows = await self._rows("SELECT id, article_id, path, fingerprint, content_hash FROM articles")
        return [StoredArticleState(*row) for row in rows]

    async def vectors_by_text_hash(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """One stored vector per known text hash. One row each, not every sentence with that text: a
        sentence held by k syndicated copies otherwise costs k rows at every lookup (at 53 copies of the BBC
        archive that lookup was most of a late chunk's commit time)."""
        found: dict[str, bytes] = {}
        for chunk in chunks(list(dict.fromkeys(hashes))):
            for text_hash, vector in await self._rows(
                "SELECT h.value, (SELECT s.vector FROM sentences s WHERE s.text_hash = h.value LIMIT 1)"
                " FROM json_each(?) h",
                (json.dumps(chunk),),
            ):
                if vector is not None:
                    found[str(text_hash)] = vector
        return found

    async def title_vectors(self, article_ids: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk in chunks(list(article_ids)):
            for title, vector in await self._rows(
                f"SELECT title, title_vector FROM articles WHERE article_id IN ({marks(chunk)})"
                " AND title_vector IS NOT NULL",
                chunk,
            ):
                found[title] = vector
        return found

    async def passage_vector_sources(
        self, passage_ids: Sequence[int] | None = None
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
            async with self._db.execute(query, params) as cursor:
                async for passage_id, vector, title_vector in cursor:
                    if passage_id != current:
                        if current is not None:
                            yield current, vectors, title
                        current, vectors, title = passage_id, [], title_vector
                    vectors.append(vector)
            if current is not None:
                yield current, vectors, title

    # ---- consistency ------------------------------------------------------------------------------

    async def all_passage_ids(self) -> list[int]:
        return [int(row[0]) for row in await self._rows("SELECT id FROM passages ORDER BY id")]

    async def fts_passage_ids(self) -> list[int]:
        return [int(row[0]) for row in await self._rows("SELECT rowid FROM passages_fts ORDER BY rowid")]

    async def passage_texts(self, passage_ids: Sequence[int]) -> list[tuple[int, str, str]]:
        """(passage id, title, text) as the full-text rows should hold them."""
        result: list[tuple[int, str, str]] = []
        for chunk in chunks(list(passage_ids)):
            rows = await self._rows(
                "SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
                f" JOIN articles a ON a.id = p.article_row WHERE p.id IN ({marks(chunk)})",
                chunk,
            )
            result.extend((int(pid), str(title), str(text)) for pid, title, text in rows)
        return result
