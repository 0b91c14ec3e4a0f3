"""The embedded backend's reindex status board: a small JSON file in the data directory, replaced atomically
(the processes sharing a data directory are on one host)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from index._rows import ReindexStatus
from index.storage.layout import STATUS_FILE


class FileStatusBoard:
    """The status in `STATUS_FILE` of a data directory (shared by the processes of one host)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATUS_FILE

    async def publish(self, status: ReindexStatus) -> None:
        await asyncio.to_thread(self._write, status.to_json())

    def _write(self, text: str) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, self.path)  # readers see the old status or the new one, never half

    async def clear(self, pid: int, host: str) -> None:
        current = await self.read()
        if current is not None and (current.pid, current.host) == (pid, host):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def read(self) -> ReindexStatus | None:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ReindexStatus.from_json(text)
