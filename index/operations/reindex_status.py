"""A running reindex, as every process sharing the archive sees it (several bot processes, the CLI).

The process holding the reindex lock publishes its latest progress, at most once a second and at least every
`HEARTBEAT` seconds, and clears it when it ends. Any other process reads it: `/stats` and a refused `/reindex`
in another bot process say "reindex in progress: embedding 45%". A status whose writer died (its heartbeat is
older than `STALE_AFTER`, or its process is gone on this host) is ignored, so a killed indexer never leaves
a reindex "running" for ever.

Each storage backend keeps the status where all its processes see it (`Storage.status_board()`): the embedded
one in a small JSON file in the data directory (`index/_storage/_status_file.py`; the processes sharing a data
directory are on one host), a server backend in its database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from index._models import Progress

logger = logging.getLogger(__name__)
PUBLISH_INTERVAL = 1.0  # seconds: progress is published at most this often
HEARTBEAT = 2.0  # seconds: and at least this often while the reindex runs
STALE_AFTER = 30.0  # seconds without a heartbeat: the reindexing process is gone


@dataclass(frozen=True)
class ReindexStatus:
    """Where a running reindex has got to: `done` of `total` in `phase` ("scan", "embed", "commit", "done")."""

    phase: str
    done: int
    total: int
    started_at: float  # Unix time
    updated_at: float  # Unix time of the latest heartbeat
    host: str
    pid: int

    @property
    def percent(self) -> int | None:
        """How far the current phase is, 0-100 (None before its size is known)."""
        return min(100, self.done * 100 // self.total) if self.total > 0 else None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReindexStatus | None:
        """The status in `text`, or None when it is not one (a torn or foreign file)."""
        try:
            data = json.loads(text)
            return cls(
                phase=str(data["phase"]),
                done=int(data["done"]),
                total=int(data["total"]),
                started_at=float(data["started_at"]),
                updated_at=float(data["updated_at"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def alive(self, now: float | None = None) -> bool:
        """False when the reindexing process is gone: no heartbeat for `STALE_AFTER`, or (on this host) its
        process no longer exists."""
        if (now if now is not None else time.time()) - self.updated_at > STALE_AFTER:
            return False
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True  # it exists, as another user
        return True


class StatusBoard(Protocol):
    """Where the status of a running reindex is kept for the other processes."""

    async def publish(self, status: ReindexStatus) -> None: ...

    async def clear(self, pid: int, host: str) -> None:
        """Remove the status if it is this writer's."""
        ...

    async def read(self) -> ReindexStatus | None:
        """The published status, if any (alive or not)."""
        ...


async def running_reindex(board: StatusBoard) -> ReindexStatus | None:
    """The reindex running now in any process sharing the archive, or None."""
    status = await board.read()
    return status if status is not None and status.alive() else None


ProgressCallback = Callable[[Progress], None]


@contextlib.asynccontextmanager
async def publishing(board: StatusBoard, forward: ProgressCallback | None) -> AsyncIterator[ProgressCallback]:
    """For the reindex's duration: a progress callback (safe from worker threads) that also calls `forward`
    and keeps the board's status current; the status is cleared when the reindex ends, however it ends."""
    started = time.time()
    host, pid = socket.gethostname(), os.getpid()
    latest = Progress("scan", 0, 0, 0.0)

    def report(progress: Progress) -> None:
        nonlocal latest
        latest = progress  # one reference swap: safe from the indexer's worker threads
        if forward is not None:
            forward(progress)

    async def heartbeat() -> None:
        published: tuple[str, int, int] | None = None
        last = 0.0
        while not stop.is_set():
            now = time.time()
            current = (latest.phase, latest.done, latest.total)
            if current != published or now - last >= HEARTBEAT:
                status = ReindexStatus(*current, started_at=started, updated_at=now, host=host, pid=pid)
                try:
                    await board.publish(status)
                except Exception as error:  # a full disk or a database hiccup must not stop the reindex itself
                    logger.warning("could not publish the reindex progress: %s", error)
                published, last = current, now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PUBLISH_INTERVAL)

    # Stopped by an event, not cancelled: a cancelled publish could still land (its thread runs on) after
    # the status was cleared, leaving a finished reindex "running" until its heartbeat went stale.
    stop = asyncio.Event()
    task = asyncio.create_task(heartbeat(), name="archivebot-reindex-status")
    try:
        yield report
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.shield(task)
        try:
            await board.clear(pid, host)
        except Exception as error:  # the status goes stale by itself (no more heartbeats)
            logger.warning("could not clear the reindex progress: %s", error)
