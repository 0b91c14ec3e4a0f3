"""The local console front end: type a question, get quotes with citations (same engine as the bot).

A conversation, like a Discord thread: each question is asked with the earlier turns (the bot's bound,
`TURNS_KEPT`), so "Who is its chief executive?" after a question about Qantas is answered from the Qantas
article; `/new` starts over. Answers follow the same settings as Discord and the reading room
(`ARCHIVEBOT_MAX_QUOTES`, `ARCHIVEBOT_PUBLIC_URL` for links, declined questions recorded for `archivebot gaps`
unless `ARCHIVEBOT_RECORD_QUESTIONS=0`). Line editing and history: `bot/console_input.py`.
"""

from __future__ import annotations

import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from index import Archive, ArchivebotError, Environment, Turn

from .console_input import LineReader, PlainReader, PromptReader, private_history_file
from .conversations import TURNS_KEPT, turn_of
from .terminal import answer_text, article_text, colour_wanted, hits_text, paint, stats_text
from .web.settings import max_quotes, parse_public_url

logger = logging.getLogger(__name__)

COMMANDS = ("/new", "/search", "/article", "/stats", "/help", "/quit")
LEAVE = {"/quit", "/exit", "quit", "exit"}
HELP = """Type a question and press Enter. A follow-up ("Who is its chief executive?") is answered in the
context of the conversation so far, as in a Discord thread. Commands:
  /new              start a new conversation     /search WORDS     ranked articles
  /article ID       one article                  /stats            index figures
  /help             this list                    /quit             leave (or exit, quit, Ctrl-D)"""
KEYS = "Keys: ↑/↓ earlier lines, Ctrl-L clears the screen, Ctrl-C drops the line, Tab completes a /command."


@dataclass(frozen=True)
class ConsoleSettings:
    """The answer settings the console shares with the bot and the reading room (same parsers)."""

    max_quotes: int = 3  # ARCHIVEBOT_MAX_QUOTES
    public_url: str = ""  # ARCHIVEBOT_PUBLIC_URL: each quote links into the reading room

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> ConsoleSettings:
        return cls.from_environment(Environment.read(environ, load_dotenv=load_dotenv))

    @classmethod
    def from_environment(cls, env: Environment) -> ConsoleSettings:
        return cls(
            max_quotes=max_quotes(env, cls.max_quotes),
            public_url=parse_public_url(env.text("ARCHIVEBOT_PUBLIC_URL")),
        )


class Console:
    """One conversation with the archive: the commands, and the earlier turns follow-ups are asked with."""

    def __init__(self, archive: Archive, settings: ConsoleSettings, stdout: TextIO, *, interactive: bool) -> None:
        self.archive = archive
        self.settings = settings
        self.stdout = stdout
        self.interactive = interactive
        self.colour = interactive and colour_wanted(stdout)
        self.turns: list[Turn] = []  # the conversation so far, oldest first, at most TURNS_KEPT

    def say(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    @property
    def width(self) -> int:
        return max(40, min(100, shutil.get_terminal_size().columns - 1)) if self.interactive else 100

    async def handle(self, line: str) -> bool:
        """Act on one line; False when it asks to leave."""
        command, _, rest = line.partition(" ")
        rest = rest.strip()
        if line in LEAVE:
            return False
        try:
            if command == "/new":
                self.turns = []
                self.say("New conversation: the next question is answered on its own.")
            elif command in {"/help", "help", "?"} and not rest:
                self.say(HELP + ("\n" + KEYS if self.interactive else ""))
            elif command == "/search" and rest:
                self.say(hits_text(await self.archive.search(rest)))
            elif command == "/article" and rest:
                self.say(article_text(await self.archive.article(rest)))
            elif command == "/stats" and not rest:
                self.say(stats_text(await self.archive.stats(), await self.archive.reindex_status()))
            elif line.startswith("/"):
                self.say(f"{command}: not a command (or missing its words). /help lists them.")
            else:
                await self.ask(line)
        except ArchivebotError as error:
            self.say(paint(f"error: {error}", self.colour, fg="red"))
        return True

    async def ask(self, question: str) -> None:
        if not self.interactive:
            self.say(f"? {question}")  # a transcript of piped questions reads like the terminal session
        answer = await self.archive.ask(question, max_quotes=self.settings.max_quotes, history=self.turns)
        await self._record_declined(answer.answered, answer.question)
        self.turns = [*self.turns, turn_of(answer, question)][-TURNS_KEPT:]
        self.say(answer_text(answer, self.width, colour=self.colour, public_url=self.settings.public_url))

    async def _record_declined(self, answered: bool, question: str) -> None:
        """As the bot does: a question the archive could not answer goes to `archivebot gaps` (no user)."""
        if answered:
            return
        try:
            await self.archive.record_question(question, kind="not_found", guild_id=None)
        except Exception:
            logger.exception("recording a declined question failed")


def _reader(stdin: TextIO, stdout: TextIO, data_dir: Path | None, colour: bool) -> tuple[LineReader, bool]:
    """prompt_toolkit when both ends are a terminal, else plain lines; and whether it is interactive."""
    if not (stdin.isatty() and stdout.isatty()):
        return PlainReader(stdin), False
    history = private_history_file(data_dir) if data_dir is not None else None
    return PromptReader(history, COMMANDS, colour), True


async def run_console(
    archive: Archive,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    *,
    settings: ConsoleSettings | None = None,
    data_dir: Path | None = None,
) -> int:
    """Read lines until Ctrl-D, end of input or /quit. `data_dir`: where the line history is kept (on a
    terminal; None keeps it in memory)."""
    reader, interactive = _reader(stdin, stdout, data_dir, colour_wanted(stdout))
    console = Console(archive, settings or ConsoleSettings(), stdout, interactive=interactive)
    stats = await archive.stats()
    console.say(f"Archivebot console — {stats.articles} article(s) indexed. No DISCORD_TOKEN set, so no Discord.")
    console.say(HELP + ("\n" + KEYS if interactive else ""))
    if interactive:
        console.say("Loading the model…")
    await archive.warm_up()
    while True:
        if interactive:
            console.say("")
        line = await reader.read()
        if line is None:
            break
        line = line.strip()
        if line and not await console.handle(line):
            break
    return 0
