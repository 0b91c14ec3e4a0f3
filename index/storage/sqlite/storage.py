"""The embedded backend: SQLite (rows, full text) + FAISS (vectors) in one data directory."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np

from index._errors import IndexCorruptError, IndexNotBuiltError
from index._rows import ArticleRow, CopyRef, PassageRow, SentenceRow
from index._settings import Settings
from index.storage.base import StorageStats
from index.storage.faiss_vectors import SearchParameters, VectorIndex
from index.storage.layout import DATABASE_FILE, FEEDBACK_FILE, index_lock, prepare_data_dir
from index.storage.sqlite.schema import fts_match
from index.storage.sqlite.session import SqliteCheck, SqliteSession
from index.storage.sqlite.store import FeedbackStore, Store
from index.storage.sqlite.vectors import load_generation, verify_loaded
from index.storage.status_file import FileStatusBoard


class SqliteStorage:
    """The `Storage` of a data directory. One read connection (questions take turns on it, each in its own
    read transaction); the index session writes through a connection of its own."""

    def __init__(self, data_dir: Path, store: Store, parameters: SearchParameters) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self._store = store
        self._parameters = parameters
        self._read_lock = asyncio.Lock()
        self._vectors: VectorIndex | None = None
        self._meta: dict[str, str] = {}
        self._feedback: FeedbackStore | None = None

    @classmethod
    async def open(cls, settings: Settings, *, create: bool = True) -> SqliteStorage:
        """Open (or, with `create`, create) the archive in `settings.data_dir`. Without `create` nothing is
        written: a missing index is `IndexNotBuiltError`, an unreadable one `IndexCorruptError`."""
        data_dir = Path(settings.data_dir)
        if create:
            prepare_data_dir(data_dir)
        store = await Store.open(data_dir / DATABASE_FILE, create=create)
        parameters = SearchParameters(settings.faiss_nprobe, settings.faiss_ef_search)
        storage = cls(data_dir, store, parameters)
        with contextlib.suppress(sqlite3.DatabaseError):  # a damaged file is reported by whoever reads it
            storage._meta = await store.get_meta()
        return storage

    @property
    def meta(self) -> dict[str, str]:
        return self._meta

    async def refresh_meta(self) -> dict[str, str]:
        async with self._read_lock:
            self._meta = await self._store.get_meta()
        return self._meta

    async def close(self) -> None:
        await self._store.close()
        if self._feedback is not None:
            await self._feedback.close()

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[SqliteReader]:
        async with self._read_lock, self._store.transaction(write=False):
            meta = await self._store.get_meta()
            if "generation" in meta:
                self._meta = meta
            yield SqliteReader(self, meta)

    async def warm_up(self) -> None:
        async with self.reader() as reader:
            if "generation" in reader.meta:
                await reader.vectors()

    async def _vectors_of(self, meta: dict[str, str]) -> VectorIndex:
        """The vector index of the snapshot's generation (loaded again after another process's reindex)."""
        if "generation" not in meta:
            raise IndexNotBuiltError("the archive has not been indexed yet: run `archivebot index`")
        generation = int(meta["generation"])
        if self._vectors is None or self._vectors.generation != generation:
            try:
                loaded = await asyncio.to_thread(load_generation, self.data_dir, meta, self._parameters)
            except Exception as error:
                raise IndexCorruptError(
                    f"the vector file for index generation {generation} is missing or unreadable ({error});"
                    " run `archivebot doctor --repair`"
                ) from error
            await verify_loaded(self._store, loaded, meta)  # IndexCorruptError rather than wrong answers
            self._vectors = loaded
        return self._vectors

    async def _committed(self, vectors: VectorIndex | None, meta: dict[str, str]) -> None:
        """A write of this process committed: readers switch to its vectors (and meta) from now on."""
        async with self._read_lock:
            if vectors is not None:
                self._vectors = vectors
            self._meta = meta

    @contextlib.asynccontextmanager
    async def index_session(self) -> AsyncIterator[SqliteSession]:
        with index_lock(self.data_dir):
            writer = await Store.open(self.data_dir / DATABASE_FILE)
            session = SqliteSession(self, writer, await writer.get_meta())
            try:
                yield session
            finally:
                await session.close()
                await writer.close()

    @contextlib.asynccontextmanager
    async def check(self) -> AsyncIterator[SqliteCheck]:
        path = self._store.path
        async with self._read_lock:
            try:
                async with self._store.snapshot():
                    yield SqliteCheck(self._store, self.data_dir, await self._store.get_meta(), self._parameters)
            except sqlite3.DatabaseError as error:
                raise IndexCorruptError(
                    f"{path} is damaged ({error}): restore a backup or delete it and run `archivebot index`"
                ) from error

    async def stats(self) -> StorageStats:
        async with self._read_lock:
            counts = await self._store.counts()
            meta = await self._store.get_meta()
        database_bytes = sum(p.stat().st_size for p in self.data_dir.glob(DATABASE_FILE + "*") if p.exists())
        vector_bytes = sum(p.stat().st_size for p in self.data_dir.glob("vectors.*.faiss"))
        return StorageStats(counts, meta, database_bytes, vector_bytes)

    async def feedback(self) -> FeedbackStore:
        if self._feedback is None:
            self._feedback = await FeedbackStore.open(self.data_dir / FEEDBACK_FILE)
        return self._feedback

    async def questions(self) -> FeedbackStore:
        return await self.feedback()  # the question log shares the feedback database file

    def status_board(self) -> FileStatusBoard:
        return FileStatusBoard(self.data_dir)

    # for the session (same backend, not part of the Storage protocol)
    @property
    def parameters(self) -> SearchParameters:
        return self._parameters

    @property
    def current_vectors(self) -> VectorIndex | None:
        return self._vectors


class SqliteReader:
    """The `ArchiveReader` of the embedded backend: the read transaction and the FAISS file of its generation."""

    def __init__(self, storage: SqliteStorage, meta: dict[str, str]) -> None:
        self._storage = storage
        self._store = storage._store
        self.meta = meta

    async def vectors(self) -> VectorIndex:
        return await self._storage._vectors_of(self.meta)

    async def nearest_passages(self, vector: np.ndarray, k: int) -> list[int]:
        vectors = await self.vectors()
        _, ids = await asyncio.to_thread(vectors.search, vector[None, :], k)
        return [int(i) for i in ids[0] if i >= 0]

    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        vectors = await self.vectors()
        return await asyncio.to_thread(vectors.reconstruct, list(passage_ids))

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        # The snapshot's vector index holds one vector per passage (checked when it is loaded): counting the
        # passages table instead cost 4 ms per question at 1M passages.
        return await self._store.document_frequencies(terms, (await self.vectors()).size)

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        return await self._store.fts_passages(fts_match(terms), k) if terms else []

    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]:
        return await self._store.fts_titles(fts_match(terms), k) if terms else []

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        return await self._store.passages(passage_ids)

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]:
        return await self._store.articles_by_rows(rows)

    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        return await self._store.sentences_of(rows)

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        return await self._store.copies_of(rows)

    async def article(self, article_id: str) -> ArticleRow | None:
        return await self._store.article(article_id)

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        return await self._store.articles_by_title(text, limit)
