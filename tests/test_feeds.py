"""The feed poller (index/feeds) against a real aiohttp server on 127.0.0.1: feeds become archive files the
real indexer makes answerable, conditional GETs, edits written once, hostile feeds and pages, refused
addresses (never connected to), back-off, leases, settings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from asyncio import selector_events
from collections.abc import AsyncIterator
from ipaddress import ip_network
from pathlib import Path

import pytest
from feed_support import HUGE_BYTES, SITE, FeedServer, make_story, running_feed_server

from index import Archive, ConfigurationError, Settings, open_feed_store
from index.feeds import AddressPolicy, FeedPoller, FeedSettings, JsonFeedStore, address_kind, backoff_seconds
from index.feeds.addresses import GuardedResolver, RefusedAddress, guarded_socket_factory
from index.feeds.fetch import Fetcher, FetchError

LOOPBACK_ONLY = AddressPolicy(allowed_networks=(ip_network("127.0.0.1/32"),))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with running_feed_server() as running:
        yield running


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address a socket of the event loop is asked to connect to (aiohttp connects through it)."""
    seen: list[str] = []
    original = selector_events.BaseSelectorEventLoop.sock_connect

    async def spy(self: selector_events.BaseSelectorEventLoop, sock: socket.socket, address: object) -> None:
        seen.append(str(address[0] if isinstance(address, tuple) else address))
        await original(self, sock, address)

    monkeypatch.setattr(selector_events.BaseSelectorEventLoop, "sock_connect", spy)
    return seen


def settings_for(*urls: str, **changes: object) -> FeedSettings:
    """The settings a test deployment would read: the server is on 127.0.0.1, so private addresses are on."""
    env = {"ARCHIVEBOT_FEEDS": ",".join(urls), "ARCHIVEBOT_FEEDS_ALLOW_PRIVATE": "1"}
    base = FeedSettings.from_env(env, load_dotenv=False)
    return dataclasses.replace(base, **{"host_gap_seconds": 0.0, "timeout_seconds": 1.5, **changes})  # type: ignore[arg-type]


async def poll_once(poller: FeedPoller, clock: Clock):
    clock.now += 24 * 3600  # every feed is due
    return await poller.poll_due()


def feed_files(archive_root: Path) -> list[Path]:
    return sorted((archive_root / "feeds").rglob("*.json"))


async def test_twenty_rss_items_become_answerable_articles(
    server: FeedServer, archive: Archive, tmp_path: Path
) -> None:
    root, clock = tmp_path / "archive", Clock()
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    async with FeedPoller(store, root, settings_for(f"{server.base}/rss.xml"), clock=clock) as poller:
        await poller.add_configured()
        first = await poller.poll_due()
        assert (first.new, first.changed, first.failed) == (20, 0, 0)
        files = feed_files(root)
        assert len(files) == 20 and set(first.written) == set(files)
        assert len(server.requests("/articles/")) == 20

        record = json.loads(next(f for f in files if '"Writer 7"' in f.read_text()).read_text())
        story = make_story(7)
        assert record["title"] == story.title and record["source"] == SITE and record["byline"] == story.author
        assert record["date"].startswith("2024-03-08") and record["text_from"] == "page"
        assert record["url"] == f"{server.base}/articles/7"  # canonical: no utm_source
        assert story.paragraphs[1] in record["body"] and "Copyright" not in record["body"]
        assert {entry.user_agent for entry in server.log} == {"Archivebot/0.1 (+feeds)"}

        summary = await archive.reindex([root])
        assert summary.added == 20 and not summary.warnings
        asked = make_story(11)
        answer = await archive.ask(f"How much did the restoration of the {asked.thing} in {asked.place} cost?")
        assert answer.quotes and answer.quotes[0].title == asked.title
        assert f"cost {asked.cost} pounds" in answer.quotes[0].text

        second = await poll_once(poller, clock)
        assert (second.new, second.changed, second.feeds[0].status) == (0, 0, "not-modified")
        feed_requests = server.requests("/rss.xml")
        assert [entry.status for entry in feed_requests] == [200, 304]
        assert feed_requests[1].if_none_match and feed_requests[1].if_none_match.startswith('"')
        assert len(server.requests("/articles/")) == 20  # nothing fetched again


