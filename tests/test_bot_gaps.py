"""End-to-end (fake Discord): declined questions and 👎 answers reach `archivebot gaps --json` and /gaps."""

from __future__ import annotations

import asyncio
import json

import pytest
from bot_fixtures import NOT_FOUND_QUESTION, SEED_QUESTION, Harness
from click.testing import CliRunner
from fake_discord import EPHEMERAL

from bot.cli import cli

pytestmark = pytest.mark.e2e
pytest_plugins = ["bot_fixtures"]


def gaps_json(h: Harness) -> dict:
    """`archivebot gaps --json` on the bot's data directory, as an admin would run it beside the bot."""
    obj = {"settings": h.archive.settings, "embedder": h.embedder}
    result = CliRunner().invoke(cli, ["gaps", "--json"], obj=obj, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_a_declined_question_asked_in_discord_appears_in_gaps(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, NOT_FOUND_QUESTION, mentions_bot=True)
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(asked["id"]))
    assert reply["embeds"][0]["title"] == "Not found in the archive"
    ask = await h.fake.slash(h.fake.member, "ask", question=NOT_FOUND_QUESTION)
    await h.fake.wait_for(lambda: ask.followups)
    answered = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    answer = await h.fake.wait_for(lambda: h.fake.replies.get(answered["id"]))
    down = {c.get("label"): c for row in answer["components"] for c in row["components"]}["Not helpful"]
    await h.fake.answered(await h.fake.click(h.fake.member, answer, down["custom_id"]))

    async def recorded() -> dict:
        while True:  # the bot records after replying: wait for both records
            report = await asyncio.to_thread(gaps_json, h)
            if sum(group["count"] for group in report["groups"]) >= 3:
                return report
            await asyncio.sleep(0.05)

    report = await asyncio.wait_for(recorded(), 10)
    declined, thumbs = report["groups"]
    assert declined["questions"] == [NOT_FOUND_QUESTION] and declined["count"] == 2
    assert declined["not_found"] == 2 and declined["thumbs_down"] == 0 and declined["last_asked"]
    assert thumbs["questions"] == [SEED_QUESTION] and (thumbs["count"], thumbs["thumbs_down"]) == (1, 1)
    stored = json.dumps(report)
    assert h.fake.member["id"] not in stored  # no user ids

    refused = await h.fake.slash(h.fake.member, "gaps")
    await h.fake.answered(refused)
    assert "Only server admins" in refused.responses[0]["data"]["content"]
    shown = await h.fake.slash(h.fake.admin, "gaps")
    await h.fake.wait_for(lambda: shown.followups)
    message = shown.followups[0]
    assert message["flags"] & EPHEMERAL
    description = message["embeds"][0]["description"]
    assert NOT_FOUND_QUESTION.split("?")[0] in description and "asked 2×" in description


@pytest.mark.parametrize("bot_overrides", [{}])
async def test_gaps_is_an_admin_command(harness: Harness):
    synced = {c["name"]: c for c in harness.fake.commands[harness.fake.guild_id]}
    assert int(synced["gaps"]["default_member_permissions"]) == 32  # Manage Server, like /reindex
    assert synced["gaps"]["dm_permission"] is False
