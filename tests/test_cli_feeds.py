"""`archivebot feeds list|add|remove|poll` and doctor's failing-feed warning, through click's CliRunner against
the real feed server on 127.0.0.1 (tests/feed_support.py). The CLI runs its own event loop, so each call runs
in a worker thread while the server answers on the test's loop."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import SEED_FILE
from feed_support import FeedServer, make_story, running_feed_server

from bot.cli import cli
from index import FeedSettings, HashEmbedder, Settings

FEEDS = FeedSettings(allow_private=True, host_gap_seconds=0.0, timeout_seconds=2.0)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with running_feed_server() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgres"])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """An archive on each backend: its feeds are in that backend's tables (feeds.sqlite3, or the database)."""
    root = tmp_path / "archive"
    root.mkdir()
    shutil.copy(SEED_FILE, root / SEED_FILE.name)
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    return Settings(
        data_dir=tmp_path / "data", model="hash:256", archive_roots=(root,), min_confidence=0.05, database_url=url
    )


async def run(settings: Settings, *args: str) -> Result:
    obj = {"settings": settings, "embedder": HashEmbedder(256), "feed_settings": FEEDS}
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=obj, catch_exceptions=False)


async def test_feeds_add_list_poll_remove(server: FeedServer, settings: Settings) -> None:
    rss = f"{server.base}/rss.xml"
    assert (await run(settings, "feeds", "list")).output.startswith("no feeds")
    bad = await run(settings, "feeds", "add", "ftp://x.example/rss")
    assert bad.exit_code == 1 and bad.output == "error: 'ftp://x.example/rss' is not an http(s) URL\n"
    added = await run(settings, "feeds", "add", rss, "--interval", "5")
    assert added.exit_code == 0 and added.output.startswith(f"added: {rss}  every 5 min, next poll now")
    assert (await run(settings, "feeds", "add", rss)).output.startswith("already there:")
    listed = json.loads((await run(settings, "feeds", "list", "--json")).output)
    assert [(feed["url"], feed["interval_seconds"]) for feed in listed] == [(rss, 300.0)]

    polled = await run(settings, "feeds", "poll")
    assert polled.exit_code == 0, polled.output
    assert polled.output.startswith("1 feed(s) polled: 20 new, 0 changed, 0 unchanged, 0 failed\nreindexed: 21 added")
    story = make_story(4)
    asked = await run(
        settings, "ask", "--json", f"How much did the restoration of the {story.thing} in {story.place} cost?"
    )
    answer = json.loads(asked.output)
    assert answer["answered"] and answer["quotes"][0]["title"] == story.title

    assert (await run(settings, "feeds", "poll")).output.startswith("0 feed(s) polled")  # not due for 5 minutes
    again = await run(settings, "feeds", "poll", "--all", "--json")
    summary = json.loads(again.output)
    assert (summary["new"], summary["feeds"][0]["status"], summary["indexed"]) == (0, "not-modified", None)
    assert [entry.status for entry in server.requests("/rss.xml")] == [200, 304]

    if settings.database_url:  # the feed and its items are in the archive's database, not in the data directory
        assert not (Path(settings.data_dir) / "feeds.sqlite3").exists()
    else:
        assert (Path(settings.data_dir) / "feeds.sqlite3").is_file()
    removed = await run(settings, "feeds", "remove", rss)
    assert removed.output == f"removed: {rss}\n"
    missing = await run(settings, "feeds", "remove", rss)
    assert missing.exit_code == 1 and missing.output.strip().endswith("(see archivebot feeds list)")
    assert missing.output.count("\n") == 1


async def test_doctor_warns_about_a_failing_feed(server: FeedServer, settings: Settings) -> None:
    assert (await run(settings, "index")).exit_code == 0
    failing = f"{server.base}/error.xml"
    await run(settings, "feeds", "add", failing)
    polled = await run(settings, "feeds", "poll", "--all")
    assert f"! {failing}: feed: HTTP 500" in polled.output and "nothing written: no reindex" in polled.output
    doctor = await run(settings, "doctor")
    assert doctor.exit_code == 0, doctor.output  # a failing feed is worth a look, not a broken index
    assert f"warning    feed {failing} failed 1 time in a row: feed: HTTP 500" in doctor.output
    report = json.loads((await run(settings, "doctor", "--json")).output)
    assert report["ok"] and report["warnings"] == [f"feed {failing} failed 1 time in a row: feed: HTTP 500"]
    assert "! failed 1 time(s) in a row: feed: HTTP 500" in (await run(settings, "feeds", "list")).output


def test_a_bad_feed_setting_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setenv("ARCHIVEBOT_FEEDS_INTERVAL", "0")
    result = CliRunner().invoke(cli, ["feeds", "add", "https://news.example/rss"], obj={"settings": settings})
    assert result.exit_code == 1 and result.output == "error: ARCHIVEBOT_FEEDS_INTERVAL must be at least 1, got 0\n"
