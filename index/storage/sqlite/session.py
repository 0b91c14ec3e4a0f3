"""The embedded backend's writer (`SqliteSession`, the `IndexSession`): its own connection, under the reindex
lock the storage took. Each `write()` is one `BEGIN IMMEDIATE` transaction (`SqliteWrite`, in `write.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiosqlite

from index._models import ParsedArticle
from index._rows import StoredArticleState
from index.storage import sql
from index.storage.faiss_vectors import VectorIndex
from index.storage.layout import STAGING_FILE
from index.storage.sqlite import tantivy_text
from index.storage.sqlite.schema import chunks, fetch, get_meta, marks, transaction
from index.storage.sqlite.staging import Staging
from index.storage.sqlite.vectors import ServedVectors, collect_garbage, collect_settled_generations
from index.storage.sqlite.write import SqliteWrite


class SqliteSession:
    """The one writer: `db` is its own connection; `served` is what the storage's readers answer from (a
    commit hands its vectors and meta over to them)."""

    def __init__(self, db: aiosqlite.Connection, meta: dict[str, str], served: ServedVectors) -> None:
        self._db = db
        self._served = served
        self._data_dir: Path = served.data_dir
        self.meta = meta
        self._staging: list[Staging] = []
        # The latest index this session committed, patched in place by the next write: readers use the
        # storage's (loading the newest generation from its file), so no copy is needed per commit.
        self._vectors: VectorIndex | None = None

    async def article_states(self) -> list[StoredArticleState]:
        rows = await fetch(self._db, sql.ARTICLE_STATES)
        return [StoredArticleState(*row) for row in rows]

    async def vectors_by_text_hash(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """One stored vector per known text hash. One row each, not every sentence with that text: a
        sentence held by k syndicated copies otherwise costs k rows at every lookup (at 53 copies of the BBC
        archive that lookup was most of a late chunk's commit time)."""
        found: dict[str, bytes] = {}
        for chunk in chunks(list(dict.fromkeys(hashes))):
            for text_hash, vector in await fetch(
                self._db,
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
            for title, vector in await fetch(
                self._db,
                f"SELECT title, title_vector FROM articles WHERE article_id IN ({marks(chunk)})"
                " AND title_vector IS NOT NULL",
                chunk,
            ):
                found[title] = vector
        return found

    async def stored_articles(self, rows: Sequence[int]) -> list[tuple[ParsedArticle, str]]:
        found: list[tuple[ParsedArticle, str]] = []
        for chunk in chunks(list(rows)):
            for values in await fetch(
                self._db,
                "SELECT article_id, location, path, title, title_derived, source, published, dateline, byline, url,"
                f" body, content_hash, fingerprint FROM articles WHERE id IN ({marks(chunk)}) ORDER BY id",
                chunk,
            ):
                *fields, fingerprint = values
                fields[4] = bool(fields[4])
                found.append((ParsedArticle(*fields), str(fingerprint)))
        return found

    def staging(self, model: str) -> Staging:
        staging = Staging(self._data_dir / STAGING_FILE, model)
        self._staging.append(staging)
        return staging

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteWrite]:
        """One `BEGIN IMMEDIATE` transaction, which ends by committing the full-text changes' tantivy generation;
        after its COMMIT, readers of this process switch to the new vector index and the vector files and
        full-text generations no reader can need any more are deleted."""
        current = self._vectors if self._vectors is not None else self._served.index
        write = SqliteWrite(self._db, self._served, self.meta, current, private=self._vectors is not None)
        try:
            async with transaction(self._db):
                yield write
                await write.commit_full_text()
        except BaseException:
            self._vectors = None  # it may hold changes the rollback undid: the next write loads the file
            raise
        self.meta = await get_meta(self._db)
        await self._served.committed(None, self.meta)
        if write.committed is not None:
            self._vectors = write.committed
            await collect_garbage(self._data_dir, write.committed.generation)
        if write.committed_text is not None:
            await asyncio.to_thread(tantivy_text.collect_garbage, self._data_dir, write.committed_text)

    async def close(self) -> None:
        """Hand the latest vectors to the storage's readers (saves them loading the file) and close."""
        if self._vectors is not None and self.meta.get("generation") == str(self._vectors.generation):
            await self._served.committed(self._vectors, self.meta)
        await asyncio.to_thread(collect_settled_generations, self._data_dir, self.meta)
        for staging in self._staging:
            staging.close()
