"""The local console (`archivebot console`, what `make run` opens without DISCORD_TOKEN) as a real process.

On a pseudo-terminal (pexpect): line editing, ↑ recalling an earlier question, Ctrl-L, Ctrl-C, Ctrl-D, colour,
follow-ups answered from the earlier turn's article, `/new`. From a pipe: plain text without escape codes,
ARCHIVEBOT_MAX_QUOTES. The archive (fake HashEmbedder) holds two airline stories that both name a chief
executive: asked alone, "Who is its chief executive?" cites the Virgin Blue story first; after a question about
Qantas it must cite the Qantas story.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import PROJECT

from bot.console import ConsoleSettings
from bot.console_input import HISTORY_FILE, _history_entries, trim_history
from index import Archive, ConfigurationError, HashEmbedder, Settings

QANTAS = "Qantas profit takes off"
VIRGIN = "Virgin Blue names new chief executive"
STORIES = {
    "qantas.md": (
        QANTAS,
        "2005-08-18",
        "Qantas reported a record annual profit of A$763m on Thursday, lifted by strong demand for flights.\n\n"
        "Its chief executive, Geoff Dixon, said the airline would order new Airbus jets.\n\n"
        "The carrier also warned that rising fuel prices would weigh on next year's results.",
    ),
    "virgin.md": (
        VIRGIN,
        "2005-08-20",
        "Virgin Blue has named Brett Godfrey as its chief executive, the budget airline said on Saturday.\n\n"
        "The new chief executive said the airline would expand its routes to New Zealand.\n\n"
        "Virgin Blue reported a profit of A$200m for the year.",
    ),
}
FIRST = "What profit did Qantas report?"
FOLLOW_UP = "Who is its chief executive?"
UNANSWERED = "What colour is the sky on Mars in 1850?"
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|38;[0-9;]+|9[0-7])m")  # a foreground colour (SGR 30-37, 38, 90-97)
CITED = re.compile(rf"— ({re.escape(QANTAS)}|{re.escape(VIRGIN)}) — Test Wire")
PROMPT = r"\x1b\[\?2004h"  # prompt_toolkit starts a prompt: raw mode, bracketed paste on
UP, LEFT, CTRL_C, CTRL_D, CTRL_L = "\x1b[A", "\x1b[D", "\x03", "\x04", "\x0c"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two stories indexed with the fake embedder (model hash:256, as the console process is told)."""
    base = tmp_path_factory.mktemp("console")
    root = base / "news"
    root.mkdir()
    for name, (title, published, body) in STORIES.items():
        front = f"---\ntitle: {title}\ndate: {published}\nsource: Test Wire\n---\n"
        (root / name).write_text(front + body + "\n", encoding="utf-8")
    settings = Settings(data_dir=base / "data", model="hash:256", archive_roots=(root,), min_confidence=0.05)

    async def build() -> None:
        archive = await Archive.open(settings, embedder=HashEmbedder(256))
        try:
            await archive.reindex()
        finally:
            await archive.close()

    asyncio.run(build())
    return settings.data_dir


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ARCHIVEBOT_") and key not in {"NO_COLOR", "DISCORD_TOKEN"}
    }
    env.update(
        ARCHIVEBOT_MODEL="hash:256",
        ARCHIVEBOT_DATA_DIR=str(data_dir),
        ARCHIVEBOT_MIN_CONFIDENCE="0.05",
        PYTHONPATH=str(PROJECT),
        TERM="xterm-256color",
        PROMPT_TOOLKIT_NO_CPR="1",  # pexpect answers no cursor-position request; don't wait for one
    )
    env.update(extra)
    return env


