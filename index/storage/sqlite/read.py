"""The embedded backend's read snapshot (`SqliteReader`, the `ArchiveReader` a question uses): the storage's
read connection inside a read transaction, and the FAISS file of that snapshot's generation."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence

import aiosqlite
import numpy as np

from index._rows import ArticleRow, CopyRef, Filters, PassageRow, SentenceRow, blob_to_vector
from index.storage import sql
from index.storage.common import FILTERED_WIDENING, WITHIN_LIMIT
from index.storage.faiss_vectors import VectorIndex
from index.storage.sql import ARTICLE_COLUMNS, article_row
from index.storage.sqlite import copies
from index.storage.sqlite.fulltext import SPLIT_FROM, TermFrequencies, fts_passages, split_passages
from index.storage.sqlite.schema import chunks, fetch, fts_match, like_pattern, marks
from index.storage.sqlite.sources import KnownSources
from index.storage.sqlite.tantivy_text import ServedText, TextIndex
from index.storage.sqlite.vectors import ServedVectors


class SqliteReader:
    """One read snapshot: rows from the open read transaction on `db`, vectors of its generation."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        meta: dict[str, str],
        served: ServedVectors,
        frequencies: TermFrequencies | None = None,
        text: ServedText | None = None,
        sources: KnownSources | None = None,
    ) -> None:
        self._db = db
        self._served = served
        self._frequencies = frequencies or TermFrequencies()
        self._counted: dict[str, int] = {}  # this snapshot's document frequencies, for the lexical search's split
        self._text = text
        self._sources = sources or KnownSources()
        self.meta = meta

    async def vectors(self) -> VectorIndex:
        return await self._served.of(self._db, self.meta)

    async def nearest_passages(self, vector: np.ndarray, k: int, within: Filters | None = None) -> list[int]:
        vectors = await self.vectors()
        allowed = await self.passages_within(within, WITHIN_LIMIT) if within else None
        if allowed is not None:  # a narrow filter: search its passages only
            _, ids = await asyncio.to_thread(vectors.search_within, vector[None, :], k, np.asarray(allowed))
        else:  # none, or a broad one: more of the nearest of all, for the engine to filter
            _, ids = await asyncio.to_thread(vectors.search, vector[None, :], k * FILTERED_WIDENING if within else k)
        return [int(i) for i in ids[0] if i >= 0]

    async def passages_within(self, within: Filters, limit: int) -> list[int] | None:
        """The passages of the articles `within` allows (`Filters.allows`: the source contains the text,
        case-insensitively, as Python compares it; published within the dates, inclusive), or None when there
        are more than `limit`."""
        conditions: list[str] = []
        params: list[str | int] = []
        if within.source:
            wanted = within.source.lower()
            sources = [source for source in await self._sources.of(self._db) if wanted in source.lower()]
            if not sources:
                return []
            conditions.append(f"a.source IN ({marks(sources)})")
            params.extend(sources)
        if within.after:
            conditions.append("a.published >= ?")
            params.append(within.after)
        if within.before:
            conditions.append("a.published != '' AND a.published <= ?")
            params.append(within.before)
        # One string rather than a row per passage: 20k ids of the 1M-passage archive came back in 12-15 ms against
        # 16-21 ms as rows (a one-off comparison inside `python -m bench.filtered`'s transaction, 2026-12-08).
        ((ids,),) = await fetch(
            self._db,
            "SELECT group_concat(id) FROM (SELECT p.id FROM articles a JOIN passages p ON p.article_row = a.id"
            f" WHERE {' AND '.join(conditions)} LIMIT ?)",
            [*params, limit + 1],
        )
        found = [int(text) for text in str(ids).split(",")] if ids else []
        return None if len(found) > limit else found

    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        vectors = await self.vectors()
        return await asyncio.to_thread(vectors.reconstruct, list(passage_ids))

    async def text_index(self) -> TextIndex | None:
        """The snapshot's tantivy generation when questions search it (see `ServedText`), else None: FTS5."""
        total = (await self.vectors()).size
        if self._text is None or not self._text.wanted(total):
            return None
        return self._text.loaded(self.meta, total) or await asyncio.to_thread(self._text.of, self.meta, total)

    async def keeps_common_terms(self) -> bool:
        return await self.text_index() is not None

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        text = await self.text_index()
        if text is not None:
            return await asyncio.to_thread(text.frequencies, terms), text.size
        # The snapshot's vector index holds one vector per passage (checked when it is loaded): counting the
        # passages table instead cost 4 ms per question at 1M passages.
        frequencies, total = await self._frequencies.of(self._db, terms, (await self.vectors()).size)
        self._counted |= frequencies
        return frequencies, total

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        if not terms:
            return []
        text = await self.text_index()
        if text is not None:
            return await asyncio.to_thread(text.search, terms, k)
        total = (await self.vectors()).size
        if total <= SPLIT_FROM:
            return await fts_passages(self._db, fts_match(terms), k)
        if any(term not in self._counted for term in terms):
            await self.document_frequencies(terms)
        return await split_passages(self._db, terms, self._counted, total, k)

    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]:
        if not terms:
            return []
        try:
            rows = await fetch(
                self._db,
                "SELECT a.article_id, -bm25(articles_fts) AS score FROM articles_fts"
                " JOIN articles a ON a.id = articles_fts.rowid"
                " WHERE articles_fts MATCH ? ORDER BY score DESC LIMIT ?",
                (fts_match(terms), k),
            )
        except sqlite3.OperationalError:
            return []
        return [(str(article_id), float(score)) for article_id, score in rows]

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        found: dict[int, PassageRow] = {}
        for chunk in chunks(list(passage_ids)):
            for row in await fetch(
                self._db,
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
            for row in await fetch(self._db, query, chunk):
                found[row[0]] = article_row(row)
        return found

    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        found: dict[int, list[SentenceRow]] = {}
        for chunk in chunks(list(dict.fromkeys(rows))):
            for sid, row, ordinal, start, end, vector in await fetch(
                self._db,
                "SELECT id, article_row, ordinal, start, end, vector FROM sentences"
                f" WHERE article_row IN ({marks(chunk)}) ORDER BY article_row, ordinal",
                chunk,
            ):
                found.setdefault(row, []).append(SentenceRow(sid, row, ordinal, start, end, blob_to_vector(vector)))
        return found

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        return await copies.copies_of(self._db, rows)

    async def article(self, article_id: str) -> ArticleRow | None:
        rows = await fetch(self._db, sql.ARTICLE_BY_ID, (article_id,))
        return article_row(rows[0]) if rows else None

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        """Titles containing `text` (case-insensitive), shortest first; exact matches first. Empty text: the
        latest articles (by publication date, then the most recently indexed)."""
        if not text.strip():
            rows = await fetch(self._db, sql.LATEST_ARTICLES, (limit,))
        else:
            rows = await fetch(
                self._db,
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.title LIKE ? ESCAPE '\\'"
                " ORDER BY (lower(a.title) = lower(?)) DESC, (lower(a.title) LIKE lower(?) ESCAPE '\\') DESC,"
                " length(a.title), a.title LIMIT ?",
                (f"%{like_pattern(text)}%", text, f"{like_pattern(text)}%", limit),
            )
        return [article_row(row) for row in rows]
