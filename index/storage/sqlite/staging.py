"""`staging.sqlite3`: vectors embedded by an unfinished index run, by text hash, so a killed run resumes
without embedding the same text again (cleared after a successful run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from index.storage.sqlite.schema import chunks, marks


class Staging:
    """The `VectorStaging` of the embedded backend (synchronous SQLite, run in worker threads)."""

    def __init__(self, path: Path, model: str) -> None:
        with contextlib.suppress(FileExistsError):  # owner-only before SQLite creates -wal/-shm beside it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode = WAL")
        # A cache that must survive a killed indexer, not a power cut: no fsync per batch (~20 ms each).
        self._connection.execute("PRAGMA synchronous = NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS staged (text_hash TEXT PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL)"
        )
        self._connection.commit()
        self._model = model

    def _get(self, hashes: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk in chunks(list(dict.fromkeys(hashes))):
            rows = self._connection.execute(
                f"SELECT text_hash, vector FROM staged WHERE model = ? AND text_hash IN ({marks(chunk)})",
                [self._model, *chunk],
            ).fetchall()
            found.update(dict(rows))
        return found

    def _put(self, items: dict[str, bytes]) -> None:
        self._connection.executemany(
            "INSERT OR REPLACE INTO staged (text_hash, model, vector) VALUES (?, ?, ?)",
            [(key, self._model, value) for key, value in items.items()],
        )
        self._connection.commit()

    def _clear(self) -> None:
        self._connection.execute("DELETE FROM staged")
        self._connection.commit()
        self._connection.execute("VACUUM")

    async def get(self, hashes: Sequence[str]) -> dict[str, bytes]:
        return await asyncio.to_thread(self._get, hashes)

    async def put(self, vectors: dict[str, bytes]) -> None:
        await asyncio.to_thread(self._put, vectors)

    async def clear(self) -> None:
        await asyncio.to_thread(self._clear)

    def close(self) -> None:
        self._connection.close()


def staged_count(path: Path) -> int:
    """Texts an unfinished run left in a staging file (0 when there is none or it can't be read)."""
    if not path.exists() or not path.stat().st_size:
        return 0
    with contextlib.suppress(sqlite3.Error):
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = source.execute("SELECT count(*) FROM staged").fetchone()
        finally:
            source.close()
        return int(row[0]) if row is not None else 0
    return 0
