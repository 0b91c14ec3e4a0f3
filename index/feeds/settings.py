"""The feed settings: which feeds to poll, how often, and the limits every fetch keeps to.

Only three are read from the environment (`ARCHIVEBOT_FEEDS`, `ARCHIVEBOT_FEEDS_INTERVAL`,
`ARCHIVEBOT_FEEDS_ALLOW_PRIVATE`); the limits are fields with defaults (docs/feeds.md), set in code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from index._errors import ConfigurationError
from index._settings import Environment

USER_AGENT = "Archivebot/0.1 (+feeds)"
# A list of feeds is a few hundred lines; a bigger "list" is a wrong path (a log file, a database).
MAX_FEED_LIST_BYTES = 1_000_000


@dataclass(frozen=True)
class FeedSettings:
    """What the feed poller fetches and within which limits. Build with `FeedSettings.from_env()`."""

    urls: tuple[str, ...] = ()
    interval_seconds: float = 15 * 60  # per feed, between two polls (a failing feed backs off from it)
    allow_private: bool = False  # fetch from private, loopback, link-local... addresses (tests, intranets)
    timeout_seconds: float = 20.0  # one fetch, redirects and reading the body included
    connect_timeout_seconds: float = 10.0
    max_feed_bytes: int = 5_000_000  # reading stops past this (decompressed) size: the fetch fails
    max_page_bytes: int = 5_000_000
    max_redirects: int = 5
    host_gap_seconds: float = 1.0  # at least this long between the end of one request to a host and the next
    backoff_cap_seconds: float = 6 * 3600  # a failing feed waits interval * 2**failures, at most this long
    max_items_per_poll: int = 100  # entries of one feed document looked at (the newest first)
    concurrent_feeds: int = 4  # feeds polled at once (requests to one host are still one at a time)
    lease_seconds: float = 600.0  # how long a poller may hold a feed before another process may take it over
    user_agent: str = USER_AGENT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, load_dotenv: bool = True) -> FeedSettings:
        """`ARCHIVEBOT_FEEDS` (URLs separated by commas or newlines, or the path of a file with one URL a
        line; lines starting with `#` are comments), `ARCHIVEBOT_FEEDS_INTERVAL` (minutes, default 15) and
        `ARCHIVEBOT_FEEDS_ALLOW_PRIVATE` (1/0). A bad value raises `ConfigurationError` with one line."""
        return cls.from_environment(Environment.read(environ, load_dotenv=load_dotenv))

    @classmethod
    def from_environment(cls, env: Environment) -> FeedSettings:
        return cls(
            urls=feed_urls(env.text("ARCHIVEBOT_FEEDS")),
            interval_seconds=60.0 * env.whole_number("ARCHIVEBOT_FEEDS_INTERVAL", 15, minimum=1),
            allow_private=env.switch("ARCHIVEBOT_FEEDS_ALLOW_PRIVATE", False),
        )


def feed_urls(raw: str) -> tuple[str, ...]:
    """The feed URLs a setting names: a list (commas or newlines) or, when it holds no URL, a file's lines."""
    raw = raw.strip()
    if not raw:
        return ()
    candidates = raw.replace(",", "\n").splitlines() if "://" in raw else _read_list(Path(raw).expanduser())
    urls: list[str] = []
    for candidate in candidates:
        url = candidate.strip()
        if url and not url.startswith("#") and url not in urls:
            urls.append(check_feed_url(url))
    return tuple(urls)


def check_feed_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host, else a one-line `ConfigurationError`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as error:
        raise ConfigurationError(f"ARCHIVEBOT_FEEDS: {url!r} is not a valid URL ({error})") from error
    if parts.scheme.lower() not in {"http", "https"}:
        raise ConfigurationError(f"ARCHIVEBOT_FEEDS: {url!r} is not an http(s) URL")
    if not host:
        raise ConfigurationError(f"ARCHIVEBOT_FEEDS: {url!r} has no host")
    if any(character.isspace() for character in url):
        raise ConfigurationError(f"ARCHIVEBOT_FEEDS: {url!r} contains white space")
    return url


def _read_list(path: Path) -> list[str]:
    name = "ARCHIVEBOT_FEEDS"
    if not path.is_file():
        raise ConfigurationError(
            f"{name} must be http(s) URLs (separated by commas or newlines) or a file of URLs; {str(path)!r} is neither"
        )
    try:
        size = os.path.getsize(path)
        if size > MAX_FEED_LIST_BYTES:
            raise ConfigurationError(f"{name}: {path} is {size} bytes, over {MAX_FEED_LIST_BYTES} for a list of feeds")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{name}: cannot read {path} ({error})") from error
    return text.splitlines()
