"""Several bot processes sharing one archive (issue 11 part 3), against one sharded fake Discord.

Two bots with ARCHIVEBOT_SHARD_COUNT=2 and different ARCHIVEBOT_SHARD_IDS: in this process (two `ArchiveBot`s,
each with its own `Archive` on the same storage, as two processes have) and as two real `python -m bot`
processes. Each answers only the servers of its shard; the slash commands are synced once; /reindex runs once
and the other process shows its progress; votes and /stats are the same whichever process answers.

Storage: each backend in turn (`archive_backend`): the embedded one (two processes on one host share the data
directory) and PostgreSQL (processes on any host share the database: votes, /stats and the reindex progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest
from bot_fixtures import SEED_QUESTION, GatedEmbedder, bot_config, write_bot_archive
from fake_discord import EPHEMERAL, FakeDiscord, Interaction

from bot.app import ArchiveBot
from bot.config import apply_endpoints
from bot.reindex import BUSY_ELSEWHERE
from index import Archive, Settings

pytestmark = pytest.mark.e2e
PROJECT = Path(__file__).resolve().parent.parent
SHARDS = 2
NEW_ARTICLE = (
    "---\ntitle: Lighthouse keeper retires\nsource: Coastal Times\ndate: 2014-06-02\n"
    "---\n\nThe last lighthouse keeper on the coast retired after forty years.\n"
)
IN_PROGRESS = re.compile(r"Reindex in progress: [A-Z][a-z ]+: (\d+% \([\d,]+/[\d,]+\)|starting) · started \S+")


@pytest.fixture
def shared_settings(backend_settings: Settings) -> Settings:
    """The one archive every bot process opens (a data directory, or a PostgreSQL database)."""
    return dataclasses.replace(backend_settings, archive_roots=())


def on_host(settings: Settings, host: str) -> Settings:
    """`settings` as a process on `host` sees them: with a database server each host has a data directory of
    its own (so nothing may be shared through it: votes, /stats and the reindex progress must come from the
    database); the embedded backend is shared through its one data directory, on one host."""
    if not settings.database_url:
        return settings
    return dataclasses.replace(settings, data_dir=settings.data_dir.parent / f"data-{host}")


@dataclass
class ShardedBots:
    fake: FakeDiscord
    guilds: list[str]  # guilds[k] is a server of shard k
    bots: list[ArchiveBot]  # bots[k] runs shard k only
    archives: list[Archive]  # each bot's own Archive on the shared storage
    embedders: list[GatedEmbedder]
    archive_dir: Path
    asked: list[list[str]]  # the questions each bot's archive was asked

    def bot_of(self, guild: str) -> int:
        return self.fake.shard_of(guild)


async def _start(bot: ArchiveBot, token: str) -> asyncio.Task[None]:
    await bot.login(token)
    runner = asyncio.create_task(bot.connect(reconnect=False))
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    return runner


@pytest.fixture
async def sharded(tmp_path: Path, shared_settings: Settings) -> AsyncIterator[ShardedBots]:
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    archive_dir = write_bot_archive(tmp_path / "archive")
    fake = await FakeDiscord(shard_count=SHARDS).start()
    guilds = [fake.add_guild(shard=shard) for shard in range(SHARDS)]
    embedders = [GatedEmbedder(256) for _ in range(SHARDS)]
    archives: list[Archive] = []
    bots: list[ArchiveBot] = []
    runners: list[asyncio.Task[None]] = []
    asked: list[list[str]] = [[] for _ in range(SHARDS)]
    try:
        for shard in range(SHARDS):
            archive = await Archive.open(on_host(shared_settings, f"shard{shard}"), embedder=embedders[shard])
            archives.append(archive)
            if shard == 0:
                await archive.reindex([archive_dir])
            original = archive.ask

            async def ask(question: str, *args: Any, _log: list[str] = asked[shard], _ask=original, **kw: Any):
                _log.append(question)
                return await _ask(question, *args, **kw)

            archive.ask = ask  # type: ignore[method-assign]
            config = bot_config(fake, guild_id=None, shard_count=SHARDS, shard_ids=(shard,))
            apply_endpoints(config)
            bots.append(ArchiveBot(archive, config, guild_ready_timeout=0.01))
            runners.append(await _start(bots[-1], config.token))
        yield ShardedBots(fake, guilds, bots, archives, embedders, archive_dir, asked)
    finally:
        for embedder in embedders:
            embedder.gate.set()
        for bot in bots:
            await bot.close()
        for runner in runners:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, 5)
        await fake.stop()
        for archive in archives:
            await archive.close()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


async def reply_to(fake: FakeDiscord, message: dict[str, Any]) -> dict[str, Any]:
    return await fake.wait_for(lambda: fake.replies.get(message["id"]))


async def first_message(fake: FakeDiscord, interaction: Interaction) -> dict[str, Any]:
    await fake.wait_for(lambda: interaction.followups, timeout=15)
    return interaction.followups[0]


async def _wait_for_status(archive: Archive, timeout: float = 10.0) -> None:
    """Until `archive` sees a reindex running (its first status is published within a second)."""
    async with asyncio.timeout(timeout):
        while await archive.reindex_status() is None:
            await asyncio.sleep(0.05)


def fields(message: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in message["embeds"][0]["fields"]}


async def test_each_process_answers_only_its_servers_and_one_syncs_the_commands(sharded: ShardedBots):
    s = sharded
    assert [bot.shard_ids for bot in s.bots] == [[0], [1]]
    for shard, bot in enumerate(s.bots):
        mine = {guild for guild in s.fake.guild_channels if s.fake.shard_of(guild) == shard}
        assert {str(guild.id) for guild in bot.guilds} == mine and s.guilds[shard] in mine
    syncs = [r for r in s.fake.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(syncs) == 1 and {c["name"] for c in s.fake.commands[None]} >= {"ask", "stats", "reindex"}
    for shard, guild in enumerate(s.guilds):
        question = f"{SEED_QUESTION} (asked in shard {shard}'s server)"
        asked = await s.fake.message(s.fake.member, question, mentions_bot=True, guild_id=guild)
        reply = await reply_to(s.fake, asked)
        assert reply["channel_id"] == s.fake.default_channel(guild) and "liaison office" in str(reply["embeds"])
        assert question in s.asked[shard] and question not in s.asked[1 - shard]  # the other bot never saw it
    # a slash command is answered by the server's shard as well
    i = await s.fake.slash(s.fake.member, "ask", guild_id=s.guilds[1], question=SEED_QUESTION)
    assert "liaison office" in str((await first_message(s.fake, i))["embeds"])
    assert s.asked[1][-1] == SEED_QUESTION and s.asked[0].count(SEED_QUESTION) == 0


async def test_votes_and_stats_are_the_same_whichever_process_answers(sharded: ShardedBots):
    s = sharded
    for guild, label in zip(s.guilds, ("Helpful", "Not helpful"), strict=True):
        asked = await s.fake.message(s.fake.member, SEED_QUESTION, mentions_bot=True, guild_id=guild)
        reply = await reply_to(s.fake, asked)
        button = next(c for row in reply["components"] for c in row["components"] if c.get("label") == label)
        click = await s.fake.answered(await s.fake.click(s.fake.member, reply, button["custom_id"]))
        assert click.responses[0]["data"]["flags"] & EPHEMERAL
    shown = []
    for guild in s.guilds:  # /stats from each process
        i = await s.fake.slash(s.fake.member, "stats", guild_id=guild)
        shown.append(fields(await first_message(s.fake, i)))
    assert shown[0] == shown[1]
    assert shown[0]["Feedback"] == "👍 1  👎 1" and int(shown[0]["Articles"].replace(",", "")) > 0


async def test_reindex_runs_once_and_the_other_process_shows_its_progress(sharded: ShardedBots):
    s = sharded
    (s.archive_dir / "new.md").write_text(NEW_ARTICLE)
    s.embedders[0].gate.clear()  # shard 0's reindex waits inside embedding until released
    started = await s.fake.answered(await s.fake.slash(s.fake.admin, "reindex", guild_id=s.guilds[0]))
    assert started.responses[0]["data"]["content"] == "Reindex starting…"
    await s.fake.wait_for(s.embedders[0].waiting.is_set)
    await _wait_for_status(s.archives[1])  # shard 1's process sees the reindex
    second = await s.fake.answered(await s.fake.slash(s.fake.admin, "reindex", guild_id=s.guilds[1]))
    refusal = second.responses[0]["data"]
    assert refusal["flags"] & EPHEMERAL and refusal["content"].startswith(BUSY_ELSEWHERE)
    assert IN_PROGRESS.search(refusal["content"]), refusal["content"]
    assert not s.archives[1].reindexing and not s.embedders[1].waiting.is_set()  # shard 1 started nothing
    stats = await s.fake.slash(s.fake.member, "stats", guild_id=s.guilds[1])
    during = fields(await first_message(s.fake, stats))
    assert during["Last reindex"].endswith("(reindexing now)")
    assert IN_PROGRESS.search("Reindex in progress: " + during["Reindex in progress"]), during
    s.embedders[0].gate.set()
    await s.fake.wait_for(lambda: any("Reindex finished" in (e.get("content") or "") for e in started.edits), 20)
    assert "1 added" in started.edits[-1]["content"]
    assert await s.archives[1].reindex_status() is None
    after = fields(await first_message(s.fake, await s.fake.slash(s.fake.member, "stats", guild_id=s.guilds[1])))
    assert "Reindex in progress" not in after and not after["Last reindex"].endswith("(reindexing now)")
    assert int(after["Articles"].replace(",", "")) == int(during["Articles"].replace(",", "")) + 1
    asked = await s.fake.message(
        s.fake.member, "Who retired after forty years?", mentions_bot=True, guild_id=s.guilds[1]
    )
    assert "lighthouse keeper" in str((await reply_to(s.fake, asked))["embeds"])  # the other process sees it


def bot_env(settings: Settings, fake: FakeDiscord, shard: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ARCHIVEBOT_"))}
    env.update(
        DISCORD_TOKEN="shard-test-token",
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        ARCHIVEBOT_DATA_DIR=str(settings.data_dir),
        ARCHIVEBOT_MODEL="hash:256",
        ARCHIVEBOT_MIN_CONFIDENCE="0.05",
        ARCHIVEBOT_LOG_LEVEL="INFO",
        ARCHIVEBOT_PROGRESS_SECONDS="0",
        ARCHIVEBOT_SHARD_COUNT=str(SHARDS),
        ARCHIVEBOT_SHARD_IDS=str(shard),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(PROJECT),
        **({"ARCHIVEBOT_DATABASE_URL": settings.database_url} if settings.database_url else {}),
    )
    return env


async def test_two_bot_processes_split_the_servers_and_share_one_archive(tmp_path: Path, shared_settings: Settings):
    archive_dir = write_bot_archive(tmp_path / "archive")
    embedder = GatedEmbedder(256)
    archive = await Archive.open(on_host(shared_settings, "cli"), embedder=embedder)  # the CLI's reindex, later on
    await archive.reindex([archive_dir])
    fake = await FakeDiscord(shard_count=SHARDS).start()
    guilds = [fake.add_guild(shard=shard) for shard in range(SHARDS)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=bot_env(on_host(shared_settings, f"shard{shard}"), fake, shard),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for shard in range(SHARDS)
    ]
    reindex: asyncio.Task[Any] | None = None
    try:
        await fake.wait_shards(range(SHARDS), timeout=60)
        await fake.wait_for(lambda: fake.commands.get(None), timeout=30)
        for guild in guilds:
            asked = await fake.message(fake.member, SEED_QUESTION, mentions_bot=True, guild_id=guild)
            reply = await asyncio.wait_for(reply_to(fake, asked), 30)
            assert reply["channel_id"] == fake.default_channel(guild) and "liaison office" in str(reply["embeds"])
        # a reindex from outside the bots (here: this process, as `archivebot index` would) ...
        (archive_dir / "new.md").write_text(NEW_ARTICLE)
        embedder.gate.clear()
        reindex = asyncio.create_task(archive.reindex([archive_dir]))
        await fake.wait_for(embedder.waiting.is_set)
        await _wait_for_status(archive)
        # ... is refused by /reindex in either bot process, which shows its progress
        for guild in guilds:
            refused = await fake.answered(await fake.slash(fake.admin, "reindex", guild_id=guild), timeout=30)
            assert IN_PROGRESS.search(refused.responses[0]["data"]["content"]), refused.responses
        during = fields(await first_message(fake, await fake.slash(fake.member, "stats", guild_id=guilds[0])))
        assert IN_PROGRESS.search("Reindex in progress: " + during["Reindex in progress"]), during
        embedder.gate.set()
        assert (await asyncio.wait_for(reindex, 30)).added == 1
        shown = []
        for guild in guilds:
            i = await fake.slash(fake.member, "stats", guild_id=guild)
            shown.append(fields(await first_message(fake, i)))
        assert shown[0] == shown[1] and "Reindex in progress" not in shown[0]
        assert int(shown[0]["Articles"].replace(",", "")) == int(during["Articles"].replace(",", "")) + 1
        logs = []
        for process in processes:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, stderr.decode()
            logs.append(stderr.decode())
        assert "synced" in logs[0] and "synced by the process running shard 0" in logs[1]
        assert "shard(s) 0 of 2" in logs[0] and "shard(s) 1 of 2" in logs[1]
        assert len([r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]) == 1
    finally:
        embedder.gate.set()
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if reindex is not None:
            with contextlib.suppress(Exception):
                await reindex
        await fake.stop()
        await archive.close()
