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
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable

from index._models import Progress
from index._rows import ReindexStatus
from index.storage.base import StatusBoard

logger = logging.getLogger(__name__)
PUBLISH_INTERVAL = 1.0  # seconds: progress is published at most this often
HEARTBEAT = 2.0  # seconds: and at least this often while the reindex runs


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
