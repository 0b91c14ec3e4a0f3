"""Feeds and follows in the bot, end to end: the unchanged bot against the fake Discord, its feed task polling
the real feed server on 127.0.0.1 (tests/feed_support.py), reindexing, and telling a follow once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bot_fixtures import SEED_QUESTION, Harness
from fake_discord import EPHEMERAL
from feed_support import FeedServer, make_story, running_feed_server

from bot.feeds import FeedTask
from index import Archive, FeedSettings, FollowMatch, HashEmbedder, Settings
from index.feeds import JsonFeedStore, JsonFollowStore

pytestmark = pytest.mark.e2e
pytest_plugins = ["bot_fixtures"]

FEEDS = FeedSettings(allow_private=True, host_gap_seconds=0.0, timeout_seconds=2.0)
FAST = [{"feeds": FEEDS, "feed_cycle_seconds": 0.1}]
NEW = 19  # the story the feed publishes during the test


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with running_feed_server() as running:
        del running.stories[NEW]
        yield running


def text_of(interaction) -> str:
    data = interaction.responses[0]["data"]
    assert data["flags"] & EPHEMERAL
    return str(data["content"])


def notices(h: Harness) -> list[dict]:
    return [
        m
        for m in h.fake.bot_messages(h.fake.channel_id)
        if m["embeds"] and m["embeds"][0]["title"].startswith("New on")
    ]


async def make_due(h: Harness, url: str) -> None:
    store = h.bot.feed_store
    state = next(feed for feed in await store.feeds() if feed.url == url)
    await store.save_feed(dataclasses.replace(state, next_poll=0.0))


@pytest.mark.parametrize("bot_overrides", FAST)
async def test_a_feed_is_polled_indexed_and_a_follow_fires_once(harness: Harness, server: FeedServer) -> None:
    h, rss = harness, f"{server.base}/rss.xml"
    task: FeedTask = h.bot.get_cog("Feeds").task  # type: ignore[union-attr]

    refused = await h.fake.answered(await h.fake.slash(h.fake.member, "feeds add", url=rss))
    assert "Only server admins" in text_of(refused) and await h.bot.feed_store.feeds() == []
    synced = {c["name"]: c for c in h.fake.commands[h.fake.guild_id]}
    assert int(synced["feeds"]["default_member_permissions"]) == 32 and synced["feeds"]["dm_permission"] is False

    added = await h.fake.answered(await h.fake.slash(h.fake.admin, "feeds add", url=rss, interval=60))
    assert text_of(added) == f"<{rss}> added; polled every 60 minutes."
    await h.fake.wait_for(lambda: task.last is not None and task.last.indexed is not None, timeout=30)
    assert task.last is not None and task.last.poll.new == 19 and task.last.indexed is not None
    assert task.last.indexed.added == 19 and task.last.matches == ()
    story = make_story(4)
    answer = await h.archive.ask(f"How much did the restoration of the {story.thing} in {story.place} cost?")
    assert answer.answered and answer.quotes[0].title == story.title

    new = make_story(NEW)
    question = f"How much did the restoration of the {new.thing} in {new.place} cost?"
    follow = await h.fake.answered(await h.fake.slash(h.fake.member, "follow", query=question))
    assert text_of(follow).startswith(f"Following “{question}” (id `")
    other = await h.fake.answered(await h.fake.slash(h.fake.admin, "follow", query=SEED_QUESTION))
    assert "Following" in text_of(other)

    server.stories[NEW] = new  # the feed publishes a new story
    await make_due(h, rss)
    found = await h.fake.wait_for(lambda: notices(h), timeout=30)
    assert len(found) == 1
    notice = found[0]
    assert notice["content"] == f"<@{h.fake.member['id']}>, a new article matches your follow:"
    assert notice["allowed_mentions"]["parse"] == [] and not notice["allowed_mentions"].get("users")
    embed = notice["embeds"][0]
    assert embed["title"] == f"New on your follow: {question}"
    assert f"cost {new.cost} pounds" in embed["description"] and new.title in embed["description"]

    cycles = task.cycles
    await make_due(h, rss)  # polled again: nothing new, nobody told again
    await h.fake.wait_for(lambda: task.cycles >= cycles + 3, timeout=30)
    assert len(server.requests("/rss.xml")) == 3 and len(notices(h)) == 1

    stats = await h.fake.slash(h.fake.member, "stats")
    await h.fake.wait_for(lambda: stats.followups)
    fields = {f["name"]: f["value"] for f in stats.followups[0]["embeds"][0]["fields"]}
    assert fields["Feeds"] == "1 (0 failing)"

    listed = await h.fake.answered(await h.fake.slash(h.fake.member, "follows"))
    data = listed.responses[0]["data"]
    assert data["flags"] & EPHEMERAL and data["content"].startswith("You follow 1 story:")
    button = data["components"][0]["components"][0]
    assert button["label"].startswith("Remove ")
    click = await h.fake.answered(await h.fake.click(h.fake.member, listed.original, button["custom_id"]))
    assert click.response_type == 7 and click.responses[0]["data"]["content"].startswith("You follow nothing")
    assert [f.query for f in await h.bot.follow_store.follows()] == [SEED_QUESTION]


async def test_follows_channel_off_and_unfollow(harness: Harness) -> None:
    h = harness
    refused = await h.fake.answered(await h.fake.slash(h.fake.member, "follows", channel="off"))
    assert "Only server admins" in text_of(refused)
    off = await h.fake.answered(await h.fake.slash(h.fake.admin, "follows", channel="off"))
    assert text_of(off).startswith("Follows in this channel are off")
    follow = await h.fake.answered(await h.fake.slash(h.fake.member, "follow", query="harbour bridge"))
    assert text_of(follow) == "Follows are turned off in this channel by the server's admins."
    await h.fake.answered(await h.fake.slash(h.fake.admin, "follows", channel="on"))
    follow = await h.fake.answered(await h.fake.slash(h.fake.member, "follow", query="harbour bridge"))
    (made,) = await h.bot.follow_store.follows_of(int(h.fake.member["id"]))
    assert f"/unfollow {made.id}" in text_of(follow)
    wrong = await h.fake.answered(await h.fake.slash(h.fake.admin, "unfollow", id=made.id))  # not theirs
    assert text_of(wrong).startswith("You have no follow with that id")
    stopped = await h.fake.answered(await h.fake.slash(h.fake.member, "unfollow", id=made.id))
    assert text_of(stopped) == "Stopped." and await h.bot.follow_store.follows() == []
    dm = await h.fake.answered(await h.fake.slash(h.fake.member, "feeds list", dm=True))
    assert "Only server admins" in text_of(dm)


async def test_the_task_skips_while_a_reindex_runs_and_survives_failures(tmp_path: Path, server: FeedServer) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", archive_roots=(tmp_path / "archive",))
    (tmp_path / "archive").mkdir()
    told: list[FollowMatch] = []

    async def notify(match: FollowMatch) -> None:
        told.append(match)

    async with await Archive.open(settings, embedder=HashEmbedder(256)) as archive:
        feeds, follows = JsonFeedStore.in_data_dir(settings.data_dir), JsonFollowStore.in_data_dir(settings.data_dir)
        await feeds.add_feed(f"{server.base}/rss.xml", 60)
        running = True
        task = FeedTask(archive, feeds, follows, FEEDS, notify, reindex_running=lambda: running)
        assert await task.cycle() is None and server.log == []  # /reindex runs: not even polled
        running = False
        (settings.data_dir / "feeds.json").write_text("{ not json")  # the store breaks: logged, not raised
        assert await task.cycle() is None
        (settings.data_dir / "feeds.json").unlink()
        await feeds.add_feed(f"{server.base}/error.xml", 60)  # a failing feed is a result, not a crash
        cycle = await task.cycle()
        assert cycle is not None and cycle.poll.failed == 1 and cycle.indexed is None and task.cycles == 1
        background = task.start()
        await asyncio.sleep(0.05)
        await task.stop()
        assert background.done() and told == []


async def test_a_follow_is_told_about_an_article_a_reindex_adds(harness: Harness) -> None:
    h = harness
    question = "How much did the restoration of the Nairn viaduct cost?"
    await h.fake.answered(await h.fake.slash(h.fake.member, "follow", query=question))
    (h.archive_dir / "nairn.md").write_text(
        "---\ntitle: Nairn viaduct reopens\nsource: Test Gazette\ndate: 2024-03-01\n---\n\n"
        "The viaduct in Nairn reopened on Tuesday. The restoration of the Nairn viaduct cost 91,000 pounds, "
        "paid by the town council.\n"
    )
    await h.fake.answered(await h.fake.slash(h.fake.admin, "reindex"))
    found = await h.fake.wait_for(lambda: notices(h), timeout=30)
    assert len(found) == 1 and "91,000 pounds" in found[0]["embeds"][0]["description"]
    assert found[0]["embeds"][0]["footer"]["text"].startswith("Follow ")


async def test_the_follow_button_under_an_answer_follows_its_question(harness: Harness) -> None:
    h = harness
    asked = await h.fake.slash(h.fake.member, "ask", question=SEED_QUESTION)
    await h.fake.wait_for(lambda: asked.followups)
    answer = asked.followups[0]
    rows = [c for row in answer["components"] for c in row["components"]]
    follow = next(c for c in rows if c.get("label") == "Follow")
    assert follow["custom_id"].startswith("archivebot:follow:")
    click = await h.fake.answered(await h.fake.click(h.fake.admin, answer, follow["custom_id"]))
    assert text_of(click).startswith(f"Following “{SEED_QUESTION}” (id `")
    (made,) = await h.bot.follow_store.follows()
    assert (made.owner_id, made.query, made.channel_id) == (
        int(h.fake.admin["id"]),
        SEED_QUESTION,
        int(answer["channel_id"]),
    )
    h.bot.answers = type(h.bot.answers)()  # a restart forgets the answers: the question is read from the embed
    h.bot.get_cog("Archive").answers = h.bot.answers  # type: ignore[union-attr]
    again = await h.fake.answered(await h.fake.click(h.fake.member, answer, follow["custom_id"]))
    assert text_of(again).startswith(f"Following “{SEED_QUESTION}”")
    assert len(await h.bot.follow_store.follows()) == 2


async def test_reindex_waits_for_the_feed_tasks_reindex(harness: Harness, server: FeedServer) -> None:
    h, rss = harness, f"{server.base}/rss.xml"
    cog = h.bot.get_cog("Feeds")
    task: FeedTask = cog.task  # type: ignore[union-attr]
    await task.stop()  # this test runs the cycles itself
    task.settings = FEEDS  # the default settings refuse the loopback server
    await h.bot.feed_store.add_feed(rss, 3600)
    h.embedder.gate.clear()  # the task's reindex waits inside embedding
    cycle = asyncio.create_task(task.cycle())
    await asyncio.to_thread(h.embedder.waiting.wait, 20)
    assert h.archive.reindexing
    second = await h.fake.answered(await h.fake.slash(h.fake.admin, "reindex"))
    assert (
        text_of(second) == "A reindex is already running; it indexes new feed articles. Try again when it has finished."
    )
    assert await task.busy()  # a cycle of another process (or after this one) would be skipped now
    h.embedder.gate.set()
    done = await cycle
    assert done is not None and done.indexed is not None and done.indexed.added == 19
