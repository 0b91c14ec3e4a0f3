"""`python -m bot` as a real process, configured only by environment variables, against the fake Discord; and the
fake itself answering like Discord (so the end-to-end limit checks can fail)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from bot_fixtures import SEED_QUESTION, start_bot_process, write_bot_archive
from fake_discord import FakeDiscord

from index import Archive, HashEmbedder, Settings

pytestmark = pytest.mark.e2e
PROJECT = Path(__file__).resolve().parent.parent
TOKEN = "process-test-token-do-not-log"


@pytest.mark.parametrize("command", [["-m", "bot"], ["-m", "bot.cli", "run"]], ids=["python -m bot", "archivebot run"])
async def test_python_m_bot_connects_syncs_and_answers(tmp_path: Path, command: list[str]):
    archive_dir = write_bot_archive(tmp_path / "archive")
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, model="hash:256")
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    await archive.reindex([archive_dir])
    await archive.close()
    fake = await FakeDiscord().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ARCHIVEBOT_"))}
    env.update(
        {
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "DISCORD_GUILD_ID": fake.guild_id,
            "ARCHIVEBOT_DATA_DIR": str(data_dir),
            "ARCHIVEBOT_MODEL": "hash:256",
            "ARCHIVEBOT_MIN_CONFIDENCE": "0.05",
            "ARCHIVEBOT_LOG_LEVEL": "INFO",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(PROJECT),
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for(lambda: fake.commands.get(fake.guild_id), timeout=60)
        names = {c["name"] for c in fake.commands[fake.guild_id]}
        assert names == {
            "ask",
            "search",
            "article",
            "stats",
            "reindex",
            "gaps",
            "feeds",
            "follow",
            "follows",
            "unfollow",
        }
        assert all(c["description"] for c in fake.commands[fake.guild_id])
        await fake.wait_ready(timeout=30)
        assert fake.identify["intents"] & (1 << 15)  # the message-content intent
        asked = await fake.message(fake.member, SEED_QUESTION, mentions_bot=True)
        reply = await fake.wait_for(
            lambda: next(
                (m for m in fake.bot_messages() if (m.get("message_reference") or {}).get("message_id") == asked["id"]),
                None,
            ),
            timeout=30,
        )
        assert "liaison office" in reply["embeds"][0]["description"]
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
        log = stderr.decode()
        assert "synced 10 slash commands" in log and TOKEN not in log
        assert all(TOKEN not in str(r.body) for r in fake.requests)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.stop()


async def test_python_m_bot_without_a_token_exits_with_a_message(tmp_path: Path):
    process = await start_bot_process(tmp_path, ARCHIVEBOT_DATA_DIR=str(tmp_path / "data"))
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "DISCORD_TOKEN is not set" in stderr.decode()


async def test_the_fake_answers_like_discord():
    fake = await FakeDiscord().start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{fake.api_base}/channels/{fake.channel_id}/messages"
            async with session.post(url, json={"content": "x" * 2001}) as response:
                assert response.status == 400 and (await response.json())["code"] == 50035
            async with session.post(url, json={"embeds": [{"description": "d" * 4097}]}) as response:
                assert (await response.json())["code"] == 50035
            fields = [{"name": "n", "value": "v" * 1000} for _ in range(7)]
            async with session.post(url, json={"embeds": [{"fields": fields}]}) as response:
                assert (await response.json())["code"] == 50035  # 7,007 characters > 6,000 per embed
            async with session.post(url, json={"content": ""}) as response:
                assert (await response.json())["code"] == 50006
            async with session.post(url, json={"content": "x" * 2000}) as response:
                assert response.status == 200
            interaction = fake._interaction(2, fake.member, {"name": "ask"})
            callback = f"{fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
            async with session.post(callback, json={"type": 5, "data": {}}) as response:
                assert response.status == 200
            async with session.post(callback, json={"type": 5, "data": {}}) as response:
                assert (await response.json())["code"] == 40060
            late = fake._interaction(2, fake.member, {"name": "ask"})
            late.created -= 3.5
            async with session.post(
                f"{fake.api_base}/interactions/{late.id}/{late.token}/callback", json={"type": 5, "data": {}}
            ) as response:
                assert (await response.json())["code"] == 10062
    finally:
        await fake.stop()


async def test_python_m_bot_on_a_foreign_model_index_exits_with_a_clear_message(tmp_path: Path):
    archive = await Archive.open(Settings(data_dir=tmp_path / "data", model="hash:256"), embedder=HashEmbedder(256))
    await archive.reindex([write_bot_archive(tmp_path / "archive")])
    await archive.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ARCHIVEBOT_"))}
    env.update(
        {
            "PYTHONPATH": str(PROJECT),
            "ARCHIVEBOT_DATA_DIR": str(tmp_path / "data"),
            "DISCORD_TOKEN": TOKEN,
            "ARCHIVEBOT_MODEL": "hash:128",
            "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    log = stderr.decode()
    assert "was built with model 'hash:256'" in log and "Traceback" not in log and TOKEN not in log