class Session:
    """`archivebot console` on a pseudo-terminal, 120 columns wide."""

    def __init__(self, data_dir: Path, cwd: Path, **extra: str) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "bot.cli", "console"],
            env=_env(data_dir, **extra),
            cwd=str(cwd),
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(50, 120),
            timeout=20,
        )
        self.child.expect("Loading the model")
        self.prompt()

    def prompt(self) -> None:
        self.child.expect(PROMPT)

    def type(self, keys: str) -> None:
        self.child.send(keys)

    def answer(self) -> str:
        """Press Enter and return the answer, as raw terminal output (escape codes included)."""
        self.child.send("\r")
        self.child.expect([r"\(confidence \d+%\)", "Not found in the archive"])
        raw = self.child.before + self.child.after
        self.prompt()
        return raw

    def ask(self, question: str) -> str:
        self.type(question)
        return self.answer()


def first_cited(raw: str) -> str:
    found = CITED.search(ANSI.sub("", raw))
    assert found, ANSI.sub("", raw)
    return found.group(1)


@pytest.fixture
def ordinary_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the console process inherits it: files would be world-readable by default
    yield
    os.umask(previous)


def test_a_terminal_session_edits_recalls_and_follows_up(data_dir: Path, tmp_path: Path, ordinary_umask) -> None:
    history_file = data_dir / HISTORY_FILE
    history_file.unlink(missing_ok=True)
    console = Session(data_dir, tmp_path)
    # Line editing: a typo fixed with ← (the arrow moves the cursor; it is not part of the question).
    console.type(FIRST[:-2] + FIRST[-1])  # "…repor?"
    console.type(LEFT + FIRST[-2])
    first = console.answer()
    assert first_cited(first) == QANTAS
    assert f"\x1b[36m     — {QANTAS}" in first, "a terminal without NO_COLOR gets colour: cyan citations"

    # A follow-up is answered from the earlier turn's article, and says so.
    follow_up = console.ask(FOLLOW_UP)
    assert first_cited(follow_up) == QANTAS
    assert f"Following up on: “{FIRST}”" in ANSI.sub("", follow_up)

    # Ctrl-C drops the line being typed; nothing is asked.
    console.type("Where did the dropped line go")
    console.type(CTRL_C)
    console.prompt()

    # /new forgets the conversation: the same question, recalled with ↑ (past "/new"), is now asked alone.
    console.type("/new\r")
    console.child.expect("New conversation")
    console.prompt()
    console.type(UP + UP)
    alone = console.answer()
    assert first_cited(alone) == VIRGIN
    assert "Following up on" not in ANSI.sub("", alone)

    # Ctrl-L clears the screen and is not typed into the question.
    console.type("Who is its")
    console.type(CTRL_L)
    console.child.expect_exact("\x1b[2J")
    console.type(" chief executive?")
    assert first_cited(console.answer()) == VIRGIN

    console.type(CTRL_D)
    console.child.expect(pexpect.EOF)
    console.child.close()
    assert console.child.exitstatus == 0

    assert stat.S_IMODE(history_file.stat().st_mode) == 0o600
    with history_file.open(encoding="utf-8") as handle:
        entries = [" ".join(entry) for entry in _history_entries(handle)]
    # Exactly what was entered: no arrow key or Ctrl-L inside a line, no dropped line (the last question,
    # the same as the one before it, is not stored twice).
    assert entries == [FIRST, FOLLOW_UP, "/new", FOLLOW_UP]


def test_no_colour_when_no_color_is_set(data_dir: Path, tmp_path: Path) -> None:
    console = Session(data_dir, tmp_path, NO_COLOR="1")
    raw = console.ask(FIRST)
    assert first_cited(raw) == QANTAS
    assert not COLOUR.search(raw), repr(raw)
    console.type("/quit\r")
    console.child.expect(pexpect.EOF)


