"""A connection to the embedded backend's databases: `Store` (the archive) and `FeedbackStore` (votes).

Every SQL statement of the embedded backend lives in `index/_storage/_sqlite_*.py`; these classes are used
only by the backend itself (`_sqlite.py`), the bench and the tests.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from index._errors import IndexCorruptError, IndexNotBuiltError
from index.storage.layout import private_file
from index.storage.sqlite.check import CheckQueries
from index.storage.sqlite.copies import COPIES_SCHEMA, CopyQueries
from index.storage.sqlite.questions import QUESTIONS_SCHEMA, QuestionQueries
from index.storage.sqlite.schema import FEEDBACK_SCHEMA, SCHEMA, connect
from index.storage.sqlite.write import WriteQueries


class Store(CheckQueries, WriteQueries, CopyQueries):
    """The archive database. One instance per connection; not shared between tasks that write."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        super().__init__(connection)
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, create: bool = True) -> Store:
        """Open (with `create`, first creating the schema). Without `create`, a missing or empty file is
        `IndexNotBuiltError` and a file SQLite can't read is `IndexCorruptError`."""
        if not create:
            if not path.exists() or not path.stat().st_size:
                raise IndexNotBuiltError(f"no index in {path.parent} yet: run `archivebot index`")
            try:
                return cls(await connect(path), path)
            except sqlite3.DatabaseError as error:
                raise IndexCorruptError(f"{path} is not a readable SQLite database ({error})") from error
        connection = await connect(path)
        await connection.executescript(SCHEMA + COPIES_SCHEMA)
        if path.exists():
            private_file(path)
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

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """A read snapshot that is always rolled back (the doctor's: it must change nothing)."""
        await self._db.execute("BEGIN")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self._db.execute("ROLLBACK")


class FeedbackStore(QuestionQueries):
    """Feedback on answers (👍/👎) and the question log (`archivebot gaps`), in their own database file so they
    are never blocked by a reindex."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> FeedbackStore:
        connection = await connect(path)
        await connection.executescript(FEEDBACK_SCHEMA + QUESTIONS_SCHEMA)
        private_file(path)
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
            row = await cursor.fetchone()
        helpful, unhelpful = row if row is not None else (0, 0)
        return {"helpful": int(helpful), "unhelpful": int(unhelpful)}

    async def all(self) -> list[dict[str, Any]]:
        self._db.row_factory = aiosqlite.Row
        try:
            async with self._db.execute("SELECT * FROM feedback ORDER BY id") as cursor:
                return [dict(row) for row in await cursor.fetchall()]
        finally:
            self._db.row_factory = None
