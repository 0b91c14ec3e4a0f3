"""How the console reads its lines: line editing and history on a terminal, plain lines from a pipe.

On a terminal (stdin and stdout both): prompt_toolkit — arrow keys and the usual Emacs keys edit the line,
↑/↓ recall earlier lines (kept between sessions in the data directory, owner-only like every file there),
Ctrl-L clears the screen, Ctrl-C drops the line being typed, Ctrl-D leaves. Anywhere else (a pipe, a file,
CI): one line at a time from the stream, and nothing but the text is written — no escape codes, no prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import Style

logger = logging.getLogger(__name__)

HISTORY_FILE = "console_history"  # in the data directory
HISTORY_KEPT = 1_000  # lines recalled with ↑; older ones are dropped from the file when the console starts
PROMPT = "? "


class LineReader(Protocol):
    async def read(self) -> str | None:
        """The next line; "" when the line was dropped (Ctrl-C); None at the end (Ctrl-D, end of input)."""
        ...


class PlainReader:
    """Lines from a stream that is not a terminal: no prompt, no editing, no history."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    async def read(self) -> str | None:
        line = await asyncio.to_thread(self.stream.readline)
        return line or None


def private_history_file(data_dir: Path) -> Path | None:
    """`data_dir/console_history`, created owner-only (0600, the directory 0700 when created here) before
    anything is written to it; a looser existing file is tightened. None when it cannot be made (a read-only
    data directory): the console then remembers lines for this session only."""
    path = data_dir / HISTORY_FILE
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
    except OSError as error:
        logger.warning("console history is not kept (%s): %s", path, error)
        return None
    return path


def _history_entries(lines: Iterable[str]) -> Iterator[list[str]]:
    """prompt_toolkit's history file: "# time" comment lines, then an entry's lines each prefixed with "+"."""
    entry: list[str] = []
    for line in lines:
        if line.startswith("+"):
            entry.append(line[1:].rstrip("\n"))
        elif entry:
            yield entry
            entry = []
    if entry:
        yield entry


def trim_history(path: Path, kept: int = HISTORY_KEPT) -> None:
    """Keep only the newest `kept` entries of the history file (rewritten owner-only, atomically)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        entries = list(_history_entries(handle))
    if len(entries) <= kept:
        return
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as handle:
        for entry in entries[-kept:]:
            handle.write("\n# kept from an earlier session\n" + "".join(f"+{line}\n" for line in entry))
    os.replace(temporary, path)


class PromptReader:
    """prompt_toolkit line editing: history (a file, or memory), suggestions from it, /command completion."""

    def __init__(self, history_path: Path | None, commands: Sequence[str], colour: bool) -> None:
        history: History = InMemoryHistory()
        if history_path is not None:
            with contextlib.suppress(OSError):
                trim_history(history_path)
            history = FileHistory(str(history_path))
        self._message = FormattedText([("class:prompt", PROMPT)])
        self.session: PromptSession[str] = PromptSession(
            history=history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=CommandCompleter(commands),
            complete_while_typing=True,
            style=Style.from_dict({"prompt": "bold ansicyan" if colour else "bold"}),
            color_depth=None if colour else ColorDepth.MONOCHROME,
        )

    async def read(self) -> str | None:
        try:
            return await self.session.prompt_async(self._message)
        except KeyboardInterrupt:  # Ctrl-C: drop the line, ask again
            return ""
        except EOFError:  # Ctrl-D on an empty line
            return None


class CommandCompleter(Completer):
    """Completes "/se" to "/search" (only at the start of the line, so questions are never completed)."""

    def __init__(self, commands: Sequence[str]) -> None:
        self.commands = commands

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        typed = document.text_before_cursor
        if not typed.startswith("/") or " " in typed:
            return
        for command in self.commands:
            if command.startswith(typed):
                yield Completion(command, start_position=-len(typed))
