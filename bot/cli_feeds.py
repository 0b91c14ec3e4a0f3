"""`archivebot feeds list|add|remove|poll`: the feeds that keep the archive current (docs/feeds.md).

`poll` fetches the due feeds (`--all`: every feed now), writes their new and changed articles and reindexes
only when something was written. It does not tell follows (only the bot can post): articles it indexes are
not matched against them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import click

from index import (
    ArchivebotError,
    FeedCycle,
    FeedPoller,
    FeedSettings,
    FeedState,
    FeedStore,
    Settings,
    checked_feed_url,
    feed_archive_root,
    feed_health,
    open_feed_store,
    poll_and_index,
)

from . import terminal
from .cli_support import open_archive, run_command, settings_of


def _feed_settings(context: click.Context) -> FeedSettings:
    """ARCHIVEBOT_FEEDS* (a bad value: one line, exit 1), or the caller's (tests: no gap between requests)."""
    given = context.obj.get("feed_settings")
    return given if isinstance(given, FeedSettings) else FeedSettings.from_env()


@asynccontextmanager
async def _store(context: click.Context) -> AsyncIterator[FeedStore]:
    """The archive's feed store (its own backend's tables), closed afterwards."""
    store = open_feed_store(settings_of(context))
    try:
        yield store
    finally:
        await store.close()


async def feed_warnings(settings: Settings) -> list[str]:
    """`archivebot doctor`'s lines about failing feeds (read only: none when there are no feed tables yet)."""
    store = open_feed_store(settings, create=False)
    try:
        return (await feed_health(store)).warnings()
    except ArchivebotError:
        return []
    finally:
        await store.close()


@click.group()
def feeds() -> None:
    """The RSS and Atom feeds that keep the archive current: list, add, remove, poll."""


def _when(seconds: float | None) -> str:
    if not seconds:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def feed_line(feed: FeedState) -> str:
    due = _when(feed.next_poll) if feed.next_poll else "now"
    line = f"{feed.url}  every {feed.interval_seconds / 60:g} min, next poll {due}"
    if feed.title:
        line += f"  ({feed.title})"
    if feed.failures:
        line += f"\n  ! failed {feed.failures} time(s) in a row: {feed.last_error}"
    return line


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the feeds as JSON.")
@click.pass_context
@run_command
async def list_feeds(context: click.Context, as_json: bool) -> None:
    """The feeds, their interval, next poll and failures."""
    async with _store(context) as store:
        known = await store.feeds()
    if as_json:
        click.echo(json.dumps([feed.__dict__ for feed in known], ensure_ascii=False))
    else:
        click.echo("\n".join(feed_line(feed) for feed in known) or "no feeds (add one: archivebot feeds add URL)")


@feeds.command("add")
@click.argument("url")
@click.option("--interval", type=click.IntRange(1, 7 * 24 * 60), metavar="MINUTES", help="Minutes between polls.")
@click.pass_context
@run_command
async def add_feed(context: click.Context, url: str, interval: int | None) -> None:
    """Add a feed (polled from now on, first at the next `feeds poll` or bot cycle)."""
    url = checked_feed_url(url)
    seconds = 60.0 * interval if interval else _feed_settings(context).interval_seconds
    async with _store(context) as store:
        known = {feed.url for feed in await store.feeds()}
        feed = await store.add_feed(url, seconds)
    click.echo(("already there: " if url in known else "added: ") + feed_line(feed))


@feeds.command("remove")
@click.argument("url")
@click.pass_context
@run_command
async def remove_feed(context: click.Context, url: str) -> None:
    """Stop polling a feed (its articles stay in the archive)."""
    async with _store(context) as store:
        removed = await store.remove_feed(url.strip())
    if not removed:
        raise click.ClickException(f"no feed {url.strip()!r} (see archivebot feeds list)")
    click.echo(f"removed: {url.strip()}")


@feeds.command("poll")
@click.option("--all", "everything", is_flag=True, help="Poll every feed now, due or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
@run_command
async def poll(context: click.Context, everything: bool, as_json: bool) -> None:
    """Fetch the due feeds, write their new and changed articles, reindex when something was written."""
    feed_settings = _feed_settings(context)
    async with await open_archive(context) as archive, _store(context) as store:
        root = await feed_archive_root(archive)
        async with FeedPoller(store, root, feed_settings) as poller:
            await poller.add_configured()
            cycle = await poll_and_index(archive, poller, everything=everything)
    click.echo(json.dumps(cycle.to_dict(), ensure_ascii=False) if as_json else cycle_text(cycle))


def cycle_text(cycle: FeedCycle) -> str:
    poll = cycle.poll
    lines = [
        f"{len(poll.feeds)} feed(s) polled: {poll.new} new, {poll.changed} changed, {poll.unchanged} unchanged,"
        f" {poll.failed} failed"
    ]
    for feed in poll.feeds:
        status: dict[str, Any] = feed.to_dict()
        if feed.error:
            lines.append(f"  ! {feed.url}: {feed.error}")
        lines += [f"  ! {problem['url']}: {problem['reason']}" for problem in status["failed"][:10]]
    if cycle.indexed is not None:
        lines.append("reindexed: " + terminal.summary_text(cycle.indexed))
    elif cycle.reindex_pending:
        lines.append("not reindexed: another reindex is running (run `archivebot index` when it has finished)")
    else:
        lines.append("nothing written: no reindex")
    return "\n".join(lines)
