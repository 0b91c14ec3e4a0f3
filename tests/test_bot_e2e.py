"""End-to-end: the unchanged bot (bot.app.ArchiveBot with its cog) against the fake Discord, over a small index.

Each test plays users through the fake's gateway and asserts on the exact JSON the bot sent back. After every
test the harness checks that each message the bot sent fits Discord's limits and allows no mentions.
"""

from __future__ import annotations

import re

import pytest
from bot_fixtures import (
    LONG_QUESTION,
    NOT_FOUND_QUESTION,
    PING_QUESTION,
    PING_SENTENCE,
    SEED_QUESTION,
    Harness,
)
from conftest import SEED_FILE
from discord import app_commands
from fake_discord import EPHEMERAL
from storage_queries import feedback_rows

from bot.ratelimit import RateLimit

pytestmark = pytest.mark.e2e
pytest_plugins = ["bot_fixtures"]  # the harness fixture (and the fixtures it uses)

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")


def quoted_sentences(description: str) -> list[str]:
    return re.findall(r"“(.+?)”\n—", description, flags=re.S)


async def reply_to(h: Harness, message: dict) -> dict:
    return await h.fake.wait_for(lambda: h.fake.replies.get(message["id"]))


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
    assert labels == ["Helpful", "Not helpful", *(f"Context {n}" for n in range(1, len(quotes) + 1)), "Follow"]


async def followup(h: Harness, interaction, count: int = 1) -> dict:
    await h.fake.wait_for(lambda: len(interaction.followups) >= count)
    return interaction.followups[count - 1]


def buttons(message: dict) -> dict[str, dict]:
    """Buttons by label (or emoji name when unlabelled)."""
    return {
        (c.get("label") or c["emoji"]["name"]): c for row in message.get("components", []) for c in row["components"]
    }


async def test_ask_defers_then_follows_up(harness: Harness):
    h = harness
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    message = await followup(h, i)
    assert i.response_type == 5  # deferred ("thinking…") first
    assert not (i.responses[0].get("data") or {}).get("flags", 0) & EPHEMERAL
    assert not message["flags"] & EPHEMERAL
    quotes = quoted_sentences(message["embeds"][0]["description"])
    assert quotes and all(q in SEED_TEXT for q in quotes)
    assert message["allowed_mentions"]["parse"] == []
    contexts = {f"Context {n}" for n in range(1, len(quotes) + 1)}
    assert set(buttons(message)) == {"Helpful", "Not helpful", "Follow"} | contexts


async def test_ask_private_is_ephemeral(harness: Harness):
    h = harness
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION, private=True)
    message = await followup(h, i)
    assert i.responses[0]["type"] == 5 and i.responses[0]["data"]["flags"] & EPHEMERAL
    assert message["flags"] & EPHEMERAL
    assert quoted_sentences(message["embeds"][0]["description"])


async def test_not_found_lists_the_closest_articles(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, NOT_FOUND_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    embed = reply["embeds"][0]
    assert embed["title"] == "Not found in the archive"
    assert "Closest articles:" in embed["description"]
    assert not quoted_sentences(embed["description"])
    i = await h.fake.slash(h.fake.member, "ask", question=NOT_FOUND_QUESTION)
    assert (await followup(h, i))["embeds"][0]["title"] == "Not found in the archive"


async def test_filters_reach_the_engine(harness: Harness):
    h = harness
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION, source="Coastal Times")
    embed = (await followup(h, i))["embeds"][0]
    assert "liaison office" not in embed["description"]
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION, after="not a date")
    message = await followup(h, i)
    assert message["flags"] & EPHEMERAL and message["content"].startswith("Sorry: after must be a date")


