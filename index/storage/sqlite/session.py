"""The embedded backend's writer (`SqliteSession`, `SqliteWrite`) and the doctor's snapshot (`SqliteCheck`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index._models import ParsedArticle
from index._rows import NewPassage, NewSentence, StoredArticleState
from index.storage.base import FullTextFindings, FullTextRepair, UnfinishedWork, VectorRepair, VectorsUnusableError
from index.storage.faiss_vectors import SearchParameters, VectorIndex
from index.storage.layout import STAGING_FILE
from index.storage.sqlite.staging import Staging, staged_count
from index.storage.sqlite.store import Store
from index.storage.sqlite.vectors import (
    NextIndex,
    VectorChanges,
    collect_garbage,
    commit_generation,
    generation_meta,
    load_generation,
    next_index,
    rebuild_vectors,
    stored_passage_vectors,
)

if TYPE_CHECKING:
    from index.storage.sqlite.storage import SqliteStorage

logger = logging.getLogger(__name__)


class SqliteSession:
    """The `IndexSession`: the writer's own connection, under the reindex lock the storage took."""

    def __init__(self, storage: SqliteStorage, store: Store, meta: dict[str, str]) -> None:
        self._storage = storage
        self._store = store
        self.meta = meta
        self._staging: list[Staging] = []
        # The latest index this session committed, patched in place by the next write: readers use the
        # storage's (loading the newest generation from its file), so no copy is needed per commit.
        self._vectors: VectorIndex | None = None

    async def article_states(self) -> list[StoredArticleState]:
        return await self._store.article_states()

    async def vectors_by_text_hash(self, hashes: Sequence[str]) -> dict[str, bytes]:
        return await self._store.vectors_by_text_hash(hashes)

    async def title_vectors(self, article_ids: Sequence[str]) -> dict[str, bytes]:
        return await self._store.title_vectors(article_ids)

    async def stored_articles(self, rows: Sequence[int]) -> list[tuple[ParsedArticle, str]]:
        return await self._store.stored_articles(rows)

    def staging(self, model: str) -> Staging:
        staging = Staging(self._storage.data_dir / STAGING_FILE, model)
        self._staging.append(staging)
        return staging

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteWrite]:
        """One `BEGIN IMMEDIATE` transaction; after its COMMIT, readers of this process switch to the new
        vector index and vector files no reader can need any more are deleted."""
        write = SqliteWrite(self._store, self._storage, self.meta, self._vectors)
        try:
            async with self._store.transaction():
                yield write
        except BaseException:
            self._vectors = None  # it may hold changes the rollback undid: the next write loads the file
            raise
        self.meta = await self._store.get_meta()
        await self._storage._committed(None, self.meta)
        if write.committed is not None:
            self._vectors = write.committed
            await collect_garbage(self._storage.data_dir, write.committed.generation)

    async def close(self) -> None:
        """Hand the latest vectors to the storage's readers (saves them loading the file) and close."""
        if self._vectors is not None and self.meta.get("generation") == str(self._vectors.generation):
            await self._storage._committed(self._vectors, self.meta)
        for staging in self._staging:
            staging.close()


