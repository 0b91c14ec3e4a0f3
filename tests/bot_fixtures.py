"""Fixtures for the Discord bot tests: a small real index (fake embedder) and the unchanged bot connected to the
fake Discord of `fake_discord.py`. Bot test modules load them with `pytest_plugins = ["bot_fixtures"]`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest
from fake_discord import FakeDiscord, message_problems

from bot.app import ArchiveBot
from bot.config import BotConfig, apply_endpoints
from bot.ratelimit import RateLimit
from index import Archive, HashEmbedder, Settings

PROJECT = Path(__file__).resolve().parent.parent


async def start_bot_process(cwd: Path, *args: str, **variables: str) -> asyncio.subprocess.Process:
    """`python -m bot` (or `python ARGS`) as a child process with pipes, in an environment without the caller's
    Discord or Archivebot settings (a developer's shell must not leak in), this checkout on PYTHONPATH, then
    `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ARCHIVEBOT_"))}
    env.update(PYTHONPATH=str(PROJECT), **variables)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *(args or ("-m", "bot")),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


SEEDS = PROJECT / "seeds"

SEED_QUESTION = "What did Obama propose to North Korea?"
PING_SENTENCE = "The mayor told the crowd @everyone should vote on Tuesday for the new harbour bridge."
PING_QUESTION = "Who should vote for the new harbour bridge on Tuesday?"
LONG_QUESTION = "What did the committee on lighthouse maintenance report about paint?"
NOT_FOUND_QUESTION = "zebra xylophone quantum marmalade?"


def _article(source: str, day: str, title: str, body: str) -> str:
    """A Markdown article with front matter (title, source, ISO date)."""
    return f"---\ntitle: {title}\nsource: {source}\ndate: {day}\n---\n\n{body}\n"


def write_bot_archive(root: Path) -> Path:
    """seeds/ plus articles made for the bot tests: a sentence with @everyone and <@…>, eight articles about
    the harbour bridge (more than one /search page), and one very long article with a 5,000-character sentence."""
    shutil.copytree(SEEDS, root)
    (root / "ping.md").write_text(
        _article(
            "The Daily Ping",
            "2011-03-03",
            "Mayor calls bridge vote",
            f"{PING_SENTENCE} Officials said <@123456789> and @here had been told about the vote. "
            "The bridge will cost three million dollars.",
        )
    )
    for number in range(1, 9):
        (root / f"bridge_{number}.md").write_text(
            _article(
                "Harbour Gazette",
                f"2013-04-{number:02d}",
                f"Harbour bridge report part {number}",
                f"The harbour bridge council met for session {number}. Engineers inspected the harbour bridge cables "
                f"and found {number} rusty bolts. The harbour bridge stays open to traffic during the repairs.",
            )
        )
    long_sentence = (
        "The committee on lighthouse maintenance reported that "
        + ", ".join(f"lighthouse number {i} needed new paint" for i in range(1, 160))
        + "."
    )
    paragraphs = [long_sentence] + [
        f"Paragraph {i} of the coastal survey notes that the weather at station {i} was calm. "
        f"Boats from station {i} were counted twice a day. Nobody reported damage at station {i}."
        for i in range(1, 60)
    ]
    (root / "long.md").write_text(_article("Coastal Times", "2014-05-02", "Coastal survey", "\n\n".join(paragraphs)))
    return root


class GatedEmbedder(HashEmbedder):
    """The fake embedder; while `gate` is cleared, batches of more than one text (indexing, not questions) wait."""

    def __init__(self, dimension: int = 256) -> None:
        super().__init__(dimension)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def embed(self, texts: Sequence[str]):  # type: ignore[override]
        if len(texts) > 1 and not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(30)
        return super().embed(texts)


@dataclass
class Harness:
    fake: FakeDiscord
    bot: ArchiveBot
    archive: Archive
    config: BotConfig
    embedder: GatedEmbedder
    archive_dir: Path

    def within_limits(self) -> None:
        """Every message the bot got accepted fits Discord's limits and allows no mentions."""
        for message in self.fake.sent:
            assert message_problems(message, edit=True) == [], message
            allowed = message.get("allowed_mentions")
            assert allowed is not None and allowed.get("parse") == [], (
                f"message without allowed_mentions.none: {message}"
            )
            assert not allowed.get("users") and not allowed.get("roles") and not allowed.get("replied_user"), message


def bot_config(fake: FakeDiscord, **overrides: Any) -> BotConfig:
    base = BotConfig(
        token="fake-test-token",
        guild_id=int(fake.guild_id),
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        user_rate=RateLimit(100, 60.0),
        guild_rate=RateLimit(1000, 60.0),
        progress_interval=0.0,
    )
    return replace(base, **overrides)


@pytest.fixture
def bot_archive_dir(tmp_path: Path) -> Path:
    return write_bot_archive(tmp_path / "archive")


@pytest.fixture
def bot_overrides() -> dict[str, Any]:
    """Parametrize to change the bot's config; a callable value gets the fake Discord (for its ids)."""
    return {}


@pytest.fixture
async def harness(tmp_path: Path, bot_archive_dir: Path, bot_overrides: dict[str, Any]) -> AsyncIterator[Harness]:
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = await FakeDiscord().start()
    embedder = GatedEmbedder(256)
    settings = Settings(
        data_dir=tmp_path / "data", model="hash:256", archive_roots=(bot_archive_dir,), min_confidence=0.05
    )
    archive = await Archive.open(settings, embedder=embedder)
    await archive.reindex([bot_archive_dir])
    config = bot_config(fake, **{k: v(fake) if callable(v) else v for k, v in bot_overrides.items()})
    apply_endpoints(config)
    bot = ArchiveBot(archive, config, guild_ready_timeout=0.01)
    runner: asyncio.Task[None] | None = None
    try:
        await bot.login(config.token)
        runner = asyncio.create_task(bot.connect(reconnect=False))
        await fake.wait_ready()
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        h = Harness(fake, bot, archive, config, embedder, bot_archive_dir)
        yield h
        h.within_limits()  # every test: everything the bot sent fits Discord's limits and pings nobody
    finally:
        embedder.gate.set()
        await bot.close()
        if runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):  # the bot stopped, however it ended
                await asyncio.wait_for(runner, 5)
        await fake.stop()
        await archive.close()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
