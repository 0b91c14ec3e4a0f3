"""Several bot processes, the parts without Discord: the shard settings, the shared reindex status, and the fake
Discord's sharding (so the end-to-end shard tests in test_shards_e2e.py can fail)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from fake_discord import FakeDiscord
from reliability_support import cli_env, run_cli

from bot.config import BotConfig
from bot.terminal import stats_text
from bot.text import reindex_status_text
from index import Archive, ConfigurationError, Progress, ReindexStatus
from index._rows import STALE_AFTER
from index.operations.reindex_status import publishing, running_reindex
from index.storage.status_file import FileStatusBoard

# ---- ARCHIVEBOT_SHARD_COUNT / ARCHIVEBOT_SHARD_IDS ------------------------------------------------------


def config(**variables: str) -> BotConfig:
    return BotConfig.from_env(variables, load_dotenv=False)


def test_shards_unset_let_discord_decide_and_this_process_syncs():
    plain = config()
    assert (plain.shard_count, plain.shard_ids, plain.syncs_commands) == (None, None, True)


def test_shard_count_and_ids_are_read_sorted():
    chosen = config(ARCHIVEBOT_SHARD_COUNT="4", ARCHIVEBOT_SHARD_IDS=" 3, 2")
    assert (chosen.shard_count, chosen.shard_ids) == (4, (2, 3))
    assert not chosen.syncs_commands  # shard 0's process syncs the slash commands, once for all
    assert chosen.shard_text() == "shard(s) 2, 3 of 4"
    first = config(ARCHIVEBOT_SHARD_COUNT="4", ARCHIVEBOT_SHARD_IDS="0,1")
    assert first.syncs_commands and first.shard_ids == (0, 1)
    every = config(ARCHIVEBOT_SHARD_COUNT="2")
    assert (every.shard_count, every.shard_ids, every.syncs_commands) == (2, None, True)
    assert every.shard_text() == "shard(s) 0, 1 of 2"


@pytest.mark.parametrize(
    ("count", "ids", "message"),
    [
        ("", "0,1", "ARCHIVEBOT_SHARD_IDS needs ARCHIVEBOT_SHARD_COUNT"),
        ("0", "", "ARCHIVEBOT_SHARD_COUNT must be a whole number of at least 1, got '0'"),
        ("two", "", "ARCHIVEBOT_SHARD_COUNT must be a whole number"),
        ("4", "0,4", "ARCHIVEBOT_SHARD_IDS 4 out of range: with ARCHIVEBOT_SHARD_COUNT=4 shards are numbered 0 to 3"),
        ("4", "1,1,2", "ARCHIVEBOT_SHARD_IDS lists shard 1 more than once"),
        ("4", "0,-1", "ARCHIVEBOT_SHARD_IDS must be comma-separated shard numbers, got '0,-1'"),
        ("4", "a", "ARCHIVEBOT_SHARD_IDS must be comma-separated shard numbers"),
    ],
)
def test_bad_shard_settings_are_one_clear_line(count: str, ids: str, message: str):
    with pytest.raises(ConfigurationError) as raised:
        config(ARCHIVEBOT_SHARD_COUNT=count, ARCHIVEBOT_SHARD_IDS=ids)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_python_m_bot_with_bad_shard_ids_exits_before_connecting(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ARCHIVEBOT_"))}
    env.update(
        DISCORD_TOKEN="t",
        ARCHIVEBOT_SHARD_COUNT="2",
        ARCHIVEBOT_SHARD_IDS="2",
        ARCHIVEBOT_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    done = subprocess.run([sys.executable, "-m", "bot"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert "configuration: ARCHIVEBOT_SHARD_IDS 2 out of range" in done.stderr


# ---- the reindex status other processes see --------------------------------------------------------------


def status(**changes: object) -> ReindexStatus:
    now = time.time()
    fields: dict[str, object] = dict(
        phase="embed", done=45, total=100, started_at=now - 125, updated_at=now, host=socket.gethostname()
    )
    fields["pid"] = os.getpid()
    fields.update(changes)
    return ReindexStatus(**fields)  # type: ignore[arg-type]


def test_status_percent_and_text():
    assert status().percent == 45 and status(total=0).percent is None and status(done=7, total=3).percent == 100
    shown = reindex_status_text(status(), now=status().started_at + 125)
    assert shown == "Embedding passages: 45% (45/100) · started 2m 05s ago"
    assert reindex_status_text(status(total=0)).startswith("Embedding passages: starting")


def test_a_status_whose_writer_is_gone_is_not_a_running_reindex(tmp_path: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert status().alive()
    assert not status(updated_at=time.time() - STALE_AFTER - 1).alive()  # no heartbeat: gone, wherever it ran
    assert not status(pid=int(dead.stdout)).alive()  # this host, and its process has exited
    assert status(host="another-host", pid=int(dead.stdout)).alive()  # elsewhere: only the heartbeat tells
    assert ReindexStatus.from_json('{"phase": "embed"') is None and ReindexStatus.from_json("[]") is None


async def test_publishing_shows_progress_to_other_readers_and_clears_it(tmp_path: Path):
    board, other = FileStatusBoard(tmp_path), FileStatusBoard(tmp_path)  # two processes' views of one data dir
    forwarded: list[Progress] = []
    assert await running_reindex(other) is None
    async with publishing(board, forwarded.append) as report:
        report(Progress("embed", 30, 120, 1.0))
        seen = await _wait_for_status(other, lambda s: s.done == 30)
        assert (seen.phase, seen.percent, seen.pid) == ("embed", 25, os.getpid())
        await asyncio.to_thread(report, Progress("commit", 2, 4, 2.0))  # reports come from worker threads too
        seen = await _wait_for_status(other, lambda s: s.phase == "commit")
        assert seen.percent == 50 and seen.updated_at >= seen.started_at
    assert [p.phase for p in forwarded] == ["embed", "commit"]
    assert await running_reindex(other) is None and not (tmp_path / "reindex.status.json").exists()


async def test_a_finished_reindex_leaves_another_writers_status_alone(tmp_path: Path):
    board = FileStatusBoard(tmp_path)
    theirs = status(host="another-host", pid=1)
    async with publishing(board, None):
        await _wait_for_status(board, lambda s: s.pid == os.getpid())
        await board.publish(theirs)  # e.g. a status left by a run elsewhere, overwritten meanwhile
    assert await board.read() == theirs  # only this run's own status is cleared


async def _wait_for_status(board: FileStatusBoard, check, timeout: float = 5.0) -> ReindexStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = await running_reindex(board)
        if seen is not None and check(seen):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching status; last read {await board.read()}")


async def test_archivebot_stats_in_another_process_shows_a_running_reindex(settings, hash_embedder):
    async with await Archive.open(settings, embedder=hash_embedder) as archive:
        await archive.reindex()
        assert await archive.reindex_status() is None
        figures = await archive.stats()
        await FileStatusBoard(settings.data_dir).publish(status())  # as the reindexing process (alive: this one)
        assert await archive.reindex_status() == await FileStatusBoard(settings.data_dir).read()
    assert "reindexing" not in stats_text(figures)
    shown = await asyncio.to_thread(run_cli, ["stats"], cli_env(settings.data_dir) | {"ARCHIVEBOT_MODEL": "hash:256"})
    assert shown.returncode == 0, shown.stderr
    assert "reindexing    Embedding passages: 45% (45/100) · started 2m 0" in shown.stdout
    assert f"(process {os.getpid()} on {socket.gethostname()})" in shown.stdout


# ---- the fake Discord's sharding --------------------------------------------------------------------------


async def test_the_fake_shards_like_discord():
    fake = await FakeDiscord(shard_count=3).start()
    try:
        guilds = {shard: fake.add_guild(shard=shard) for shard in (0, 1, 2)}
        assert {shard: (int(g) >> 22) % 3 for shard, g in guilds.items()} == {0: 0, 1: 1, 2: 2}
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{fake.api_base}/gateway/bot") as response:
                assert (await response.json())["shards"] == 3
            async with session.ws_connect(fake.gateway_url) as ws:  # a count that is not Discord's: refused
                assert (await ws.receive_json())["op"] == 10
                await ws.send_json({"op": 2, "d": {"token": "t", "intents": 0, "shard": [0, 2]}})
                await ws.receive()
                assert ws.close_code == 4010
            async with session.ws_connect(fake.gateway_url) as ws:
                await ws.receive_json()
                await ws.send_json({"op": 2, "d": {"token": "t", "intents": 0, "shard": [1, 3]}})
                ready = await ws.receive_json()
                assert ready["t"] == "READY" and ready["d"]["shard"] == [1, 3]
                shard_guilds = [g for g in fake.guild_channels if fake.shard_of(g) == 1]  # the default one, perhaps
                assert guilds[1] in shard_guilds and guilds[0] not in shard_guilds and guilds[2] not in shard_guilds
                assert [g["id"] for g in ready["d"]["guilds"]] == shard_guilds
                for guild in shard_guilds:
                    created = await ws.receive_json()
                    assert (created["t"], created["d"]["id"]) == ("GUILD_CREATE", guild)
                await fake.message(fake.member, "hello", guild_id=guilds[1])  # shard 1's server: sent here
                event = await ws.receive_json()
                assert (event["t"], event["d"]["guild_id"]) == ("MESSAGE_CREATE", guilds[1])
                with pytest.raises(RuntimeError, match="no bot is connected for shard 2"):
                    await fake.message(fake.member, "hello", guild_id=guilds[2])
        assert json.dumps(fake.identifies[1]["shard"]) == "[1, 3]"
    finally:
        await fake.stop()
