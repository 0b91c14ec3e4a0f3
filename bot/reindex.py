"""The admin reindex behind /reindex: one at a time, its progress shown as throttled edits of one message and
its summary at the end. Plain asyncio (no Discord): the cog hands in how to edit that message and how to post
in the channel, so this is tested without a Discord connection."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from index import Archive, IndexBusyError, IndexSummary, Progress, RemovalRefusedError

from .discord_format import progress_text, summary_text
from .text import PHASES

logger = logging.getLogger("archivebot.bot")

BUSY_ELSEWHERE = (
    "Another reindex (from another bot process or the command line) is running; try again when it has finished."
)
FAILED = "The reindex failed; the details are in the bot's log. Questions are still answered from the previous index."

# Shows a text to the admin; False (after logging why) when that did not work, e.g. the interaction token
# lasts 15 minutes and a long reindex outlives it.
Show = Callable[[str], Awaitable[bool]]


@dataclass
class ProgressThrottle:
    """Decides when a progress report is worth a message edit: at most one per `interval` seconds, always
    the first one, and always a phase change."""

    interval: float
    clock: Callable[[], float] = time.monotonic
    _last_time: float | None = field(default=None, init=False)
    _last_phase: str | None = field(default=None, init=False)

    def due(self, progress: Progress) -> bool:
        now = self.clock()
        if self._last_time is None or progress.phase != self._last_phase or now - self._last_time >= self.interval:
            self._last_time, self._last_phase = now, progress.phase
            return True
        return False


class ReindexJob:
    """Runs `archive.reindex()` in the background for an admin and keeps them told."""

    def __init__(self, archive: Archive, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.archive = archive
        self.interval = interval  # seconds between two progress edits
        self.clock = clock
        self.task: asyncio.Task[None] | None = None
        self.progress: Progress | None = None  # the latest report of the running reindex
        # Called with each finished reindex's summary (the feed task tells the follows its new articles answer).
        self.on_indexed: Callable[[IndexSummary], Awaitable[None]] | None = None

    @property
    def running(self) -> bool:
        """A reindex runs: this job's, or another one of the same archive (e.g. `archive.reindex()` directly)."""
        return self.archive.reindexing or (self.task is not None and not self.task.done())

    def busy_text(self) -> str:
        """What a second /reindex is told while one runs."""
        if self.task is None or self.task.done():  # not this job's: the feed task's reindex, or a direct one
            return "A reindex is already running; it indexes new feed articles. Try again when it has finished."
        progress = self.progress
        where = (
            f" ({PHASES.get(progress.phase, progress.phase).lower()}, {progress.done:,}/{progress.total:,})"
            if progress
            else ""
        )
        return f"A reindex is already running{where}; I'll post its summary when it finishes. Please wait for it."

    def start(self, edit: Show, post: Show, *, allow_removal: bool = False) -> asyncio.Task[None]:
        """Start the reindex: progress goes to `edit`, the summary to `edit` or, when that fails, to `post`."""
        self.progress = None
        self.task = asyncio.create_task(self._run(edit, post, allow_removal), name="archivebot-reindex")
        return self.task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self, edit: Show, post: Show, allow_removal: bool) -> None:
        throttle = ProgressThrottle(self.interval, self.clock)
        edits: set[asyncio.Task[None]] = set()
        state = {"finished": False, "editable": True}  # editable: False once an edit failed, stop trying
        loop = asyncio.get_running_loop()

        async def show_progress(text: str) -> None:
            if not await edit(text):
                state["editable"] = False

        def report(progress: Progress) -> None:  # on the event loop
            if state["finished"]:
                return
            self.progress = progress
            if not state["editable"] or any(not task.done() for task in edits) or not throttle.due(progress):
                return
            task = loop.create_task(show_progress(progress_text(progress)))
            edits.add(task)
            task.add_done_callback(edits.discard)

        def on_progress(progress: Progress) -> None:
            # The engine reports from the event loop or from its worker threads: hop onto the loop either way.
            loop.call_soon_threadsafe(report, progress)

        try:
            text = await self._reindex(on_progress, allow_removal)
        finally:
            self.progress = None
            state["finished"] = True
        await asyncio.sleep(0)  # let progress reports queued from worker threads run (they are ignored now)
        if edits:
            await asyncio.gather(*edits, return_exceptions=True)
        if not await edit(text):
            await post(text)

    async def _reindex(self, on_progress: Callable[[Progress], None], allow_removal: bool) -> str:
        """Reindex; the text that ends it (the summary, or why it did not run)."""
        try:
            summary = await self.archive.reindex(progress=on_progress, allow_removal=allow_removal)
        except IndexBusyError as error:
            logger.info("reindex refused: %s", error)
            return BUSY_ELSEWHERE
        except RemovalRefusedError as error:
            logger.warning("reindex refused: %s", error)
            return f"Stopped: {error}. Check the archive folders, or run `/reindex allow_removal:True`."
        except Exception as error:
            logger.error("reindex failed", exc_info=error)
            return FAILED
        logger.info("reindex done: %s", summary.to_dict())
        if self.on_indexed is not None:
            try:
                await self.on_indexed(summary)
            except Exception:
                logger.exception("after the reindex: telling the follows failed")
        return summary_text(summary)
