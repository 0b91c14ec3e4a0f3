"""The embedded backend's `ArchiveCheck` (`SqliteCheck`): the doctor's findings, read on the storage's read
connection inside a snapshot that is always rolled back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from index.storage.base import FullTextFindings, UnfinishedWork, VectorsUnusableError
from index.storage.faiss_vectors import SearchParameters, VectorIndex
from index.storage.layout import STAGING_FILE
from index.storage.sqlite import schema
from index.storage.sqlite.schema import fetch
from index.storage.sqlite.staging import staged_count
from index.storage.sqlite.tantivy_text import TANTIVY_FROM, TextIndex, path_for, recorded_generation
from index.storage.sqlite.vectors import load_generation


class SqliteCheck:
    def __init__(
        self, db: aiosqlite.Connection, data_dir: Path, meta: dict[str, str], parameters: SearchParameters
    ) -> None:
        self._db = db
        self._data_dir = data_dir
        self._parameters = parameters
        self.meta = meta
        generation = int(meta["generation"]) if meta.get("generation", "").isdigit() else 0
        self.vectors_name = VectorIndex.path_for(data_dir, generation).name

    async def counts(self) -> dict[str, int]:
        return await schema.counts(self._db)

    async def passage_ids(self) -> set[int]:
        return set(await schema.all_passage_ids(self._db))

    async def integrity_problems(self) -> list[str]:
        found = [str(row[0]) for row in await fetch(self._db, "PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    async def orphan_rows(self) -> int:
        """Passage or sentence rows whose article is gone."""
        return len(await fetch(self._db, "PRAGMA foreign_key_check"))

    async def articles_with_bad_vectors(self, dimension: int) -> set[int]:
        rows = await fetch(
            self._db,
            "SELECT DISTINCT article_row FROM sentences WHERE length(vector) != ?"
            " UNION SELECT id FROM articles WHERE title_vector IS NOT NULL AND length(title_vector) != ?",
            (2 * dimension, 2 * dimension),
        )
        return {int(row[0]) for row in rows}

    async def articles_with_missing_sentences(self) -> set[int]:
        rows = await fetch(
            self._db,
            "SELECT DISTINCT p.article_row FROM passages p WHERE p.article_row IN (SELECT id FROM articles) AND"
            " (SELECT count(*) FROM sentences s WHERE s.article_row = p.article_row"
            "  AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence) != p.last_sentence - p.first_sentence + 1",
        )
        return {int(row[0]) for row in rows}

    async def full_text(self) -> FullTextFindings:
        passage_ids = set(await schema.all_passage_ids(self._db))
        expected = {
            pid: (title, text)
            for pid, title, text in await fetch(
                self._db,
                "SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
                " JOIN articles a ON a.id = p.article_row",
            )
        }
        stored_rows = await fetch(self._db, "SELECT rowid, title, text FROM passages_fts")
        stored = {rowid: (title, text) for rowid, title, text in stored_rows}
        titles = dict(await fetch(self._db, "SELECT id, title FROM articles"))
        stored_titles = dict(await fetch(self._db, "SELECT rowid, title FROM articles_fts"))
        stale_titles = {row for row, title in stored_titles.items() if row in titles and titles[row] != title}
        return FullTextFindings(
            rows=len(stored),
            missing=passage_ids - set(stored),
            orphan=set(stored) - passage_ids,
            stale={pid for pid, row in stored.items() if pid in expected and expected[pid] != row},
            title_problems=len(set(titles) - set(stored_titles))
            + len(set(stored_titles) - set(titles))
            + len(stale_titles),
            search_index=await asyncio.to_thread(self._search_index, len(passage_ids)),
            search_note=f"FTS5 below {TANTIVY_FROM:,} passages, tantivy ({self._search_index_name()}) from there"
            " (ARCHIVEBOT_FULL_TEXT=auto)",
        )

    def _search_index_name(self) -> str:
        generation = recorded_generation(self.meta)
        return path_for(self._data_dir, generation).name if generation is not None else "not built yet"

    def _search_index(self, passages: int) -> str:
        """The tantivy generation's problem, if any: missing, unreadable, or not holding every passage."""
        generation = recorded_generation(self.meta)
        if generation is None:
            return f"no tantivy full-text index yet for {passages} passages" if passages else ""
        path = path_for(self._data_dir, generation)
        try:
            held = TextIndex(path, generation).size
        except Exception as error:
            return f"the full-text index {path.name} is missing or unreadable ({error})"
        return "" if held == passages else f"the full-text index {path.name} holds {held} passages, not {passages}"

    async def vectors(self) -> VectorIndex:
        try:
            return await asyncio.to_thread(load_generation, self._data_dir, self.meta, self._parameters)
        except Exception as error:
            raise VectorsUnusableError(str(error).splitlines()[0][:120] if str(error) else repr(error)) from error

    def passage_vector_sources(self) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
        return schema.passage_vector_sources(self._db)

    async def unfinished_work(self) -> UnfinishedWork:
        leftovers = [p for p in self._data_dir.glob("vectors.*") if p.name.endswith(".tmp")]
        return UnfinishedWork(len(leftovers), staged_count(self._data_dir / STAGING_FILE), STAGING_FILE)
