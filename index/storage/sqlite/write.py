"""The embedded backend's writes (run inside a `BEGIN IMMEDIATE` transaction of the caller's)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from index._models import ParsedArticle
from index._rows import NewPassage, NewSentence, vector_to_blob
from index.storage.base import FullTextRepair
from index.storage.sqlite.read import ReadQueries
from index.storage.sqlite.schema import chunks, marks


class WriteQueries(ReadQueries):
    async def set_meta(self, values: dict[str, Any]) -> None:
        await self._db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(key, str(value)) for key, value in values.items()],
        )

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None:
        await self._db.executemany(
            "UPDATE articles SET fingerprint = ? WHERE id = ?", [(fp, row) for row, fp in fingerprints.items()]
        )

    async def delete_articles(self, rows: Sequence[int]) -> list[int]:
        """Delete articles (and their passages, sentences and FTS rows); returns the removed passage ids."""
        removed: list[int] = []
        for chunk in chunks(list(rows)):
            passage_ids = [
                int(row[0])
                for row in await self._rows(f"SELECT id FROM passages WHERE article_row IN ({marks(chunk)})", chunk)
            ]
            removed.extend(passage_ids)
            await self.delete_fts_rows(passage_ids)
            await self._db.execute(f"DELETE FROM articles_fts WHERE rowid IN ({marks(chunk)})", chunk)
            await self._db.execute(f"DELETE FROM articles WHERE id IN ({marks(chunk)})", chunk)
        return removed

    async def insert_article(
        self,
        article: ParsedArticle,
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
        (last_id,) = await self._one(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'passages'), 0),"
            " COALESCE((SELECT MAX(id) FROM passages), 0))"
        )
        passage_ids = list(range(int(last_id) + 1, int(last_id) + 1 + len(passages)))
        await self._db.executemany(
            "INSERT INTO passages (id, article_row, ordinal, start, end, first_sentence, last_sentence)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (pid, article_row, p.ordinal, p.start, p.end, p.first_sentence, p.last_sentence)
                for pid, p in zip(passage_ids, passages, strict=True)
            ],
        )
        await self.insert_fts_rows(
            [(pid, article.title, passage.text) for pid, passage in zip(passage_ids, passages, strict=True)]
        )
        return passage_ids

    # ---- repairs ----------------------------------------------------------------------------------

    async def delete_orphan_rows(self) -> int:
        """Passages and sentences whose article is gone (the foreign key check's findings)."""
        removed = 0
        for table in ("passages", "sentences"):
            cursor = await self._db.execute(f"DELETE FROM {table} WHERE article_row NOT IN (SELECT id FROM articles)")
            removed += max(cursor.rowcount, 0)
            await cursor.close()
        return removed

    async def delete_fts_rows(self, rowids: Sequence[int]) -> None:
        for chunk in chunks(list(rowids)):
            await self._db.execute(f"DELETE FROM passages_fts WHERE rowid IN ({marks(chunk)})", chunk)

    async def insert_fts_rows(self, rows: Sequence[tuple[int, str, str]]) -> None:
        await self._db.executemany("INSERT INTO passages_fts(rowid, title, text) VALUES (?, ?, ?)", rows)

    async def repair_full_text(self, stale: set[int]) -> FullTextRepair:
        """Full-text rows rebuilt to match the current passages and titles (rows of articles replaced in this
        transaction are compared afresh)."""
        current = {int(row[0]) for row in await self._rows("SELECT id FROM passages")}
        stored = {int(row[0]) for row in await self._rows("SELECT rowid FROM passages_fts")}
        drop = (stored - current) | (stale & current)
        add = (current - stored) | (stale & current)
        if drop:
            await self.delete_fts_rows(sorted(drop))
        if add:
            await self.insert_fts_rows(await self.passage_texts(sorted(add)))
        titles = {int(row): str(title) for row, title in await self._rows("SELECT id, title FROM articles")}
        title_rows = await self._rows("SELECT rowid, title FROM articles_fts")
        stored_titles = {int(row): str(title) for row, title in title_rows}
        changed = {row for row, title in stored_titles.items() if row in titles and titles[row] != title}
        drop_titles = (set(stored_titles) - set(titles)) | changed
        add_titles = (set(titles) - set(stored_titles)) | changed
        for chunk in chunks(sorted(drop_titles)):
            await self._db.execute(f"DELETE FROM articles_fts WHERE rowid IN ({marks(chunk)})", chunk)
        await self._db.executemany(
            "INSERT INTO articles_fts(rowid, title) VALUES (?, ?)", [(row, titles[row]) for row in sorted(add_titles)]
        )
        return FullTextRepair(len(add), len(drop - add), len(add_titles), len(drop_titles - add_titles))
