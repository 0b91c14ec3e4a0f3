"""A real feed server on 127.0.0.1 for tests/test_feeds.py: RSS 2.0 and Atom feeds of generated articles
with their pages, and hostile endpoints (malformed XML, a 500, a slow feed, a redirect loop, a 50 MB page,
a PDF). Every request is logged with its conditional headers and status."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

PLACES = [
    "Arbroath",
    "Bexhill",
    "Carrickfergus",
    "Dunoon",
    "Eastleigh",
    "Falmouth",
    "Grimsby",
    "Hexham",
    "Ilfracombe",
    "Jedburgh",
    "Kendal",
    "Lerwick",
    "Matlock",
    "Nairn",
    "Oban",
    "Penzance",
    "Quorn",
    "Ripon",
    "Stornoway",
    "Tenby",
]
THINGS = [
    "lighthouse",
    "orchard",
    "tramway",
    "observatory",
    "ferry",
    "brewery",
    "library",
    "marina",
    "viaduct",
    "museum",
    "bakery",
    "quarry",
    "pier",
    "stadium",
    "windmill",
    "aqueduct",
    "harbour",
    "theatre",
    "bridge",
    "vineyard",
]
SITE = "Test Gazette"
HUGE_BYTES = 50 * 1024 * 1024


@dataclass
class Story:
    number: int
    place: str
    thing: str
    cost: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]

    @property
    def summary(self) -> str:
        return self.paragraphs[0]


def make_story(number: int) -> Story:
    place, thing = PLACES[number % len(PLACES)], THINGS[number % len(THINGS)]
    cost = f"{1000 * (number + 3) * 7:,}"
    paragraphs = [
        f"The {thing} in {place} reopened to visitors on Tuesday after a restoration that took three years.",
        f"The restoration of the {thing} in {place} cost {cost} pounds, paid by the town council and a local"
        f" trust. Volunteers from {place} repaired the old stonework by hand.",
        f"Local historians say the {thing} was first built in the eighteenth century, and that it was closed"
        f" in 1990 when the roof of the {thing} began to fail. Schools in {place} plan visits this spring.",
    ]
    published = datetime(2024, 3, 1, 9, 0, tzinfo=UTC) + timedelta(days=number)
    return Story(
        number,
        place,
        thing,
        cost,
        f"{place} {thing} reopens after restoration",
        f"Writer {number}",
        published,
        paragraphs,
    )


@dataclass
class Logged:
    path: str
    status: int
    if_none_match: str | None
    if_modified_since: str | None
    user_agent: str | None
    cookie: str | None
    started: float
    ended: float


@dataclass
class FeedServer:
    stories: dict[int, Story] = field(default_factory=lambda: {n: make_story(n) for n in range(20)})
    log: list[Logged] = field(default_factory=list)
    rss_mode: str = "good"  # good | malformed | error
    huge_sent: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    base: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hostile_extra: list[str] = field(default_factory=list)
    failing_pages: set[int] = field(default_factory=set)  # these article pages answer 503
    rss_extra: list[str] = field(default_factory=list)  # more <item>s for /rss.xml

    def requests(self, prefix: str) -> list[Logged]:
        return [entry for entry in self.log if entry.path.startswith(prefix)]

    # ---- documents -------------------------------------------------------------------------------

    def page(self, story: Story, canonical: bool = True) -> str:
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in story.paragraphs)
        return (
            f"<!DOCTYPE html><html><head><title>{escape(story.title)} | {SITE}</title>"
            f'<meta property="og:site_name" content="{SITE}"><meta name="author" content="{story.author}">'
            f'<meta property="article:published_time" content="{story.published.isoformat()}">'
            + (f'<link rel="canonical" href="{self.base}/articles/{story.number}">' if canonical else "")
            + "</head><body>"
            '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>'
            f"<article><h1>{escape(story.title)}</h1>{paragraphs}</article>"
            f"<footer>Copyright 2020 {SITE}. All rights reserved. Subscribe to our newsletter.</footer>"
            "</body></html>"
        )

    def rss_item(self, story: Story) -> str:
        link = f"{self.base}/articles/{story.number}?utm_source=rss"
        return (
            f"<item><title>{escape(story.title)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="false">story-{story.number}</guid>'
            f"<pubDate>{format_datetime(story.published)}</pubDate>"
            f"<description>{escape(story.summary)}</description></item>"
        )

    def rss(self, items: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{SITE}</title><link>{self.base}/</link><description>News</description>{items}</channel></rss>"
        )

    def atom(self) -> str:
        entries = "".join(
            f"<entry><title>{escape(s.title)}</title>"
            f'<link rel="alternate" href="{self.base}/articles/{s.number}"/>'
            f"<id>urn:story:{s.number}</id><updated>{s.published.isoformat()}</updated>"
            f"<author><name>{s.author}</name></author><summary>{escape(s.summary)}</summary></entry>"
            for s in self.stories.values()
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{SITE} (Atom)</title><id>urn:feed</id><updated>2024-04-01T00:00:00Z</updated>{entries}</feed>"
        )

    # ---- handlers ---------------------------------------------------------------------------------

    async def handle_rss(self, request: web.Request) -> web.StreamResponse:
        if self.rss_mode == "error":
            return web.Response(status=500, text="internal error")
        if self.rss_mode == "malformed":
            return web.Response(text="<rss><channel><<<< this is not xml &&& ]]>", content_type="application/rss+xml")
        body = self.rss("".join(self.rss_item(s) for s in self.stories.values()) + "".join(self.rss_extra))
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Set-Cookie": "session=tracked; Path=/"}  # never to be sent back
        return web.Response(text=body, content_type="application/rss+xml", headers=headers)

    async def handle_atom(self, request: web.Request) -> web.StreamResponse:
        modified = "Mon, 01 Apr 2024 00:00:00 GMT"
        if request.headers.get("If-Modified-Since") == modified:
            return web.Response(status=304, headers={"Last-Modified": modified})
        return web.Response(text=self.atom(), content_type="application/atom+xml", headers={"Last-Modified": modified})

    async def handle_article(self, request: web.Request) -> web.StreamResponse:
        number = int(request.match_info["number"])
        if number in self.failing_pages:
            return web.Response(status=503, text="try later")
        story = self.stories.get(number)
        if story is None:
            raise web.HTTPNotFound()
        canonical = not request.path.startswith("/mirror/")  # a mirror of the page that doesn't say so
        return web.Response(text=self.page(story, canonical), content_type="text/html", charset="utf-8")

    async def handle_hostile(self, request: web.Request) -> web.StreamResponse:
        good = "".join(self.rss_item(self.stories[n]) for n in range(3))
        hostile = [
            f"<item><title>Huge page</title><link>{self.base}/huge</link></item>",
            f"<item><title>A PDF</title><link>{self.base}/doc.pdf</link></item>",
            "<item><title>Metadata</title><link>http://169.254.169.254/latest/meta-data/</link></item>",
            "<item><title>Intranet</title><link>http://10.0.0.1/admin</link></item>",
            f"<item><title>Gone page</title><link>{self.base}/gone</link><description>The Zennor"
            " cliff railway closed for the winter, the feed alone says.</description></item>",
            *self.hostile_extra,
        ]
        return web.Response(text=self.rss(good + "".join(hostile)), content_type="application/rss+xml")

    async def handle_huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})  # chunked: no length to refuse by
        await response.prepare(request)
        chunk = b"<p>" + b"a" * (1024 * 1024 - 3)
        try:
            while self.huge_sent < HUGE_BYTES:
                await response.write(chunk)
                self.huge_sent += len(chunk)
        except (ConnectionError, RuntimeError):  # the client hung up: what we wanted
            pass
        return response

    async def handle_pdf(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"%PDF-1.4\n" + b"0" * 10_000, content_type="application/pdf")

    async def handle_slow(self, request: web.Request) -> web.StreamResponse:
        with suppress(TimeoutError):  # held until the test ends (the client gives up long before)
            await asyncio.wait_for(self.release.wait(), timeout=5)
        return web.Response(text=self.rss(""), content_type="application/rss+xml")

    async def handle_loop(self, request: web.Request) -> web.StreamResponse:
        other = "b" if request.match_info["name"] == "a" else "a"
        raise web.HTTPFound(f"/loop/{other}")

    async def handle_redirect_private(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    @web.middleware
    async def logging(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.monotonic()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            self.in_flight -= 1
            headers = request.headers
            self.log.append(
                Logged(
                    request.path,
                    status,
                    headers.get("If-None-Match"),
                    headers.get("If-Modified-Since"),
                    headers.get("User-Agent"),
                    headers.get("Cookie"),
                    started,
                    time.monotonic(),
                )
            )


@asynccontextmanager
async def running_feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    app = web.Application(middlewares=[server.logging])
    app.router.add_get("/rss.xml", server.handle_rss)
    app.router.add_get("/atom.xml", server.handle_atom)
    app.router.add_get("/articles/{number}", server.handle_article)
    app.router.add_get("/mirror/{number}", server.handle_article)
    app.router.add_get("/hostile.xml", server.handle_hostile)
    app.router.add_get("/huge", server.handle_huge)
    app.router.add_get("/doc.pdf", server.handle_pdf)
    app.router.add_get("/slow.xml", server.handle_slow)
    app.router.add_get("/loop/{name}", server.handle_loop)
    app.router.add_get("/redirect-private", server.handle_redirect_private)
    app.router.add_get("/malformed.xml", _malformed)
    app.router.add_get("/error.xml", _error)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


async def _malformed(request: web.Request) -> web.Response:
    return web.Response(text="<?xml version='1.0'?><rss><channel><item><title>x</ti", content_type="text/xml")


async def _error(request: web.Request) -> web.Response:
    return web.Response(status=500, text="boom")
