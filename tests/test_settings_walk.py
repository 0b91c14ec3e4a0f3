"""Every documented setting, given a bad value, stops the command before any work with one line naming it.

The variables are read from the documentation tables (docs/configuration.md, docs/discord.md), so a setting
documented later without a bad-value case here fails `test_every_documented_setting_is_walked`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PROJECT

from bot.cli import cli
from bot.config import BotConfig
from bot.mcp_server import McpSettings
from index import ConfigurationError

DOCUMENTED_IN = ("docs/configuration.md", "docs/discord.md")

# Engine settings: each bad value is refused by `archivebot index` (the command that reads them all) in one line.
ENGINE_BAD = {
    "ARCHIVEBOT_ARCHIVE": "/nonexistent-archive-folder",
    "ARCHIVEBOT_BATCH_SIZE": "many",
    "ARCHIVEBOT_DATABASE_URL": "mysql://somewhere/db",
    "ARCHIVEBOT_DATABASE_READ_URL": "postgresql://replica.internal/archive",  # without ARCHIVEBOT_DATABASE_URL
    "ARCHIVEBOT_DATA_DIR": "{file}",
    "ARCHIVEBOT_EMBED_BACKEND": "gpu",
    "ARCHIVEBOT_EMBED_WORKERS": "-1",
    "ARCHIVEBOT_FAISS_EF_SEARCH": "fast",
    "ARCHIVEBOT_FAISS_FACTORY": "Bogus",
    "ARCHIVEBOT_FAISS_NPROBE": "1.5",
    "ARCHIVEBOT_FULL_TEXT": "lucene",
    "ARCHIVEBOT_INDEX_CHUNK_ARTICLES": "0",
    "ARCHIVEBOT_MAX_ARTICLE_SENTENCES": "0",
    "ARCHIVEBOT_MAX_FILE_BYTES": "0",
    "ARCHIVEBOT_MAX_QUESTION_CHARS": "5",
    "ARCHIVEBOT_MIN_CONFIDENCE": "1.5",
    "ARCHIVEBOT_MODEL": "no-such-model-anywhere",
    "ARCHIVEBOT_MODEL_CACHE": "{file}",
    "ARCHIVEBOT_ONNX_THREADS": "two",
    "ARCHIVEBOT_PASSAGE_SENTENCES": "0",
    "ARCHIVEBOT_PRECISION": "fp8",
    "ARCHIVEBOT_RECORD_QUESTIONS": "maybe",
    "ARCHIVEBOT_REPLICA_MAX_LAG": "soon",
    "ARCHIVEBOT_RETAIN_QUESTIONS_DAYS": "0",
    "ARCHIVEBOT_TORCH_THREADS": "x",
}
# Front-end settings: refused by the bot's (and the reading room's) configuration in one line.
FRONT_END_BAD = {
    "ARCHIVEBOT_ADMIN_ROLE_IDS": "admins",
    "ARCHIVEBOT_CHANNELS": "general",
    "ARCHIVEBOT_EXAMPLE_QUESTIONS": "|".join(f"Question {number}?" for number in range(6)),
    "ARCHIVEBOT_FEEDS": "ftp://news.example/rss",
    "ARCHIVEBOT_FEEDS_ALLOW_PRIVATE": "maybe",
    "ARCHIVEBOT_FEEDS_INTERVAL": "0",
    "ARCHIVEBOT_FOLLOWS_PER_SERVER": "lots",
    "ARCHIVEBOT_FOLLOWS_PER_USER": "-1",
    "ARCHIVEBOT_GUILD_RATE": "lots",
    "ARCHIVEBOT_LOG_LEVEL": "chatty",
    "ARCHIVEBOT_MAX_QUOTES": "11",
    "ARCHIVEBOT_PROGRESS_SECONDS": "-1",
    "ARCHIVEBOT_PUBLIC_URL": "ftp://archive.example.org",
    "ARCHIVEBOT_SHARD_COUNT": "0",
    "ARCHIVEBOT_SHARD_IDS": "a",
    "ARCHIVEBOT_THREADS": "sometimes",
    "ARCHIVEBOT_USER_RATE": "5 per minute",
    "ARCHIVEBOT_WEB": "localhost:99999",
    "ARCHIVEBOT_WEB_RATE": "-1/60",
    "DISCORD_GUILD_ID": "my-server",
}
# Read by one front end's own settings (each refusing a bad value in one line).
OWN_SETTINGS_BAD = {"ARCHIVEBOT_MCP_RATE": (McpSettings, "lots")}
# Free text, or read only by the bench and the tests: nothing a value could be wrong against.
NOT_WALKED = {
    "ARCHIVEBOT_BENCH_INDEX",  # bench: a data directory to reuse
    "ARCHIVEBOT_SCREENSHOTS",  # tests: where to write screenshots
    "ARCHIVEBOT_SHARED",  # tests and bench: where ../shared is
    "ARCHIVEBOT_TEST_PAUSE_AT",  # the crash tests' kill points
    "DISCORD_API_BASE",  # any URL (the tests point it at the fake Discord)
    "DISCORD_GATEWAY_URL",
    "DISCORD_TOKEN",  # checked by Discord itself at login (tests/test_bot_process.py)
}


def documented() -> set[str]:
    names: set[str] = set()
    for page in DOCUMENTED_IN:
        names |= set(re.findall(r"^\| `((?:ARCHIVEBOT|DISCORD)_[A-Z_]+)`", (PROJECT / page).read_text(), re.M))
    return names


def test_every_documented_setting_is_walked() -> None:
    assert documented() == set(ENGINE_BAD) | set(FRONT_END_BAD) | set(OWN_SETTINGS_BAD) | NOT_WALKED


@pytest.mark.parametrize("name", sorted(ENGINE_BAD))
def test_a_bad_engine_setting_is_one_line_before_any_work(name: str, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "one.txt").write_text("A title\n\nOne sentence of news about a harbour.\n")
    env = {
        "ARCHIVEBOT_DATA_DIR": str(tmp_path / "data"),
        "ARCHIVEBOT_ARCHIVE": str(tmp_path / "archive"),
        "ARCHIVEBOT_MODEL": "hash:64",
        "ARCHIVEBOT_EMBED_BACKEND": "",
        "ARCHIVEBOT_DATABASE_URL": "",
    }
    env[name] = ENGINE_BAD[name].format(file=a_file)
    result = CliRunner().invoke(cli, ["index"], env=env, obj={})
    assert result.exit_code in (1, 2), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and lines[0].lower().startswith("error: "), lines
    assert name in lines[0] or (name == "ARCHIVEBOT_ARCHIVE" and "archive folder not found" in lines[0]), lines[0]
    assert not list((tmp_path / "data").glob("vectors*"))  # nothing was indexed


@pytest.mark.parametrize("name", sorted(FRONT_END_BAD) + sorted(OWN_SETTINGS_BAD))
def test_a_bad_front_end_setting_is_one_line(name: str) -> None:
    reader, value = OWN_SETTINGS_BAD.get(name, (BotConfig, FRONT_END_BAD.get(name, "")))
    with pytest.raises(ConfigurationError) as refused:
        reader.from_env({name: value})
    message = str(refused.value)
    assert name in message and "\n" not in message


def test_the_bot_process_reports_a_bad_setting_in_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVEBOT_", "DISCORD_"))},
        "DISCORD_TOKEN": "not-a-real-token",
        "ARCHIVEBOT_MAX_QUOTES": "0",
        "ARCHIVEBOT_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(PROJECT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ARCHIVEBOT_MAX_QUOTES" in lines[0] and "Traceback" not in result.stderr, lines