async def test_article_autocomplete_and_pages(harness: Harness):
    h = harness
    i = await h.fake.autocomplete(h.fake.member, "article", "id_or_title", "Coastal")
    await h.fake.answered(i)
    assert i.response_type == 8
    choices = i.responses[0]["data"]["choices"]
    assert [c["name"] for c in choices] == ["Coastal survey · 2014-05-02"]
    article_id = choices[0]["value"]
    i = await h.fake.slash(h.fake.member, "article", id_or_title=article_id)
    message = await followup(h, i)
    assert i.response_type == 5
    first = message["embeds"][0]
    assert first["title"] == "Coastal survey"
    assert first["footer"]["text"].startswith("Page 1/")
    pages = int(first["footer"]["text"].split("/")[1].split(" ")[0])
    assert pages >= 3
    assert {"field": f"`{article_id}`"} == {"field": next(f["value"] for f in first["fields"] if f["name"] == "Id")}
    nav = buttons(message)
    assert nav["◀"]["disabled"] and not nav["▶"]["disabled"]
    click = await h.fake.click(h.fake.member, message, nav["▶"]["custom_id"])
    await h.fake.answered(click)
    assert click.response_type == 7  # the message is edited in place
    second = click.responses[0]["data"]["embeds"][0]
    assert second["footer"]["text"].startswith(f"Page 2/{pages}")
    assert second["description"] != first["description"]
    body = (await h.archive.article(article_id)).body
    assert second["description"] in body  # pages are verbatim slices of the text
    # by title, and an unknown one
    i = await h.fake.slash(h.fake.member, "article", id_or_title="Coastal survey")
    assert (await followup(h, i))["embeds"][0]["title"] == "Coastal survey"
    i = await h.fake.slash(h.fake.member, "article", id_or_title="no such article anywhere")
    missing = await followup(h, i)
    assert missing["flags"] & EPHEMERAL and "no article" in missing["content"]