class SqliteWrite:
    """The `IndexWrite`: row changes in the open transaction, and the vector changes they imply."""

    def __init__(self, store: Store, storage: SqliteStorage, meta: dict[str, str], private: VectorIndex | None) -> None:
        self._store = store
        self._data_dir = storage.data_dir
        self._private = private is not None
        self._current = private if private is not None else storage.current_vectors
        self._parameters = storage.parameters
        self._meta = meta
        self._changes = VectorChanges()
        self.committed: VectorIndex | None = None

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None:
        await self._store.update_fingerprints(fingerprints)

    async def delete_articles(self, rows: Sequence[int]) -> None:
        self._changes.removed.extend(await self._store.delete_articles(rows))

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
        passage_vectors: np.ndarray,
    ) -> list[int]:
        passage_ids = await self._store.insert_article(
            article,
            fingerprint=fingerprint,
            body_hash=body_hash,
            title_vector=title_vector,
            indexed_at=indexed_at,
            sentences=sentences,
            passages=passages,
        )
        self._changes.added_ids.extend(passage_ids)
        self._changes.added_vectors.append(passage_vectors)
        return passage_ids

    def copies(self) -> Store:
        return self._store

    async def set_meta(self, values: dict[str, Any]) -> None:
        await self._store.set_meta(values)

    async def commit_vectors(self, *, model: str, dimension: int, factory: str, rebuild: bool = False) -> None:
        started = time.perf_counter()
        plan = NextIndex(
            store=self._store,
            data_dir=self._data_dir,
            meta=self._meta,
            dimension=dimension,
            factory=factory,
            total_passages=(await self._store.counts())["passages"],
            rebuild=rebuild,
            current=self._current,
            current_is_private=self._private,
            parameters=self._parameters,
        )
        index = await next_index(plan, self._changes)
        self._changes = VectorChanges()
        built = time.perf_counter()
        await commit_generation(self._store, self._data_dir, index, generation_meta(model, dimension))
        logger.debug("vectors: index %.2f s, save %.2f s", built - started, time.perf_counter() - built)
        self.committed = index

    async def delete_orphan_rows(self) -> int:
        return await self._store.delete_orphan_rows()

    async def repair_full_text(self, stale: set[int]) -> FullTextRepair:
        return await self._store.repair_full_text(stale)

    async def repair_vectors(self, wrong: set[int], unusable: bool) -> VectorRepair | None:
        meta = self._meta
        dimension = int(meta["dimension"])
        factory = meta.get("index_factory", "Flat")
        passage_ids = set(await self._store.all_passage_ids())
        base: VectorIndex | None = None
        if not unusable and meta.get("generation", "").isdigit():
            with contextlib.suppress(Exception):
                base = await asyncio.to_thread(load_generation, self._data_dir, meta, self._parameters)
        if base is None or not base.supports_remove:
            index = await rebuild_vectors(self._store, dimension, factory, self._parameters)
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
            ids, vectors = await stored_passage_vectors(self._store, dimension, sorted(add))
            if len(ids):
                base.add(ids, vectors)
            index, repair = base, VectorRepair(rebuilt=None, removed=len(remove), added=len(ids))
        generation = await commit_generation(self._store, self._data_dir, index, {})
        self.committed = index
        name = VectorIndex.path_for(self._data_dir, generation).name
        return VectorRepair(repair.rebuilt, repair.removed, repair.added, written=name, vectors=index.size)


class SqliteCheck:
    """The `ArchiveCheck`: the storage's read connection inside a snapshot that is always rolled back."""

    def __init__(self, store: Store, data_dir: Path, meta: dict[str, str], parameters: SearchParameters) -> None:
        self._store = store
        self._data_dir = data_dir
        self._parameters = parameters
        self.meta = meta
        generation = int(meta["generation"]) if meta.get("generation", "").isdigit() else 0
        self.vectors_name = VectorIndex.path_for(data_dir, generation).name

    async def counts(self) -> dict[str, int]:
        return await self._store.counts()

    async def passage_ids(self) -> set[int]:
        return set(await self._store.all_passage_ids())

    async def integrity_problems(self) -> list[str]:
        return await self._store.integrity_problems()

    async def orphan_rows(self) -> int:
        return await self._store.orphan_rows()

    async def articles_with_bad_vectors(self, dimension: int) -> set[int]:
        return await self._store.articles_with_bad_vectors(dimension)

    async def articles_with_missing_sentences(self) -> set[int]:
        return await self._store.articles_with_missing_sentences()

    async def full_text(self) -> FullTextFindings:
        return await self._store.full_text()

    async def vectors(self) -> VectorIndex:
        try:
            return await asyncio.to_thread(load_generation, self._data_dir, self.meta, self._parameters)
        except Exception as error:
            raise VectorsUnusableError(str(error).splitlines()[0][:120] if str(error) else repr(error)) from error

    def passage_vector_sources(self) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
        return self._store.passage_vector_sources()

    async def unfinished_work(self) -> UnfinishedWork:
        leftovers = [p for p in self._data_dir.glob("vectors.*") if p.name.endswith(".tmp")]
        return UnfinishedWork(len(leftovers), staged_count(self._data_dir / STAGING_FILE), STAGING_FILE)
