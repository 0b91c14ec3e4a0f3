"""Fetching one URL politely and safely: redirects followed by hand (each target checked), one request at a
time per host with a gap between them, a time limit for the whole fetch, reading stopped past a size limit,
no cookies, and a User-Agent that names the bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDict

from .addresses import AddressPolicy, GuardedResolver, RefusedAddress, check_url, guarded_socket_factory
from .settings import FeedSettings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/xml", "application/xml"})
_CHUNK = 64 * 1024


class FetchError(Exception):
    """A fetch that gave nothing usable. `permanent`: fetching the same URL again will not help until the
    item changes (a PDF, a page over the size limit, a refused address); `retry_after`: seconds the server
    asked us to wait (429/503)."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int  # 200 (or another 2xx) or 304 (not modified: no body)
    body: bytes = b""
    content_type: str | None = None
    charset: str | None = None
    headers: Mapping[str, str] = field(default_factory=CIMultiDict)  # case-insensitive


class HostPacer:
    """One request at a time per host, and at least `gap` seconds from the end of one to the start of the
    next (per process: several processes share the work by feed, see the store's leases)."""

    def __init__(self, gap: float) -> None:
        self._gap = gap
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_end: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(host, asyncio.Lock()):
            wait = self._last_end.get(host, float("-inf")) + self._gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last_end[host] = time.monotonic()


class Fetcher:
    """An HTTP client for feeds and pages under `settings`' limits and `policy`'s addresses. Use as an async
    context manager (it owns one aiohttp session)."""

    def __init__(self, settings: FeedSettings, policy: AddressPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.pacer = HostPacer(settings.host_gap_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.policy), socket_factory=guarded_socket_factory(self.policy), limit=16
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # no cookies kept, none sent
            headers={"User-Agent": self.settings.user_agent},
            timeout=aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout_seconds),
            trust_env=False,  # no proxy from the environment: the address checks are about the real target
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self, url: str, *, limit: int, page: bool = False, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """GET `url`, following up to `max_redirects` redirects, within the time limit; the body is read up
        to `limit` bytes (a larger one fails). `page`: only HTML/XML is read (anything else fails, unread).
        Raises `FetchError` with a one-line reason."""
        try:
            return await self._follow(url, limit, page, dict(headers or {}))
        except TimeoutError as error:
            raise FetchError(f"timed out after {self.settings.timeout_seconds:g} s") from error
        except RefusedAddress as error:
            raise FetchError(f"refused: {error}", permanent=True) from error
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, RefusedAddress):
                raise FetchError(f"refused: {error.os_error}", permanent=True) from error
            raise FetchError(f"cannot connect to {error.host}:{error.port} ({error.os_error})") from error
        except (aiohttp.ClientError, OSError) as error:
            raise FetchError(f"{type(error).__name__}: {error}"[:300]) from error

    async def _follow(self, url: str, limit: int, page: bool, headers: dict[str, str]) -> Fetched:
        """The time limit is for the network: time spent waiting for this process's own turn at a host
        (HostPacer) does not count against it."""
        budget = self.settings.timeout_seconds
        current = url
        for _ in range(self.settings.max_redirects + 1):
            started = time.monotonic()
            async with asyncio.timeout(budget):
                await check_url(current, self.policy)  # before any connection, after every redirect
            budget -= time.monotonic() - started
            async with self.pacer.slot((urlsplit(current).hostname or "").lower()):
                started = time.monotonic()
                async with asyncio.timeout(max(budget, 0.0)):
                    result = await self._request(current, limit, page, headers)
                budget -= time.monotonic() - started
            if isinstance(result, Fetched):
                return result
            current = result
        raise FetchError(f"more than {self.settings.max_redirects} redirects (last to {current})")

    async def _request(self, url: str, limit: int, page: bool, headers: dict[str, str]) -> Fetched | str:
        """The response to one request, or the URL it redirects to."""
        assert self._session is not None, "use Fetcher as an async context manager"
        async with self._session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise FetchError(f"HTTP {response.status} redirect without a Location")
                return urljoin(url, location)
            return await self._read(response, url, limit, page)

    async def _read(self, response: aiohttp.ClientResponse, url: str, limit: int, page: bool) -> Fetched:
        if response.status == 304:
            return Fetched(url=url, status=304, headers=CIMultiDict(response.headers))
        if response.status >= 400 or response.status < 200:
            response.close()
            raise FetchError(
                f"HTTP {response.status}",
                permanent=response.status in {404, 410},
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        declared = response.headers.get("Content-Type")
        if page and declared and response.content_type not in PAGE_TYPES:
            response.close()  # not read: a PDF or an image is not an article page
            raise FetchError(f"page is {response.content_type}, not HTML", permanent=True)
        if response.content_length is not None and response.content_length > limit:
            response.close()
            raise FetchError(f"{response.content_length:,} bytes, over the {limit:,}-byte limit", permanent=True)
        body = await read_limited(response, limit)
        return Fetched(
            url=url,
            status=response.status,
            body=body,
            content_type=response.content_type if declared else None,
            charset=response.charset,
            headers=CIMultiDict(response.headers),
        )


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The (decompressed) body, read in chunks; past `limit` bytes the connection is closed unread."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            response.close()
            raise FetchError(f"over the {limit:,}-byte limit (reading stopped)", permanent=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (a number of seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