async def test_atom_feed_and_if_modified_since(server: FeedServer, tmp_path: Path) -> None:
    root, clock = tmp_path / "archive", Clock()
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    async with FeedPoller(store, root, settings_for(f"{server.base}/atom.xml"), clock=clock) as poller:
        await poller.add_configured()
        first = await poller.poll_due()
        assert first.new == 20 and len(feed_files(root)) == 20
        record = json.loads(feed_files(root)[0].read_text())
        assert record["source"] == SITE and record["byline"].startswith("Writer ")
        second = await poll_once(poller, clock)
        assert second.feeds[0].status == "not-modified" and second.new == 0
    atom = server.requests("/atom.xml")
    assert [entry.status for entry in atom] == [200, 304]
    assert atom[1].if_modified_since == "Mon, 01 Apr 2024 00:00:00 GMT" and atom[1].if_none_match is None
    (state,) = await store.feeds()
    assert state.title == f"{SITE} (Atom)" and state.failures == 0 and state.next_poll == clock.now + 15 * 60


async def test_an_edited_item_is_written_again_once(server: FeedServer, archive: Archive, tmp_path: Path) -> None:
    root, clock = tmp_path / "archive", Clock()
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    async with FeedPoller(store, root, settings_for(f"{server.base}/rss.xml"), clock=clock) as poller:
        await poller.add_configured()
        await poller.poll_due()
        await archive.reindex([root])
        story = server.stories[3]
        story.paragraphs[0] = "The Dunoon museum now shows a whale skeleton found by fishermen in the loch."
        edited = await poll_once(poller, clock)
        assert (edited.new, edited.changed, edited.unchanged) == (0, 1, 19)
        assert "whale skeleton" in edited.written[0].read_text()
        assert [e.path for e in server.requests("/articles/")][20:] == ["/articles/3"]  # only the edited one
        summary = await archive.reindex([root])
        assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 20 - 1)
        answer = await archive.ask("What did fishermen find in the loch near Dunoon?")
        assert answer.quotes and "whale skeleton" in answer.quotes[0].text
        again = await poll_once(poller, clock)
        assert (again.new, again.changed, again.feeds[0].status) == (0, 0, "not-modified")


async def test_a_page_failing_for_now_keeps_its_text_and_is_tried_again(server: FeedServer, tmp_path: Path) -> None:
    root, clock = tmp_path / "archive", Clock()
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    async with FeedPoller(store, root, settings_for(f"{server.base}/rss.xml"), clock=clock) as poller:
        await poller.add_configured()
        (path,) = [p for p in (await poller.poll_due()).written if '"Writer 2"' in p.read_text()]
        before = path.read_text()
        server.stories[2].paragraphs[0] = "The Carrickfergus tramway will run again on Sundays from May."
        server.failing_pages = {2}
        failing = await poll_once(poller, clock)
        assert (failing.changed, failing.failed) == (0, 1) and "HTTP 503" in failing.feeds[0].failed[0].reason
        assert path.read_text() == before  # the page's text stays: not replaced by the feed's summary
        server.failing_pages = set()
        retried = await poll_once(poller, clock)  # the old validators were kept: a full 200, and the item again
        assert retried.feeds[0].status == "polled" and retried.written == (path,)
        assert "run again on Sundays" in path.read_text() and '"text_from": "page"' in path.read_text()


