"""The reading room: a small read-only aiohttp application on the engine's public API.

Routes: `/` (what the archive holds, and answers), `/articles/<id>?start=S&end=E` (the article with the quote
highlighted), `/articles/<id>/cite.{txt,bib,ris}` (its citation), `/search?q=&source=&after=&before=` (ranked
articles with snippets), `/healthz` (JSON for monitoring) and `/static/style.css` (the one style sheet, read
from this package once at start). Nothing else is served: no file is ever read
from a path taken from a request.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from index import Archive, ArticleNotFoundError

from ..ratelimit import SlidingWindow
from . import cite, layout, pages, snippets
from .guard import PageError, error_middleware, guard_middleware, security_headers
from .settings import WebSettings

ARCHIVE = web.AppKey("archive", Archive)
SETTINGS = web.AppKey("settings", WebSettings)
STYLESHEET_BYTES = web.AppKey("stylesheet", bytes)
logger = logging.getLogger("archivebot.web")

ARTICLE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # ids are 16 hex digits; anything else is refused unread
OFFSET = re.compile(r"[0-9]{1,9}")
SEARCH_LIMIT = 20
RECENT_LIMIT = 6  # "Recently in the archive" on the home page
MAX_CARRIED_CHARS = 1000  # a question or search carried for the way back (longer ones are not questions)
# aiohttp refuses request lines over 8,190 bytes with its own bare 400; a little more room lets a 10 kB
# query reach the guard, which answers with a clear 414 page.
MAX_LINE_BYTES = 16_384


def create_app(archive: Archive, settings: WebSettings | None = None) -> web.Application:
    """The reading room for an open archive (the caller owns the archive and closes it)."""
    settings = settings or WebSettings()
    limit = SlidingWindow(settings.rate)
    app = web.Application(middlewares=[error_middleware, guard_middleware(limit)], client_max_size=1024)
    app[ARCHIVE] = archive
    app[SETTINGS] = settings
    app[STYLESHEET_BYTES] = resources.files(__package__).joinpath("static", "style.css").read_bytes()
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/", home)
    app.router.add_get("/articles/{article_id}", article)
    app.router.add_get("/articles/{article_id}/cite.{kind}", citation)
    app.router.add_get("/search", search)
    app.router.add_get("/healthz", healthz)
    app.router.add_get(layout.STYLESHEET, stylesheet)
    return app


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-cache"})


def _query(request: web.Request) -> str:
    return request.query.get("q", "").strip()


async def home(request: web.Request) -> web.Response:
    archive, settings, question = request.app[ARCHIVE], request.app[SETTINGS], _query(request)
    if not question:
        stats = await archive.stats()
        recent = await archive.suggest_titles("", RECENT_LIMIT) if stats.articles else []
        return _html(pages.home_page(stats, recent, settings.example_questions))
    answer = await archive.ask(question, max_quotes=settings.max_quotes)
    citations: dict[str, cite.Citation] = {}
    for quote in answer.quotes:  # the cited articles' bylines and addresses, for "Cite this"
        if quote.article_id not in citations:
            try:
                found = await archive.article(quote.article_id)
            except ArticleNotFoundError:  # reindexed away since the answer: cite from the quote alone
                continue
            citations[quote.article_id] = cite.Citation.of_article(found, settings.public_url)
    return _html(pages.answer_page(answer, citations))


def _filters(request: web.Request) -> dict[str, str]:
    """The search filters given (`source`, `after`, `before`), stripped; empty ones left out."""
    return {name: value for name in ("source", "after", "before") if (value := request.query.get(name, "").strip())}


async def search(request: web.Request) -> web.Response:
    archive, query, filters = request.app[ARCHIVE], _query(request), _filters(request)
    if not query:
        return _html(pages.search_page("", [], filters=filters))
    hits = await archive.search(
        query,
        source=filters.get("source"),
        after=filters.get("after"),
        before=filters.get("before"),
        limit=SEARCH_LIMIT,
    )
    terms = snippets.query_terms(query)
    texts: dict[str, str] = {}
    for hit in hits:
        try:
            texts[hit.article_id] = snippets.snippet((await archive.article(hit.article_id)).body, terms)
        except ArticleNotFoundError:
            continue
    return _html(pages.search_page(query, hits, snippets=texts, filters=filters))


def _carried(request: web.Request, name: str) -> str:
    value = request.query.get(name, "").strip()
    return value if len(value) <= MAX_CARRIED_CHARS else ""


def _span(request: web.Request, body_length: int) -> tuple[int, int] | None:
    """The `[start, end)` to highlight: both offsets or neither, digits only, inside the body, not reversed."""
    start_raw, end_raw = request.query.get("start"), request.query.get("end")
    if start_raw is None and end_raw is None:
        return None
    if start_raw is None or end_raw is None:
        raise PageError(400, "Give both start and end, or neither.")
    if not OFFSET.fullmatch(start_raw) or not OFFSET.fullmatch(end_raw):
        raise PageError(400, "start and end must be whole numbers.")
    start, end = int(start_raw), int(end_raw)
    if not start < end <= body_length:
        raise PageError(400, f"The span {start}–{end} is not inside this article ({body_length:,} characters).")
    return start, end


async def article(request: web.Request) -> web.Response:
    article_id = request.match_info["article_id"]
    if not ARTICLE_ID.fullmatch(article_id):
        raise PageError(400, "That is not an article id.")
    found = await request.app[ARCHIVE].article(article_id)
    if found.article_id != article_id:  # the engine also looks titles up; this page takes ids only
        raise PageError(404, "There is no article with that id in the archive.")
    span = _span(request, len(found.body))
    return _html(
        pages.article_page(
            found,
            span,
            question=_carried(request, "q"),
            search=_carried(request, "s"),
            public_url=request.app[SETTINGS].public_url,
        )
    )


async def citation(request: web.Request) -> web.Response:
    """`/articles/<id>/cite.txt|bib|ris`: the article's citation as a file to save or import."""
    article_id, kind = request.match_info["article_id"], request.match_info["kind"]
    if not ARTICLE_ID.fullmatch(article_id):
        raise PageError(400, "That is not an article id.")
    if kind not in cite.FORMATS:
        raise PageError(404, "Citations come as .txt, .bib or .ris.")
    found = await request.app[ARCHIVE].article(article_id)
    if found.article_id != article_id:
        raise PageError(404, "There is no article with that id in the archive.")
    text = cite.render(cite.Citation.of_article(found, request.app[SETTINGS].public_url), kind)
    disposition = "inline" if kind == "txt" else "attachment"
    return web.Response(
        text=text,
        content_type=cite.FORMATS[kind],
        charset="utf-8",
        headers={"Content-Disposition": f'{disposition}; filename="archivebot-{article_id}.{kind}"'},
    )


