"""End-to-end: the unchanged bot (bot.app.ArchiveBot with its cog) against the fake Discord, over a small index.

Each test plays users through the fake's gateway and asserts on the exact JSON the bot sent back. After every
test the harness checks that each message the bot sent fits Discord's limits and allows no mentions.
"""

from __future__ import annotations

import re

import pytest

from bot_fixtures import (  # noqa: F401 - fixtures
    LONG_QUESTION,
    NOT_FOUND_QUESTION,
    PING_QUESTION,
    PING_SENTENCE,
    SEED_QUESTION,
    Harness,
    bot_archive_dir,
    bot_overrides,
    harness,
)
from conftest import SEED_FILE
from fake_discord import EPHEMERAL

pytestmark = pytest.mark.e2e

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")


def quoted_sentences(description: str) -> list[str]:
    return re.findall(r"“(.+?)”\n—", description, flags=re.S)


async def reply_to(h: Harness, message: dict) -> dict:
    return await h.fake.wait_for(lambda: next(
        (m for m in h.fake.bot_messages() if (m.get("message_reference") or {}).get("message_id") == message["id"]), None))


async def test_mention_gets_a_reply_with_verbatim_quotes(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    assert reply["type"] == 19 and reply["message_reference"]["message_id"] == asked["id"]
    assert any(r.method == "POST" and r.path.endswith(f"/channels/{h.fake.channel_id}/typing") for r in h.fake.requests)
    embed = reply["embeds"][0]
    quotes = quoted_sentences(embed["description"])
    assert quotes, embed
    for quote in quotes:
        assert quote in SEED_TEXT, quote  # verbatim from the article
    assert "President Obama has proposed setting up a liaison office in North Korea" in quotes[0]
    assert "The Washington Times" in embed["description"] and "2009-12-19" in embed["description"]
    seed = await h.archive.search("Obama liaison office North Korea", limit=1)
    assert f"id `{seed[0].article_id}`" in embed["description"]
    assert re.search(r"Confidence \d+%", embed["footer"]["text"])
    labels = [c.get("label") for row in reply["components"] for c in row["components"]]
    assert labels == ["Helpful", "Not helpful"]