async def test_an_article_in_two_feeds_is_fetched_and_written_once(server: FeedServer, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    rss, atom = f"{server.base}/rss.xml", f"{server.base}/atom.xml"
    async with FeedPoller(JsonFeedStore.in_data_dir(tmp_path / "data"), root, settings_for(rss, atom)) as poller:
        await poller.add_configured()
        assert len((await poller.poll(rss)).new) == 20
        from_atom = await poller.poll(atom)  # the same 20 articles, linked without the tracking parameter
        assert (from_atom.new, from_atom.changed, from_atom.unchanged) == ((), (), 20)
    assert len(feed_files(root)) == 20 and len(server.requests("/articles/")) == 20


async def test_another_link_to_a_written_article_is_not_written_twice(server: FeedServer, tmp_path: Path) -> None:
    server.rss_extra = [
        # the same page under a link with another parameter: its canonical URL is /articles/5
        f"<item><title>Print view</title><link>{server.base}/articles/5?view=print</link></item>",
        # a mirror that doesn't name the original: the same content
        f"<item><title>Mirror</title><link>{server.base}/mirror/6</link></item>",
    ]
    root = tmp_path / "archive"
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    async with FeedPoller(store, root, settings_for(f"{server.base}/rss.xml")) as poller:
        await poller.add_configured()
        summary = await poller.poll_due()
    assert (summary.new, summary.unchanged, summary.failed) == (20, 2, 0) and len(feed_files(root)) == 20
    print_view = await store.find_item(f"{server.base}/articles/5?view=print")
    original = await store.find_item(f"{server.base}/articles/5")
    assert print_view and original and print_view.path == original.path  # one file for the page
    mirror = await store.find_item(f"{server.base}/mirror/6")
    assert mirror and mirror.status == "duplicate" and mirror.path == ""
    assert mirror.reason == f"same content as {server.base}/articles/6"


async def test_hostile_items_fail_alone_and_are_not_fetched_again(
    server: FeedServer, tmp_path: Path, connects: list[str]
) -> None:
    root, clock = tmp_path / "archive", Clock()
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    settings = settings_for(f"{server.base}/hostile.xml")
    async with FeedPoller(store, root, settings, policy=LOOPBACK_ONLY, clock=clock) as poller:
        await poller.add_configured()
        started = time.monotonic()
        (result,) = (await poller.poll_due()).feeds
        assert time.monotonic() - started < 10
        assert result.status == "polled" and len(result.new) == 4  # three pages and one feed-only item
        reasons = {problem.url: problem.reason for problem in result.failed}
        assert len(reasons) == 4
        assert "over the 5,000,000-byte limit" in reasons[f"{server.base}/huge"]
        assert "application/pdf, not HTML" in reasons[f"{server.base}/doc.pdf"]
        assert "169.254.169.254 is a link-local address" in reasons["http://169.254.169.254/latest/meta-data/"]
        assert "10.0.0.1 is a private address" in reasons["http://10.0.0.1/admin"]
        assert server.huge_sent < HUGE_BYTES // 2, server.huge_sent  # reading stopped near 5 MB, not after 50
        (feed_only,) = result.feed_only
        assert feed_only.url.endswith("/gone") and "HTTP 404" in feed_only.reason
        written = [json.loads(path.read_text()) for path in result.new]
        assert [r["text_from"] for r in written].count("feed") == 1
        assert any("Zennor cliff railway" in r["body"] for r in written)
        assert set(connects) == {"127.0.0.1"}  # 169.254.169.254 and 10.0.0.1: not even a connection attempt

        again = await poll_once(poller, clock)  # no validators on this feed: a full 200 each time
        assert again.new == 0 and again.failed == 0 and again.unchanged == 8  # 4 written, 4 skipped
        assert len(server.requests("/huge")) == 1 and len(server.requests("/doc.pdf")) == 1


async def test_failing_feeds_leave_the_rest_in_place_and_back_off(server: FeedServer, tmp_path: Path) -> None:
    root, clock = tmp_path / "archive", Clock()
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    hostile = [f"{server.base}/{path}" for path in ("malformed.xml", "error.xml", "slow.xml", "loop/a")]
    settings = settings_for(f"{server.base}/rss.xml", *hostile, timeout_seconds=1.0)
    async with FeedPoller(store, root, settings, clock=clock) as poller:
        await poller.add_configured()
        summary = await poller.poll_due()
        assert summary.new == 20 and summary.failed == 4
        errors = {result.url.rsplit("/", 1)[-1]: result.error for result in summary.feeds if result.error}
        assert "not a readable feed" in (errors["malformed.xml"] or "")
        assert errors["error.xml"] == "feed: HTTP 500"
        assert errors["slow.xml"] == "feed: timed out after 1 s"
        assert "more than 5 redirects" in (errors["a"] or "")
        assert len(server.requests("/loop/")) == 6  # the first request and five redirects
        states = {state.url: state for state in await store.feeds()}
        for url in hostile:
            assert states[url].failures == 1 and states[url].last_error
            assert states[url].next_poll == clock.now + 2 * 15 * 60

        server.rss_mode = "malformed"  # the good feed breaks: its articles stay
        clock.now += 16 * 60
        broken = await poller.poll(f"{server.base}/rss.xml")
        assert broken.status == "failed" and len(feed_files(root)) == 20
        server.rss_mode = "error"
        clock.now += 31 * 60
        await poller.poll(f"{server.base}/rss.xml")
        state = {s.url: s for s in await store.feeds()}[f"{server.base}/rss.xml"]
        assert (state.failures, state.last_error) == (2, "feed: HTTP 500")
        assert state.next_poll == clock.now + 4 * 15 * 60
        server.rss_mode = "good"
        await poller.poll(f"{server.base}/rss.xml")
        state = {s.url: s for s in await store.feeds()}[f"{server.base}/rss.xml"]
        assert state.failures == 0 and state.last_error == "feed: HTTP 500"  # kept for /stats and doctor


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_seconds(900, n, 6 * 3600) for n in (1, 2, 3, 4, 5, 6, 40)] == [
        1800,
        3600,
        7200,
        14400,
        21600,
        21600,
        21600,
    ]
    assert backoff_seconds(900, 1, 6 * 3600, retry_after=5000) == 5000
    assert backoff_seconds(900, 1, 6 * 3600, retry_after=10**9) == 6 * 3600


