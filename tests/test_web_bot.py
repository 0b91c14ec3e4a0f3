"""The reading room with the Discord bot: `ARCHIVEBOT_WEB` makes `python -m bot` serve it too, and with
`ARCHIVEBOT_PUBLIC_URL` each citation of an answer links to its article page, where `mark#quote` is the quote.
Against the fake Discord, in a real bot process; and the embed formatting with links, without Discord."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from pathlib import Path

import aiohttp
import pytest
from bot_fixtures import SEED_QUESTION, Harness, start_bot_process, write_bot_archive
from fake_discord import FakeDiscord
from web_support import parse_page

from bot import limits
from bot.config import BotConfig
from bot.discord_format import answer_embed
from bot.web import WebSettings
from index import Answer, Archive, HashEmbedder, Quote, Settings

PROJECT = Path(__file__).resolve().parent.parent
ROOM = "https://room.example.org"
pytest_plugins = ["bot_fixtures"]  # the harness fixture (and the fixtures it uses)
LINK = re.compile(r"(?<!\\)\]\((https?://[^)\s]+)\)")  # a markdown link: "](url)" with an unescaped "]"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bot_config_reads_the_reading_room_settings() -> None:
    config = BotConfig.from_env({"ARCHIVEBOT_WEB": ":8099", "ARCHIVEBOT_PUBLIC_URL": "https://room.example.org/"})
    assert config.web.listen == ("127.0.0.1", 8099) and config.web.public_url == "https://room.example.org"
    assert BotConfig.from_env({}).web == WebSettings()  # unset: no web server, no links


def _answer(*titles: str) -> Answer:
    quotes = tuple(
        Quote(
            f"Sentence {number} of the story.",
            f"{number:016x}",
            title,
            "Src",
            None,
            5,
            60,
            1.0,
        )
        for number, title in enumerate(titles)
    )
    return Answer(question="q?", answered=True, confidence=0.9, quotes=quotes)


def test_citations_link_to_the_reading_room_only_when_configured() -> None:
    answer = _answer("A [title](http://evil.example) *with* brackets]", "Plain title", "x" * 400)
    plain = answer_embed(answer).description or ""
    assert "room.example.org" not in plain and "/articles/" not in plain
    linked = answer_embed(answer, "https://room.example.org").description or ""
    links = LINK.findall(linked)
    assert links == [
        f"https://room.example.org/articles/{quote.article_id}?start=5&end=60#quote" for quote in answer.quotes
    ]  # one per quote: markdown in a title makes no link of its own
    assert len(linked) <= limits.EMBED_DESCRIPTION


@pytest.mark.e2e
async def test_bot_process_serves_the_reading_room_and_links_to_it(tmp_path: Path) -> None:
    archive_dir = write_bot_archive(tmp_path / "archive")
    settings = Settings(data_dir=tmp_path / "data", model="hash:256")
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    await archive.reindex([archive_dir])
    await archive.close()
    port = free_port()
    fake = await FakeDiscord().start()
    process = await start_bot_process(
        tmp_path,
        DISCORD_TOKEN="web-test-token",
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DISCORD_GUILD_ID=fake.guild_id,
        ARCHIVEBOT_DATA_DIR=str(settings.data_dir),
        ARCHIVEBOT_MODEL="hash:256",
        ARCHIVEBOT_MIN_CONFIDENCE="0.05",
        ARCHIVEBOT_WEB=f"127.0.0.1:{port}",
        ARCHIVEBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        HF_HUB_OFFLINE="1",
    )
    try:
        await fake.wait_ready(timeout=60)
        asked = await fake.message(fake.member, SEED_QUESTION, mentions_bot=True)
        reply = await fake.wait_for(
            lambda: next(
                (m for m in fake.bot_messages() if (m.get("message_reference") or {}).get("message_id") == asked["id"]),
                None,
            ),
            timeout=30,
        )
        description = reply["embeds"][0]["description"]
        links = LINK.findall(description)
        assert links and all(link.startswith(f"http://127.0.0.1:{port}/articles/") for link in links)
        async with aiohttp.ClientSession() as session:
            for link in links:
                async with session.get(link) as response:
                    assert response.status == 200
                    marked = "".join(parse_page(await response.text()).text)
                assert marked and marked[:40] in description  # the highlighted span is the quote shown
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
        assert f"reading room on http://127.0.0.1:{port}/" in stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.stop()


async def test_bot_process_with_a_taken_port_exits_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await start_bot_process(
            tmp_path,
            DISCORD_TOKEN="web-test-token",
            DISCORD_API_BASE="http://127.0.0.1:9",
            ARCHIVEBOT_DATA_DIR=str(tmp_path / "data"),
            ARCHIVEBOT_MODEL="hash:256",
            ARCHIVEBOT_WEB=f"127.0.0.1:{port}",
            HF_HUB_OFFLINE="1",
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    assert process.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in log and "Traceback" not in log


@pytest.mark.e2e
@pytest.mark.parametrize("bot_overrides", [{"web": WebSettings(public_url=ROOM)}])
async def test_answers_and_context_buttons_link_to_the_reading_room(harness: Harness) -> None:
    h = harness
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(asked["id"]))
    answer = await h.archive.ask(SEED_QUESTION, max_quotes=h.config.max_quotes)
    expected = [f"{ROOM}/articles/{q.article_id}?start={q.start}&end={q.end}#quote" for q in answer.quotes]
    assert LINK.findall(reply["embeds"][0]["description"]) == expected
    buttons = [c for row in reply["components"] for c in row["components"] if c.get("label", "").startswith("Context")]
    assert len(buttons) == len(expected)
    for button, link in zip(buttons, expected, strict=True):
        click = await h.fake.click(h.fake.member, reply, button["custom_id"])
        await h.fake.answered(click)
        fields = {f["name"]: f["value"] for f in click.responses[0]["data"]["embeds"][0]["fields"]}
        assert LINK.findall(fields["Reading room"]) == [link]
