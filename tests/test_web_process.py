"""`archivebot serve` and `python -m bot.web` as real processes: it serves, refuses a bad --host, and
stops cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from conftest import PROJECT
from web_support import WebArchive, build_web_archive


@pytest.fixture(scope="session")
def web_archive(tmp_path_factory: pytest.TempPathFactory) -> WebArchive:
    return build_web_archive(tmp_path_factory.mktemp("web-process"))


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVEBOT_", "DISCORD_"))}
    env.update(
        ARCHIVEBOT_DATA_DIR=str(data_dir), ARCHIVEBOT_MODEL="hash:256", PYTHONPATH=str(PROJECT), HF_HUB_OFFLINE="1"
    )
    return env


async def start(data_dir: Path, command: list[str], *args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        *args,
        env=environment(data_dir),
        cwd=data_dir.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    async with asyncio.timeout(60):
        line = (await process.stderr.readline()).decode()
    match = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
    assert match, line
    return process, match.group(1)


@pytest.mark.parametrize(
    "command", [["-m", "bot.web"], ["-m", "bot.cli", "serve"]], ids=["python -m bot.web", "archivebot serve"]
)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_serves_and_stops_cleanly(web_archive: WebArchive, command: list[str], stop: signal.Signals) -> None:
    process, url = await start(web_archive.settings.data_dir, command, "--port", "0")
    try:
        async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as response:
            assert response.status == 200
            assert json.loads(await response.text())["articles"] == 3
    finally:
        process.send_signal(stop)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_bad_host_is_refused_before_listening(web_archive: WebArchive) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.web",
        "--host",
        "<bad host>",
        env=environment(web_archive.settings.data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 1 and "invalid host" in stderr.decode() and "Traceback" not in stderr.decode()