async def test_private_addresses_are_refused_before_any_connection(server: FeedServer, connects: list[str]) -> None:
    port = server.base.rsplit(":", 1)[1]
    refused = [
        server.base + "/rss.xml",
        f"http://localhost:{port}/rss.xml",
        f"http://[::1]:{port}/rss.xml",
        f"http://0.0.0.0:{port}/rss.xml",
        f"http://2130706433:{port}/rss.xml",  # 127.0.0.1 as one number
        "http://10.0.0.1/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/feed",
        "http://224.0.0.1/feed",
        "ftp://127.0.0.1/feed",
        "file:///etc/passwd",
    ]
    async with Fetcher(FeedSettings(), AddressPolicy(allow_private=False)) as fetcher:
        for url in refused:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(url, limit=1000)
            assert caught.value.reason.startswith("refused: ") and caught.value.permanent, url
    assert connects == [] and server.log == []


async def test_no_cookies_are_kept(server: FeedServer) -> None:
    port = server.base.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/rss.xml"  # a host name: cookies for IP addresses aren't kept anyway
    async with Fetcher(FeedSettings(host_gap_seconds=0.0), AddressPolicy(allow_private=True)) as fetcher:
        first = await fetcher.get(url, limit=1_000_000)
        assert first.headers.get("Set-Cookie")
        await fetcher.get(url, limit=1_000_000)
    assert [entry.cookie for entry in server.requests("/rss.xml")] == [None, None]


async def test_a_redirect_to_a_private_address_is_refused(server: FeedServer, connects: list[str]) -> None:
    async with Fetcher(FeedSettings(host_gap_seconds=0.0), LOOPBACK_ONLY) as fetcher:
        with pytest.raises(FetchError, match="refused: 169.254.169.254 is a link-local address"):
            await fetcher.get(server.base + "/redirect-private", limit=1000)
    assert set(connects) == {"127.0.0.1"} and len(server.log) == 1


async def test_the_poller_refuses_a_loopback_feed_unless_private_addresses_are_allowed(
    server: FeedServer, tmp_path: Path, connects: list[str]
) -> None:
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    settings = dataclasses.replace(settings_for(f"{server.base}/rss.xml"), allow_private=False)
    async with FeedPoller(store, tmp_path / "archive", settings) as poller:
        await poller.add_configured()
        summary = await poller.poll_due()
    assert (
        summary.feeds[0].error
        == "feed: refused: 127.0.0.1 is a loopback address (set ARCHIVEBOT_FEEDS_ALLOW_PRIVATE=1 to allow)"
    )
    assert connects == [] and server.log == [] and not (tmp_path / "archive").exists()


async def test_the_clients_resolver_refuses_a_name_that_turns_private() -> None:
    """DNS rebinding: the name passed the check, then resolves to a private address for the connection."""

    class Rebinding:
        async def resolve(self, host: str, port: int = 0, family: object = None) -> list[dict[str, object]]:
            return [
                {"hostname": host, "host": "10.0.0.7", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}
            ]

        async def close(self) -> None:
            pass

    resolver = GuardedResolver(AddressPolicy(), inner=Rebinding())  # type: ignore[arg-type]
    with pytest.raises(RefusedAddress, match="10.0.0.7 is a private address"):
        await resolver.resolve("news.example.org", 80)


def test_the_clients_sockets_are_made_only_for_allowed_destinations() -> None:
    make = guarded_socket_factory(LOOPBACK_ONLY)
    with pytest.raises(RefusedAddress, match="169.254.169.254 is a link-local address"):
        make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)))
    with pytest.raises(RefusedAddress, match="::1 is a loopback address"):
        make((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 80, 0, 0)))
    make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))).close()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a00:1::", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    from ipaddress import ip_address

    assert address_kind(ip_address(address)) == kind


async def test_one_request_at_a_time_per_host_with_a_gap(server: FeedServer, tmp_path: Path) -> None:
    for number in range(5, 20):
        del server.stories[number]
    settings = dataclasses.replace(settings_for(f"{server.base}/rss.xml"), host_gap_seconds=0.2)
    async with FeedPoller(JsonFeedStore.in_data_dir(tmp_path / "data"), tmp_path / "archive", settings) as poller:
        await poller.add_configured()
        assert (await poller.poll_due()).new == 5
    assert server.most_in_flight == 1
    gaps = [later.started - earlier.ended for earlier, later in zip(server.log, server.log[1:], strict=False)]
    assert len(gaps) == 5 and min(gaps) >= 0.19


