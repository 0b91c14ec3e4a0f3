"""Follows in the engine: the JSON store (limits, owners, channels turned off, notified once) and matching a
reindex's new articles against follows with the real `Archive.ask` (fake embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from index import Archive, FollowError, FollowSettings, FollowStore, Settings, open_follow_store
from index.feeds import JsonFollowStore, match_follows

LIMITS = FollowSettings(per_user=2, per_server=3)


def article(title: str, body: str) -> str:
    return f"---\ntitle: {title}\nsource: Test Gazette\ndate: 2024-03-01\n---\n\n{body}\n"


# name -> a function making the store for (a data directory, a PostgreSQL URL or ""); two calls: two handles
STORES: dict[str, Callable[[Path, str], FollowStore]] = {
    "json": lambda data, url: JsonFollowStore.in_data_dir(data),
    "sqlite": lambda data, url: open_follow_store(Settings(data_dir=data)),
    "postgres": lambda data, url: open_follow_store(Settings(data_dir=data, database_url=url)),
}


@pytest.fixture(params=sorted(STORES))
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[FollowStore, FollowStore]]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    pair = STORES[request.param](tmp_path, url), STORES[request.param](tmp_path, url)
    yield pair
    for store in pair:
        await store.close()


async def test_the_store_keeps_limits_owners_and_channels(
    two_stores: tuple[FollowStore, FollowStore], tmp_path: Path
) -> None:
    store, other = two_stores
    first = await store.add_follow(1, 100, 7, "  harbour   bridge ", 10.0, LIMITS)
    assert (first.owner_id, first.guild_id, first.channel_id, first.query, first.created) == (
        1,
        100,
        7,
        "harbour bridge",
        10.0,
    )
    assert len(first.id) == 6
    await store.add_follow(1, 100, 7, "tramway", 11.0, LIMITS)
    with pytest.raises(FollowError, match="most allowed \\(2\\)"):
        await other.add_follow(1, 100, 7, "third", 12.0, LIMITS)
    await other.add_follow(2, 100, 7, "ferry", 13.0, LIMITS)
    with pytest.raises(FollowError, match="This server has 3 follows"):
        await store.add_follow(3, 100, 7, "pier", 14.0, LIMITS)
    dm = await store.add_follow(3, None, 99, "pier", 15.0, LIMITS)  # a DM counts for the user only
    assert [f.query for f in await other.follows_of(1)] == ["harbour bridge", "tramway"]
    assert [f.owner_id for f in await other.follows_in(100)] == [1, 1, 2]
    assert await other.follows_in(None) == [dm]
    with pytest.raises(FollowError, match="needs some words"):
        await store.add_follow(4, 200, 8, "   ", 16.0, LIMITS)

    assert await store.remove_follow(first.id, owner_id=2) is False  # not theirs
    assert await store.record_notified(first.id, "a1") is True
    assert await other.record_notified(first.id, "a1") is False  # once, across handles
    assert await other.was_notified(first.id, "a1") and not await other.was_notified(first.id, "a2")
    assert await other.remove_follow(first.id, owner_id=1) is True
    assert await store.remove_follow(first.id) is False
    assert not await store.was_notified(first.id, "a1")

    assert await store.channel_follows_allowed(8)
    await store.set_channel_follows(8, False)
    assert not await other.channel_follows_allowed(8)
    with pytest.raises(FollowError, match="turned off in this channel"):
        await other.add_follow(4, 200, 8, "lighthouse", 17.0, LIMITS)
    await other.set_channel_follows(8, True)
    assert (await store.add_follow(4, 200, 8, "lighthouse", 17.0, LIMITS)).channel_id == 8
    for name in ("follows.json", "feeds.sqlite3"):
        if (tmp_path / name).exists():
            assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o600"


def test_the_limits_come_from_the_environment() -> None:
    assert FollowSettings.from_env({}, load_dotenv=False) == FollowSettings(10, 100)
    read = FollowSettings.from_env(
        {"ARCHIVEBOT_FOLLOWS_PER_USER": "3", "ARCHIVEBOT_FOLLOWS_PER_SERVER": "0"}, load_dotenv=False
    )
    assert read == FollowSettings(3, 0)


async def test_a_follow_fires_once_for_a_matching_new_article(
    archive: Archive, seed_archive_dir: Path, tmp_path: Path
) -> None:
    first = await archive.reindex([seed_archive_dir])
    assert first.changed_ids and first.added == len(first.changed_ids)
    store = JsonFollowStore.in_data_dir(tmp_path / "follows")
    viaduct = await store.add_follow(1, 100, 7, "How much did the restoration of the Nairn viaduct cost?", 1.0, LIMITS)
    await store.add_follow(2, 100, 7, "What did Obama propose to North Korea?", 2.0, LIMITS)  # old news only
    await store.add_follow(3, None, 9, "zebra xylophone quantum marmalade", 3.0, LIMITS)  # nothing answers
    (seed_archive_dir / "nairn.md").write_text(
        article(
            "Nairn viaduct reopens",
            "The viaduct in Nairn reopened on Tuesday. The restoration of the Nairn viaduct cost 91,000 pounds, "
            "paid by the town council. Volunteers repaired the stonework by hand.",
        )
    )
    second = await archive.reindex()
    assert second.added == 1 and len(second.changed_ids) == 1
    matches = await match_follows(archive, store, second.changed_ids)
    assert [match.follow for match in matches] == [viaduct]
    assert matches[0].quote.article_id == second.changed_ids[0] and "91,000 pounds" in matches[0].quote.text
    assert await store.was_notified(viaduct.id, second.changed_ids[0])
    assert await match_follows(archive, store, second.changed_ids) == []  # once per (follow, article)

    unchanged = await archive.reindex()
    assert unchanged.changed_ids == () and await match_follows(archive, store, unchanged.changed_ids) == []
