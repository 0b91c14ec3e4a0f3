"""The embedded backend: SQLite (rows, full text) + FAISS (vectors) in one data directory.

Its roles own their queries: `SqliteReader` (read.py), `SqliteSession` and `SqliteWrite` (session.py,
write.py), `SqliteCheck` (check.py), `SqliteCopies` (copies.py), `SqliteFeedback` (feedback.py); schema,
connections, transactions and the queries several of them run are in schema.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from index._errors import IndexCorruptError
from index._settings import Settings
from index.storage.base import StorageStats
from index.storage.faiss_vectors import SearchParameters, VectorIndex
from index.storage.layout import DATABASE_FILE, FEEDBACK_FILE, index_lock, prepare_data_dir
from index.storage.sqlite import schema
from index.storage.sqlite.check import SqliteCheck
from index.storage.sqlite.feedback import SqliteFeedback
from index.storage.sqlite.fulltext import TermFrequencies
from index.storage.sqlite.read import SqliteReader
from index.storage.sqlite.session import SqliteSession
from index.storage.sqlite.sources import KnownSources
from index.storage.sqlite.tantivy_text import ServedText, generation_bytes, recorded_generation
from index.storage.sqlite.vectors import ServedVectors, collect_settled_generations
from index.storage.status_file import FileStatusBoard


class SqliteStorage:
    """The `Storage` of a data directory. One read connection (questions take turns on it, each in its own
    read transaction); the index session writes through a connection of its own."""

    def __init__(
        self, data_dir: Path, db: aiosqlite.Connection, parameters: SearchParameters, full_text: str = "auto"
    ) -> None:
        self.data_dir = data_dir
        self.location = str(data_dir)
        self._db = db
        self._path = data_dir / DATABASE_FILE
        self._parameters = parameters
        self._served = ServedVectors(data_dir, parameters)
        self._frequencies = TermFrequencies()  # document frequencies, kept while the database is unchanged
        self._text = ServedText(data_dir, full_text)
        self._sources = KnownSources()  # the distinct sources a filtered question matches, kept likewise
        self._feedback: SqliteFeedback | None = None
        self._feedback_lock = asyncio.Lock()

    @classmethod
    async def open(cls, settings: Settings, *, create: bool = True) -> SqliteStorage:
        """Open (or, with `create`, create) the archive in `settings.data_dir`. Without `create` nothing is
        written: a missing index is `IndexNotBuiltError`, an unreadable one `IndexCorruptError`."""
        data_dir = Path(settings.data_dir)
        if create:
            prepare_data_dir(data_dir)
        db = await schema.open_database(data_dir / DATABASE_FILE, create=create)
        parameters = SearchParameters(settings.faiss_nprobe, settings.faiss_ef_search)
        storage = cls(data_dir, db, parameters, settings.full_text)
        async with schema.closed_on_failure(storage):
            with contextlib.suppress(sqlite3.DatabaseError):  # a damaged file is reported by whoever reads it
                storage._served.meta = await schema.get_meta(db)
            if create:
                await asyncio.to_thread(collect_settled_generations, data_dir, storage._served.meta)
        return storage

    @property
    def meta(self) -> dict[str, str]:
        return self._served.meta

    async def refresh_meta(self) -> dict[str, str]:
        async with self._served.lock:
            self._served.meta = await schema.get_meta(self._db)
        return self._served.meta

    async def close(self) -> None:
        try:
            await self._db.close()
        finally:
            if self._feedback is not None:
                await self._feedback.close()

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[SqliteReader]:
        async with self._served.lock, schema.transaction(self._db, write=False):
            meta = await schema.get_meta(self._db)
            if "generation" in meta:
                self._served.meta = meta
            yield SqliteReader(self._db, meta, self._served, self._frequencies, self._text, self._sources)

    async def warm_up(self) -> None:
        async with self.reader() as reader:
            if "generation" in reader.meta:
                await reader.vectors()

    @contextlib.asynccontextmanager
    async def index_session(self) -> AsyncIterator[SqliteSession]:
        with index_lock(self.data_dir):
            writer = await schema.open_database(self._path)
            session: SqliteSession | None = None
            try:
                session = SqliteSession(writer, await schema.get_meta(writer), self._served)
                yield session
            finally:
                # Shielded: a reindex cancelled at shutdown must still close its writer (left open, it held
                # its file and, before connections ran in daemon threads, kept the process alive).
                if session is not None:
                    await asyncio.shield(session.close())
                await asyncio.shield(writer.close())

    @contextlib.asynccontextmanager
    async def check(self) -> AsyncIterator[SqliteCheck]:
        async with self._served.lock:
            try:
                async with schema.snapshot(self._db):
                    meta = await schema.get_meta(self._db)
                    yield SqliteCheck(self._db, self.data_dir, meta, self._parameters)
            except sqlite3.DatabaseError as error:
                raise IndexCorruptError(
                    f"{self._path} is damaged ({error}): restore a backup or delete it and run `archivebot index`"
                ) from error

    async def stats(self) -> StorageStats:
        async with self._served.lock:
            counts = await schema.counts(self._db)
            meta = await schema.get_meta(self._db)
        database_bytes = sum(p.stat().st_size for p in self.data_dir.glob(DATABASE_FILE + "*") if p.exists())
        # The live generations only: older files are a reader's grace, then go.
        await asyncio.to_thread(collect_settled_generations, self.data_dir, meta)
        vector_bytes = 0
        if meta.get("generation"):
            with contextlib.suppress(OSError):
                vector_bytes = VectorIndex.path_for(self.data_dir, int(meta["generation"])).stat().st_size
        text_bytes = 0
        text_generation = recorded_generation(meta)
        if text_generation is not None:
            text_bytes = await asyncio.to_thread(generation_bytes, self.data_dir, text_generation)
        return StorageStats(counts, meta, database_bytes, vector_bytes, text_bytes)

    async def feedback(self) -> SqliteFeedback:
        # Opened once under a lock: two first callers at once (a vote and a logged question) each opened a
        # connection, and the one overwritten was never closed.
        async with self._feedback_lock:
            if self._feedback is None:
                self._feedback = await SqliteFeedback.open(self.data_dir / FEEDBACK_FILE)
        return self._feedback

    async def questions(self) -> SqliteFeedback:
        return await self.feedback()  # the question log shares the feedback database file

    def status_board(self) -> FileStatusBoard:
        return FileStatusBoard(self.data_dir)
