"""The `FeedStore` contract, for every implementation: add a backend to `STORES` and it is held to the same
behaviour (feeds, seen items, leases, two handles on one store as two processes would have)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from index import Settings, open_feed_store
from index.feeds import FeedState, FeedStore, JsonFeedStore, SeenItem

# name -> a function making the store for (a data directory, a PostgreSQL URL or ""); two calls: two handles
# on the same store, as two processes would have
STORES: dict[str, Callable[[Path, str], FeedStore]] = {
    "json": lambda data, url: JsonFeedStore.in_data_dir(data),
    "sqlite": lambda data, url: open_feed_store(Settings(data_dir=data)),
    "postgres": lambda data, url: open_feed_store(Settings(data_dir=data, database_url=url)),
}


@pytest.fixture(params=sorted(STORES))
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], FeedStore]]:
    make = STORES[request.param]
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    opened: list[FeedStore] = []

    def open_one() -> FeedStore:
        opened.append(make(tmp_path / "data", url))
        return opened[-1]

    yield open_one
    for store in opened:
        await store.close()


def item(url: str, **changes: object) -> SeenItem:
    base = SeenItem(
        url=url,
        canonical_url=url,
        feed_url="https://news.example/rss",
        entry_hash="e1",
        content_hash="c1",
        path="feeds/news.example/abc.json",
        status="page",
        updated=1.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_feeds_are_added_once_saved_whole_and_removed(open_store: Callable[[], FeedStore]) -> None:
    store, other = open_store(), open_store()
    first = await store.add_feed("https://a.example/rss", 900)
    assert first == FeedState(url="https://a.example/rss", interval_seconds=900)
    assert await other.add_feed("https://a.example/rss", 60) == first  # already there: as it was
    await store.add_feed("https://b.example/atom", 300)
    failing = dataclasses.replace(
        first, etag='"v1"', last_modified="Mon, 01 Apr 2024 00:00:00 GMT", next_poll=5.0, failures=3,
        last_error="feed: HTTP 500", last_polled=4.0, last_success=2.0, title="A",
    )  # fmt: skip
    await store.save_feed(failing)
    assert [feed.url for feed in await other.feeds()] == ["https://a.example/rss", "https://b.example/atom"]
    assert (await other.feeds())[0] == failing
    assert await other.remove_feed("https://a.example/rss") is True
    assert await store.remove_feed("https://a.example/rss") is False
    assert [feed.url for feed in await store.feeds()] == ["https://b.example/atom"]


async def test_items_are_found_by_link_canonical_url_and_content(open_store: Callable[[], FeedStore]) -> None:
    store, other = open_store(), open_store()
    assert await store.find_item("https://news.example/a") is None
    await store.save_item(item("https://news.example/a?from=rss", canonical_url="https://news.example/a"))
    await store.save_item(item("https://news.example/skipped", content_hash="", path="", status="skipped"))
    assert (await other.find_item("https://news.example/a?from=rss")) == (
        await other.find_item("https://news.example/a")
    )
    found = await other.find_content("c1")
    assert found is not None and found.url == "https://news.example/a?from=rss"
    assert await other.find_content("") is None  # "nothing written" matches nothing
    assert await other.find_content("c2") is None
    await other.save_item(item("https://news.example/a?from=rss", content_hash="c2", entry_hash="e2"))
    replaced = await store.find_item("https://news.example/a?from=rss")
    assert replaced is not None and (replaced.content_hash, replaced.entry_hash) == ("c2", "e2")
    assert await store.find_content("c1") is None


async def test_a_lease_is_held_by_one_owner_until_it_ends(open_store: Callable[[], FeedStore]) -> None:
    store, other = open_store(), open_store()
    feed = "https://a.example/rss"
    assert await store.take_lease(feed, "one", now=100.0, until=700.0)
    assert not await other.take_lease(feed, "two", now=200.0, until=800.0)
    assert await store.take_lease(feed, "one", now=300.0, until=900.0)  # the holder extends it
    assert not await other.take_lease(feed, "two", now=800.0, until=1400.0)
    await other.release_lease(feed, "two")  # not its lease: nothing happens
    assert not await other.take_lease(feed, "two", now=850.0, until=1450.0)
    assert await other.take_lease(feed, "two", now=901.0, until=1500.0)  # it ran out
    await other.release_lease(feed, "two")
    assert await store.take_lease(feed, "one", now=902.0, until=1502.0)
    assert await other.take_lease("https://b.example/rss", "two", now=902.0, until=1502.0)  # leases are per feed