async def healthz(request: web.Request) -> web.Response:
    try:
        stats = await request.app[ARCHIVE].stats()
    except Exception:  # monitoring gets JSON whatever broke; the cause goes to the log
        logger.exception("health check failed")
        return web.json_response({"status": "error", "articles": None, "last_indexed": None}, status=503)
    status = "ok" if stats.last_indexed else "not indexed"
    return web.json_response(
        {"status": status, "articles": stats.articles, "last_indexed": stats.last_indexed},
        status=200 if stats.last_indexed else 503,
        headers={"Cache-Control": "no-store"},
    )


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[STYLESHEET_BYTES],
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@dataclass(frozen=True)
class RunningServer:
    """A started reading room: its runner (to stop it) and the address it listens on."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


def make_runner(app: web.Application) -> web.AppRunner:
    # No access log: questions travel in URLs and readers' addresses are not ours to keep.
    return web.AppRunner(app, access_log=None, max_line_size=MAX_LINE_BYTES, handler_cancellation=True)


async def start_server(archive: Archive, settings: WebSettings | None = None) -> RunningServer:
    """Serve the reading room on `settings.host:settings.port` (port 0: any free port) until `close()`."""
    settings = settings or WebSettings()
    runner = make_runner(create_app(archive, settings))
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    address = runner.addresses[0]
    return RunningServer(runner, settings.host, int(address[1]))


async def serve_forever(archive: Archive, settings: WebSettings, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled (Ctrl-C in `archivebot serve`); `ready` is set once the port is open."""
    server = await start_server(archive, settings)
    try:
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await server.close()