def _piped(data_dir: Path, cwd: Path, lines: list[str], **extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console"],
        input="\n".join(lines) + "\n",
        env=_env(data_dir, **extra),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stdout + result.stderr, "piped output has no escape codes"
    return result.stdout


def _answers(transcript: str) -> dict[str, list[str]]:
    """The transcript split at each echoed question ("? …"), in order, with a counter for repeats."""
    parts = re.split(r"^\? (.+)$", transcript, flags=re.MULTILINE)
    answers: dict[str, list[str]] = {}
    for number, question in enumerate(parts[1::2]):
        answers[f"{sum(key.endswith(':' + question) for key in answers) + 1}:{question}"] = parts[
            2 + 2 * number
        ].splitlines()
    return answers


def _gaps(data_dir: Path) -> list[tuple[tuple[str, ...], int]]:
    async def read() -> list[tuple[tuple[str, ...], int]]:
        settings = Settings(data_dir=data_dir, model="hash:256", min_confidence=0.05)
        archive = await Archive.open(settings, embedder=HashEmbedder(256))
        try:
            return [(group.questions, group.not_found) for group in (await archive.gaps()).groups]
        finally:
            await archive.close()

    return asyncio.run(read())


def test_piped_questions_follow_up_and_use_the_answer_settings(data_dir: Path, tmp_path: Path) -> None:
    lines = [FIRST, FOLLOW_UP, "/new", FOLLOW_UP, UNANSWERED]
    default = _answers(_piped(data_dir, tmp_path, lines))
    assert first_cited(" ".join(default[f"1:{FOLLOW_UP}"])) == QANTAS
    assert "Following up on: “What profit did Qantas report?”" in default[f"1:{FOLLOW_UP}"]
    assert first_cited(" ".join(default[f"2:{FOLLOW_UP}"])) == VIRGIN
    numbered = [line for line in default[f"2:{FOLLOW_UP}"] if re.match(r"\d+\. “", line)]
    assert len(numbered) == 3  # ARCHIVEBOT_MAX_QUOTES unset: 3, as in Discord
    assert "Not found in the archive." in default[f"1:{UNANSWERED}"]
    assert _gaps(data_dir) == [((UNANSWERED,), 1)]  # declined: recorded for `archivebot gaps`, as the bot does

    settings = {
        "ARCHIVEBOT_MAX_QUOTES": "1",
        "ARCHIVEBOT_PUBLIC_URL": "https://archive.example.org",
        "ARCHIVEBOT_RECORD_QUESTIONS": "0",
    }
    one = _answers(_piped(data_dir, tmp_path, lines, **settings))
    for key, answer in one.items():
        if not key.endswith(UNANSWERED):
            assert len([line for line in answer if re.match(r"\d+\. “", line)]) == 1, (key, answer)
    assert first_cited(" ".join(one[f"1:{FOLLOW_UP}"])) == QANTAS
    links = [line.strip() for line in one[f"1:{FIRST}"] if "https://" in line]
    assert links and re.fullmatch(r"https://archive\.example\.org/articles/\w+\?start=0&end=\d+#quote", links[0])
    assert _gaps(data_dir) == [((UNANSWERED,), 1)]  # ARCHIVEBOT_RECORD_QUESTIONS=0: not recorded again


def test_console_settings_use_the_bots_rules() -> None:
    assert ConsoleSettings.from_env({}, load_dotenv=False) == ConsoleSettings(max_quotes=3, public_url="")
    chosen = ConsoleSettings.from_env(
        {"ARCHIVEBOT_MAX_QUOTES": "5", "ARCHIVEBOT_PUBLIC_URL": "https://archive.example.org/"}, load_dotenv=False
    )
    assert (chosen.max_quotes, chosen.public_url) == (5, "https://archive.example.org")
    for bad in ("0", "11", "three"):
        with pytest.raises(ConfigurationError, match="ARCHIVEBOT_MAX_QUOTES"):
            ConsoleSettings.from_env({"ARCHIVEBOT_MAX_QUOTES": bad}, load_dotenv=False)


def test_the_history_file_keeps_the_newest_lines(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE
    path.write_text("".join(f"\n# 2026-01-01\n+question {n}\n" for n in range(12)) + "\n# t\n+two\n+lines\n")
    trim_history(path, kept=3)
    with path.open(encoding="utf-8") as handle:
        assert list(_history_entries(handle)) == [["question 10"], ["question 11"], ["two", "lines"]]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