@pytest.mark.parametrize("backend", ["json", "sqlite", "postgres"])
async def test_a_leased_feed_is_polled_by_one_process_only(
    server: FeedServer, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    clock = Clock()
    path = tmp_path / "data" / "feeds.json"
    settings = settings_for(f"{server.base}/rss.xml")
    if backend == "json":
        first, second = JsonFeedStore(path), JsonFeedStore(path)  # two processes sharing one file
    else:  # two processes sharing the archive's database (feeds.sqlite3, or PostgreSQL)
        url = request.getfixturevalue("postgres_url") if backend == "postgres" else ""
        archive = Settings(data_dir=tmp_path / "data", database_url=url)
        first, second = open_feed_store(archive), open_feed_store(archive)  # type: ignore[assignment]
    async with (
        FeedPoller(first, tmp_path / "archive", settings, clock=clock) as one,
        FeedPoller(second, tmp_path / "archive", settings, clock=clock) as other,
    ):
        await one.add_configured()
        statuses = sorted(
            result.status for s in await asyncio.gather(one.poll_due(), other.poll_due()) for result in s.feeds
        )
        assert statuses == ["busy", "polled"] and len(server.requests("/rss.xml")) == 1
        assert await first.take_lease(f"{server.base}/rss.xml", "a crashed process", clock.now, clock.now + 600)
        assert (await other.poll(f"{server.base}/rss.xml")).status == "busy"
        clock.now += 601  # the crashed process's lease ran out
        assert (await other.poll(f"{server.base}/rss.xml")).status == "not-modified"
    await first.close()
    await second.close()


def test_settings_from_the_environment(tmp_path: Path) -> None:
    listed = tmp_path / "feeds.txt"
    listed.write_text("# news\nhttps://a.example/rss\n\nhttp://b.example/atom.xml\nhttps://a.example/rss\n")
    read = FeedSettings.from_env({"ARCHIVEBOT_FEEDS": str(listed)}, load_dotenv=False)
    assert read.urls == ("https://a.example/rss", "http://b.example/atom.xml") and not read.allow_private
    assert read.interval_seconds == 900
    env = {
        "ARCHIVEBOT_FEEDS": "https://a.example/rss,\nhttps://c.example/feed",
        "ARCHIVEBOT_FEEDS_INTERVAL": "5",
        "ARCHIVEBOT_FEEDS_ALLOW_PRIVATE": "yes",
    }
    read = FeedSettings.from_env(env, load_dotenv=False)
    assert read.urls == ("https://a.example/rss", "https://c.example/feed")
    assert read.interval_seconds == 300 and read.allow_private
    assert FeedSettings.from_env({}, load_dotenv=False).urls == ()
    for bad, message in [
        ({"ARCHIVEBOT_FEEDS": "ftp://a.example/rss"}, "is not an http(s) URL"),
        ({"ARCHIVEBOT_FEEDS": "https://a.example/rss, https:///nohost"}, "has no host"),
        ({"ARCHIVEBOT_FEEDS": "https://a.example:99999/rss"}, "is not a valid URL"),
        ({"ARCHIVEBOT_FEEDS": str(tmp_path / "missing.txt")}, "is neither"),
        ({"ARCHIVEBOT_FEEDS_INTERVAL": "0"}, "ARCHIVEBOT_FEEDS_INTERVAL must be at least 1"),
        ({"ARCHIVEBOT_FEEDS_INTERVAL": "soon"}, "must be a whole number"),
        ({"ARCHIVEBOT_FEEDS_ALLOW_PRIVATE": "maybe"}, "must be 1 or 0"),
    ]:
        with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            FeedSettings.from_env(bad, load_dotenv=False)
        assert "\n" not in str(caught.value)


async def test_the_json_store_survives_reopening_and_keeps_no_temporary_files(tmp_path: Path) -> None:
    store = JsonFeedStore.in_data_dir(tmp_path / "data")
    added = await store.add_feed("https://a.example/rss", 600)
    assert await store.add_feed("https://a.example/rss", 60) == added  # already there: unchanged
    await store.save_feed(dataclasses.replace(added, etag='"x"', failures=2, last_error="feed: HTTP 500"))
    reopened = JsonFeedStore.in_data_dir(tmp_path / "data")
    (state,) = await reopened.feeds()
    assert (state.etag, state.failures, state.last_error, state.interval_seconds) == ('"x"', 2, "feed: HTTP 500", 600)
    assert await reopened.remove_feed("https://a.example/rss") and await store.feeds() == []
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["feeds.json", "feeds.json.lock"]
    assert (tmp_path / "data" / "feeds.json").stat().st_mode & 0o077 == 0
