"""The embedded backend's `IndexWrite` (`SqliteWrite`): row changes inside the session's `BEGIN IMMEDIATE`
transaction, and the vector and full-text changes they imply (the next FAISS generation and the next tantivy
generation, recorded in the same commit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import aiosqlite
import numpy as np

from index._rows import NewArticleRow
from index.storage import sql
from index.storage.base import FullTextRepair, VectorRepair
from index.storage.faiss_vectors import VectorIndex
from index.storage.sqlite import schema
from index.storage.sqlite.copies import SqliteCopies
from index.storage.sqlite.schema import chunks, fetch, fetch_one, marks
from index.storage.sqlite.tantivy_text import META_KEY, GenerationBuilder, TextChanges, path_for, recorded_generation
from index.storage.sqlite.vectors import (
    NextIndex,
    ServedVectors,
    VectorChanges,
    commit_generation,
    generation_meta,
    load_generation,
    next_index,
    rebuild_vectors,
    stored_passage_vectors,
)

logger = logging.getLogger(__name__)


class SqliteWrite:
    """One atomic commit: `current` is the latest vector index (the session's own when `private`: patched in
    place; else the readers': copied before it is patched)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        served: ServedVectors,
        meta: dict[str, str],
        current: VectorIndex | None,
        *,
        private: bool,
    ) -> None:
        self._db = db
        self._data_dir = served.data_dir
        self._parameters = served.parameters
        self._current = current
        self._private = private
        self._meta = meta
        self._changes = VectorChanges()
        self._text_changes = TextChanges()
        self.committed: VectorIndex | None = None
        self.committed_text: int | None = None  # the full-text generation this write committed
        self._text_verify = False  # a repair: patch and count the tantivy generation even with no changes

    async def set_meta(self, values: dict[str, Any]) -> None:
        await schema.set_meta(self._db, values)

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None:
        await self._db.executemany(sql.UPDATE_FINGERPRINT, [(fp, row) for row, fp in fingerprints.items()])

    async def delete_articles(self, rows: Sequence[int]) -> None:
        """Delete articles (and their passages, sentences and FTS rows); their passages' vectors go at
        `commit_vectors`."""
        for chunk in chunks(list(rows)):
            passage_ids = [
                int(row[0])
                for row in await fetch(
                    self._db, f"SELECT id FROM passages WHERE article_row IN ({marks(chunk)})", chunk
                )
            ]
            self._changes.removed.extend(passage_ids)
            await self._delete_fts_rows(passage_ids)
            await self._db.execute(f"DELETE FROM articles_fts WHERE rowid IN ({marks(chunk)})", chunk)
            await self._db.execute(f"DELETE FROM articles WHERE id IN ({marks(chunk)})", chunk)

    async def insert_article(self, new: NewArticleRow) -> list[int]:
        """Insert one article with its sentences and passages; returns the new passage ids in order."""
        article, passages = new.article, new.passages
        cursor = await self._db.execute(sql.INSERT_ARTICLE, sql.article_values(new))
        article_row = cursor.lastrowid
        await cursor.close()
        if article_row is None:
            raise RuntimeError("SQLite gave no row id for an inserted article")
        await self._db.execute("INSERT INTO articles_fts(rowid, title) VALUES (?, ?)", (article_row, article.title))
        await self._db.executemany(sql.INSERT_SENTENCE, sql.sentence_values(article_row, new))
        # Explicit ids after the AUTOINCREMENT high-water mark (never an id a deleted passage had: FAISS ids are
        # passage ids), so all of an article's passages go in one executemany instead of a round trip each.
        (last_id,) = await fetch_one(
            self._db,
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'passages'), 0),"
            " COALESCE((SELECT MAX(id) FROM passages), 0))",
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
        await self._insert_fts_rows(
            [(pid, article.title, passage.text) for pid, passage in zip(passage_ids, passages, strict=True)]
        )
        self._changes.added_ids.extend(passage_ids)
        self._changes.added_vectors.append(new.passage_vectors)
        return passage_ids

    def copies(self) -> SqliteCopies:
        return SqliteCopies(self._db)

    async def commit_vectors(
        self, *, model: str, dimension: int, factory: str, rebuild: bool = False, final: bool = True
    ) -> None:
        del final  # each commit writes its FAISS generation: readers between chunks search an index as always
        started = time.perf_counter()
        plan = NextIndex(
            db=self._db,
            data_dir=self._data_dir,
            meta=self._meta,
            dimension=dimension,
            factory=factory,
            total_passages=(await schema.counts(self._db))["passages"],
            rebuild=rebuild,
            current=self._current,
            current_is_private=self._private,
            parameters=self._parameters,
        )
        index = await next_index(plan, self._changes)
        self._changes = VectorChanges()
        built = time.perf_counter()
        await commit_generation(self._db, self._data_dir, index, generation_meta(model, dimension))
        logger.debug("vectors: index %.2f s, save %.2f s", built - started, time.perf_counter() - built)
        self.committed = index

    async def commit_full_text(self) -> None:
        """The next tantivy generation, recorded in this transaction: the current one's files with this write's
        full-text changes, or one built from every passage when there is none yet (a first build, an archive
        indexed before tantivy) or the patched one does not hold exactly the transaction's passages (damaged
        or deleted files: a full build is the repair). Nothing when nothing changed and the generation exists."""
        previous = recorded_generation(await schema.get_meta(self._db))
        usable = previous is not None and path_for(self._data_dir, previous).is_dir()
        if usable and not self._text_changes and not self._text_verify:
            return
        passages = (await schema.counts(self._db))["passages"]
        if previous is None and not passages:
            return
        generation = (previous or 0) + 1
        started = time.perf_counter()
        if usable:
            builder = await asyncio.to_thread(GenerationBuilder, self._data_dir, previous, generation)
            try:
                await asyncio.to_thread(builder.apply, self._text_changes)
                held = await asyncio.to_thread(builder.commit)
            except BaseException:
                await asyncio.to_thread(builder.abandon)
                raise
            if held != passages:
                logger.warning(
                    "full-text generation %d would hold %d passages, not %d: rebuilding", generation, held, passages
                )
                await asyncio.to_thread(builder.abandon)
                usable = False
        if not usable:
            builder = await self._build_full_text(generation)
        self._text_changes = TextChanges()
        await asyncio.to_thread(builder.finish)
        await schema.set_meta(self._db, {META_KEY: generation})
        self.committed_text = generation
        logger.debug("full text: generation %d in %.2f s", generation, time.perf_counter() - started)

    async def _build_full_text(self, generation: int) -> GenerationBuilder:
        builder = await asyncio.to_thread(GenerationBuilder, self._data_dir, None, generation)
        try:
            for chunk in chunks(await schema.all_passage_ids(self._db), 5_000):
                await asyncio.to_thread(builder.add, await self._passage_texts(chunk))
            await asyncio.to_thread(builder.commit)
        except BaseException:
            await asyncio.to_thread(builder.abandon)
            raise
        return builder

    # ---- repairs ----------------------------------------------------------------------------------

    async def delete_orphan_rows(self) -> int:
        """Passages and sentences whose article is gone (the foreign key check's findings)."""
        removed = 0
        for table in ("passages", "sentences"):
            cursor = await self._db.execute(f"DELETE FROM {table} WHERE article_row NOT IN (SELECT id FROM articles)")
            removed += max(cursor.rowcount, 0)
            await cursor.close()
        return removed

    async def _delete_fts_rows(self, rowids: Sequence[int]) -> None:
        self._text_changes.deleted(rowids)
        for chunk in chunks(list(rowids)):
            await self._db.execute(f"DELETE FROM passages_fts WHERE rowid IN ({marks(chunk)})", chunk)

    async def _insert_fts_rows(self, rows: Sequence[tuple[int, str, str]]) -> None:
        self._text_changes.added(rows)
        await self._db.executemany("INSERT INTO passages_fts(rowid, title, text) VALUES (?, ?, ?)", rows)

    async def _passage_texts(self, passage_ids: Sequence[int]) -> list[tuple[int, str, str]]:
        """(passage id, title, text) as the full-text rows should hold them."""
        result: list[tuple[int, str, str]] = []
        for chunk in chunks(list(passage_ids)):
            rows = await fetch(
                self._db,
                "SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
                f" JOIN articles a ON a.id = p.article_row WHERE p.id IN ({marks(chunk)})",
                chunk,
            )
            result.extend((int(pid), str(title), str(text)) for pid, title, text in rows)
        return result

    async def repair_full_text(self, stale: set[int]) -> FullTextRepair:
        """Full-text rows rebuilt to match the current passages and titles (rows of articles replaced in this
        transaction are compared afresh); the tantivy generation is counted at the commit, and rebuilt when it
        does not hold every passage."""
        self._text_verify = True
        current = {int(row[0]) for row in await fetch(self._db, sql.PASSAGE_IDS)}
        stored = {int(row[0]) for row in await fetch(self._db, "SELECT rowid FROM passages_fts")}
        drop = (stored - current) | (stale & current)
        add = (current - stored) | (stale & current)
        if drop:
            await self._delete_fts_rows(sorted(drop))
        if add:
            await self._insert_fts_rows(await self._passage_texts(sorted(add)))
        titles = {int(row): str(title) for row, title in await fetch(self._db, "SELECT id, title FROM articles")}
        title_rows = await fetch(self._db, "SELECT rowid, title FROM articles_fts")
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

    async def repair_vectors(self, wrong: set[int], unusable: bool) -> VectorRepair | None:
        meta = self._meta
        dimension = int(meta["dimension"])
        factory = meta.get("index_factory", "Flat")
        passage_ids = set(await schema.all_passage_ids(self._db))
        base: VectorIndex | None = None
        if not unusable and meta.get("generation", "").isdigit():
            with contextlib.suppress(Exception):
                base = await asyncio.to_thread(load_generation, self._data_dir, meta, self._parameters)
        if base is None or not base.supports_remove:
            index = await rebuild_vectors(self._db, dimension, factory, self._parameters)
            repair = VectorRepair(rebuilt=index.size)
        else:
            present, counts = np.unique(base.ids(), return_counts=True)
            present_set = {int(i) for i in present}
            duplicates = {int(i) for i, n in zip(present, counts, strict=True) if n > 1}
            remove = (present_set - passage_ids) | duplicates | (wrong & passage_ids)
            add = (passage_ids - present_set) | duplicates | (wrong & passage_ids)
            if not remove and not add:
                return None
            base.remove(sorted(remove))
            ids, vectors = await stored_passage_vectors(self._db, dimension, sorted(add))
            if len(ids):
                base.add(ids, vectors)
            index, repair = base, VectorRepair(rebuilt=None, removed=len(remove), added=len(ids))
        generation = await commit_generation(self._db, self._data_dir, index, {})
        self.committed = index
        name = VectorIndex.path_for(self._data_dir, generation).name
        return VectorRepair(repair.rebuilt, repair.removed, repair.added, written=name, vectors=index.size)