async def test_search_pages_with_buttons(harness: Harness):
    h = harness
    hits = await h.archive.search("harbour bridge", limit=25)
    pages = -(-len(hits) // 5)
    assert pages >= 2
    i = await h.fake.slash(h.fake.member, "search", query="harbour bridge")
    message = await followup(h, i)
    first = message["embeds"][0]
    assert first["footer"]["text"].startswith(f"Page 1/{pages}")
    assert first["description"].count("Harbour bridge report part") == 5
    assert f"id `{hits[0].article_id}`" in first["description"].splitlines()[0]
    nav = buttons(message)
    assert nav[f"1/{pages}"]["disabled"] and nav["◀"]["disabled"]
    # someone else can't turn the pages
    other = await h.fake.click(h.fake.admin, message, nav["▶"]["custom_id"])
    await h.fake.answered(other)
    assert other.response_type == 4 and other.responses[0]["data"]["flags"] & EPHEMERAL
    click = await h.fake.click(h.fake.member, message, nav["▶"]["custom_id"])
    await h.fake.answered(click)
    page = click.responses[0]["data"]
    assert click.response_type == 7 and page["embeds"][0]["footer"]["text"].startswith(f"Page 2/{pages}")
    assert page["embeds"][0]["description"].lstrip().startswith("**6.**")
    assert f"id `{hits[5].article_id}`" in page["embeds"][0]["description"].splitlines()[0]
    nav2 = {(c.get("label") or c["emoji"]["name"]): c for row in page["components"] for c in row["components"]}
    assert nav2["▶"]["disabled"] == (pages == 2) and not nav2["◀"]["disabled"] and f"2/{pages}" in nav2
    back = await h.fake.click(h.fake.member, h.fake.messages[message["id"]], nav["◀"]["custom_id"])
    await h.fake.answered(back)
    assert back.responses[0]["data"]["embeds"][0]["footer"]["text"].startswith(f"Page 1/{pages}")


async def test_feedback_buttons_are_stored(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    click = await h.fake.click(h.fake.admin, reply, buttons(reply)["Helpful"]["custom_id"])
    await h.fake.answered(click)
    assert click.response_type == 4 and click.responses[0]["data"]["flags"] & EPHEMERAL
    click = await h.fake.click(h.fake.member, reply, buttons(reply)["Not helpful"]["custom_id"])
    await h.fake.answered(click)
    rows = feedback_rows(h.archive.settings.data_dir)
    assert [(r["user_id"], r["helpful"]) for r in rows] == [(h.fake.admin["id"], 1), (h.fake.member["id"], 0)]
    seed = (await h.archive.search("Obama liaison office North Korea", limit=1))[0]
    assert rows[0]["question"] == SEED_QUESTION and seed.article_id in rows[0]["article_ids"].split(",")
    assert rows[0]["guild_id"] == h.fake.guild_id
    i = await h.fake.slash(h.fake.member, "stats")
    stats = await followup(h, i)
    fields = {f["name"]: f["value"] for f in stats["embeds"][0]["fields"]}
    assert fields["Feedback"] == "👍 1  👎 1"
    assert fields["Articles"] == "11"


async def test_reindex_refused_for_a_member(harness: Harness):
    h = harness
    synced = {c["name"]: c for c in h.fake.commands[h.fake.guild_id]}
    assert int(synced["reindex"]["default_member_permissions"]) == 32  # Manage Server, hidden from others by Discord
    assert synced["reindex"]["dm_permission"] is False
    i = await h.fake.slash(h.fake.member, "reindex")
    await h.fake.answered(i)
    assert i.response_type == 4 and i.responses[0]["data"]["flags"] & EPHEMERAL
    assert "Only server admins" in i.responses[0]["data"]["content"]
    assert not h.archive.reindexing and h.bot.get_cog("Archive").reindex_job.task is None


async def test_reindex_for_an_admin_shows_progress_and_refuses_a_second(harness: Harness):
    h = harness
    (h.archive_dir / "new.md").write_text(
        "---\ntitle: Lighthouse keeper retires\nsource: Coastal Times\ndate: 2014-06-02\n"
        "---\n\nThe last lighthouse keeper on the coast retired after forty years.\n"
    )
    h.embedder.gate.clear()  # the reindex waits inside embedding until released
    i = await h.fake.slash(h.fake.admin, "reindex")
    await h.fake.answered(i)
    assert i.response_type == 4 and not i.responses[0]["data"].get("flags", 0) & EPHEMERAL
    await h.fake.wait_for(h.embedder.waiting.is_set)
    second = await h.fake.slash(h.fake.admin, "reindex")
    await h.fake.answered(second)
    assert second.responses[0]["data"]["flags"] & EPHEMERAL
    assert "already running" in second.responses[0]["data"]["content"]
    # questions are still answered from the old index meanwhile
    ask = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    assert quoted_sentences((await followup(h, ask))["embeds"][0]["description"])
    h.embedder.gate.set()
    await h.fake.wait_for(lambda: any("Reindex finished" in (e.get("content") or "") for e in i.edits), timeout=20)
    contents = [e["content"] for e in i.edits]
    assert any(re.search(r"Reindexing… .*: \d+/\d+ .*ETA", c) for c in contents), contents
    assert "1 added" in contents[-1] and "Reindex finished" in contents[-1]
    assert (await h.archive.article("Lighthouse keeper retires")).title == "Lighthouse keeper retires"


@pytest.mark.parametrize("bot_overrides", [{"guild_id": None}])
async def test_no_route_to_reindex_for_a_member(harness: Harness):
    h = harness  # commands synced globally here, so they exist in DMs too
    assert {c["name"] for c in h.fake.commands[None]} >= {"ask", "reindex"}
    dm = await h.fake.slash(h.fake.admin, "reindex", dm=True)  # even a server admin, from a DM
    await h.fake.answered(dm)
    assert dm.responses[0]["data"]["flags"] & EPHEMERAL and "Only server admins" in dm.responses[0]["data"]["content"]
    ask = await h.fake.slash(h.fake.member, "ask", dm=True, question=SEED_QUESTION)
    assert quoted_sentences((await followup(h, ask))["embeds"][0]["description"])  # other commands work in DMs
    for text in ("reindex", "!reindex", "/reindex"):  # no prefix commands: a mention is a question
        asked = await h.fake.message(h.fake.admin, text, mentions_bot=True)
        assert (await reply_to(h, asked))["embeds"]
    assert not h.archive.reindexing and h.bot.get_cog("Archive").reindex_job.task is None


@pytest.mark.parametrize("bot_overrides", [{"admin_role_ids": frozenset({42})}])
async def test_reindex_needs_an_admin_role_when_configured(harness: Harness):
    h = harness
    i = await h.fake.slash(h.fake.admin, "reindex")  # Manage Server, but not role 42
    await h.fake.answered(i)
    assert i.responses[0]["data"]["flags"] & EPHEMERAL and "admin role" in i.responses[0]["data"]["content"]


@pytest.mark.parametrize("bot_overrides", [{"user_rate": RateLimit(2, 3600.0), "guild_rate": RateLimit(3, 3600.0)}])
async def test_rate_limits_per_user_and_per_server(harness: Harness):
    h = harness
    for _ in range(2):
        i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
        await followup(h, i)
        assert i.response_type == 5
    slow = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    await h.fake.answered(slow)
    data = slow.responses[0]["data"]
    assert slow.response_type == 4 and data["flags"] & EPHEMERAL and data["content"].startswith("Slow down: You are")
    # a mention over the limit gets one short warning, and a flood no more than that one
    first = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    warning = await reply_to(h, first)
    assert warning["content"].startswith("Slow down") and not warning["embeds"]
    # the server's limit (3) catches another user after one more question
    i = await h.fake.slash(h.fake.admin, "search", query="harbour bridge")
    await followup(h, i)
    slow = await h.fake.slash(h.fake.admin, "search", query="harbour bridge")
    await h.fake.answered(slow)
    assert slow.responses[0]["data"]["content"].startswith("Slow down: This server is")
    again = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    marker = await h.fake.message(h.fake.user("newcomer"), SEED_QUESTION, dm=True)  # DMs have no server window
    await reply_to(h, marker)
    assert again["id"] not in h.fake.replies


async def test_everyone_in_a_quote_pings_nobody(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, PING_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    description = reply["embeds"][0]["description"]
    assert PING_SENTENCE in quoted_sentences(description)
    assert reply["allowed_mentions"] == {"parse": [], "replied_user": False}
    i = await h.fake.slash(h.fake.member, "ask", question=PING_QUESTION)
    message = await followup(h, i)
    assert "@everyone" in message["embeds"][0]["description"]
    assert message["allowed_mentions"]["parse"] == []


async def test_long_quote_is_trimmed_at_a_boundary(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, LONG_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    description = reply["embeds"][0]["description"]
    assert len(description) <= 4096
    quote = quoted_sentences(description)[0]
    assert quote.endswith("…") and len(quote) > 500
    body = (h.archive_dir / "long.md").read_text()
    assert quote[:-1] in body and body[body.index(quote[:-1]) + len(quote) - 1] in " ,"  # cut at a word boundary


async def test_dm_and_listed_channels_need_no_mention(harness: Harness):
    h = harness
    dm = await h.fake.message(h.fake.member, SEED_QUESTION, dm=True)
    reply = await reply_to(h, dm)
    assert quoted_sentences(reply["embeds"][0]["description"])
    unlisted = await h.fake.message(h.fake.member, SEED_QUESTION)  # no mention, channel not listed: ignored
    marker = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    await reply_to(h, marker)
    assert unlisted["id"] not in h.fake.replies


@pytest.mark.parametrize("bot_overrides", [{"threads": True, "channels": frozenset()}])
async def test_threads_when_configured(harness: Harness):
    h = harness
    await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    thread = await h.fake.wait_for(lambda: h.fake.threads and h.fake.threads[0])
    answer = await h.fake.wait_for(lambda: h.fake.bot_messages(thread["id"]))
    assert thread["name"] == SEED_QUESTION
    assert quoted_sentences(answer[0]["embeds"][0]["description"])


async def test_errors_reach_users_as_one_short_message(harness: Harness, caplog, monkeypatch):
    h = harness

    async def broken(*args, **kwargs):
        raise RuntimeError("database exploded: secret internals")

    monkeypatch.setattr(h.archive, "ask", broken)
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    message = await followup(h, i)
    assert message["flags"] & EPHEMERAL and "secret internals" not in message["content"]
    assert message["content"] == "Sorry, something went wrong on my side; it has been logged."
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    assert reply["content"] == "Sorry, something went wrong on my side; it has been logged."
    assert "secret internals" in caplog.text
    assert h.config.token not in caplog.text


async def test_a_late_first_response_is_refused_and_the_bot_carries_on(harness: Harness):
    h = harness
    h.fake.deadline = 0.0  # Discord: every first response is now "too late" (10062)
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    await h.fake.wait_for(lambda: any(r.path.endswith(f"{i.id}/{i.token}/callback") for r, _ in h.fake.rejections))
    assert [body["code"] for r, body in h.fake.rejections] == [10062]
    h.fake.rejections.clear()
    h.fake.deadline = 3.0
    i = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    assert quoted_sentences((await followup(h, i))["embeds"][0]["description"])


async def test_role_mention_empty_mention_and_forbidden_typing(harness: Harness):
    h = harness
    h.fake.typing_forbidden = True  # the bot may not type here: it still answers
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot_role=True)
    reply = await reply_to(h, asked)
    assert quoted_sentences(reply["embeds"][0]["description"])
    assert [body["code"] for _, body in h.fake.rejections] == [50013]
    h.fake.rejections.clear()
    empty = await h.fake.message(h.fake.member, "", mentions_bot=True)
    help_reply = await reply_to(h, empty)
    assert help_reply["content"].startswith("Ask me about the news archive") and not help_reply["embeds"]


@pytest.mark.parametrize("bot_overrides", [{"channels": lambda fake: frozenset({int(fake.other_channel_id)})}])
async def test_listed_channel_takes_every_message_as_a_question(harness: Harness):
    h = harness
    image_only = await h.fake.message(h.fake.member, "", channel_id=h.fake.other_channel_id)  # no text: ignored
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, channel_id=h.fake.other_channel_id)
    reply = await reply_to(h, asked)
    assert reply["channel_id"] == h.fake.other_channel_id and quoted_sentences(reply["embeds"][0]["description"])
    assert image_only["id"] not in h.fake.replies
    elsewhere = await h.fake.message(h.fake.member, SEED_QUESTION)  # the other channel still needs a mention
    marker = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    await reply_to(h, marker)
    assert elsewhere["id"] not in h.fake.replies


async def test_feedback_still_works_after_a_restart(harness: Harness):
    h = harness
    asked = await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True)
    reply = await reply_to(h, asked)
    h.bot.answers = type(h.bot.answers)()  # the bot forgot every answer (a restart)
    assert not h.bot._connection._view_store._views  # and keeps no per-message state for 👍/👎
    click = await h.fake.click(h.fake.member, reply, buttons(reply)["Helpful"]["custom_id"])
    await h.fake.answered(click)
    assert click.responses[0]["data"]["content"].startswith("Thanks")
    not_found = await h.fake.message(h.fake.member, NOT_FOUND_QUESTION, mentions_bot=True)
    reply2 = await reply_to(h, not_found)
    h.bot.answers = type(h.bot.answers)()
    click = await h.fake.click(h.fake.admin, reply2, buttons(reply2)["Not helpful"]["custom_id"])
    await h.fake.answered(click)
    rows = feedback_rows(h.archive.settings.data_dir)
    seed = (await h.archive.search("Obama liaison office North Korea", limit=1))[0]
    assert rows[0]["question"] == SEED_QUESTION and rows[0]["article_ids"] == seed.article_id
    assert rows[0]["helpful"] == 1 and rows[0]["guild_id"] == h.fake.guild_id
    assert rows[1]["question"] == NOT_FOUND_QUESTION and rows[1]["helpful"] == 0 and rows[1]["article_ids"]


async def test_reindex_longer_than_the_interaction_token_posts_its_summary_in_the_channel(harness: Harness):
    h = harness
    (h.archive_dir / "late.md").write_text(
        "---\ntitle: Late article\nsource: Coastal Times\ndate: 2014-07-01\n---\n\n"
        "A late article about the harbour ferry.\n"
    )
    h.embedder.gate.clear()
    i = await h.fake.slash(h.fake.admin, "reindex")
    await h.fake.wait_for(h.embedder.waiting.is_set)
    i.expired = True  # 15 minutes later: the interaction token no longer works
    h.embedder.gate.set()
    summary = await h.fake.wait_for(
        lambda: next((m for m in h.fake.bot_messages(h.fake.channel_id) if "Reindex finished" in m["content"]), None)
    )
    assert "1 added" in summary["content"] and "webhook_id" not in summary
    assert {body["code"] for _, body in h.fake.rejections} == {50027}
    h.fake.rejections.clear()


async def test_slash_descriptions_come_from_the_command_docstrings(harness: Harness):
    synced = {c["name"]: c for c in harness.fake.commands[harness.fake.guild_id]}
    cogs = [harness.bot.get_cog("Archive"), harness.bot.get_cog("Feeds")]
    commands = [command for cog in cogs if cog is not None for command in cog.get_app_commands()]
    assert {command.name for command in commands} == set(synced)
    for command in commands:
        if isinstance(command, app_commands.Group):  # /feeds add|list|remove: each subcommand's docstring
            assert synced[command.name]["description"] == command.description
            options = {option["name"]: option["description"] for option in synced[command.name]["options"]}
            for sub in command.commands:
                assert (
                    isinstance(sub, app_commands.Command) and options[sub.name] == (sub.callback.__doc__ or "").strip()
                )
            continue
        docstring = (command.callback.__doc__ or "").strip()
        assert docstring and synced[command.name]["description"] == docstring
    assert synced["ask"]["description"] == "Ask a question; the answer quotes the archive verbatim, with sources."
    options = {option["name"]: option["description"] for option in synced["search"]["options"]}
    assert options["after"] == "Only articles published on or after this date (YYYY-MM-DD)"
