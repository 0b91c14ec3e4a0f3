"""`archivebot mcp`: the archive as read-only tools for AI assistants, over the Model Context Protocol
(the official `mcp` SDK's `MCPServer`), on stdio or streamable HTTP. See docs/mcp.md.

Thin on purpose: every tool calls the one engine, `index.Archive`; `ask` returns the JSON `archivebot ask
--json` prints. Engine errors, bad arguments and the rate limit come back as one-line MCP tool errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from index import Archive, ArchivebotError, ConfigurationError, Embedder, Environment, Settings

from .cli_support import answer_json
from .ratelimit import RateLimit, SlidingWindow
from .web.settings import MAX_QUOTES_LIMIT, max_quotes

logger = logging.getLogger("archivebot.mcp")

MAX_SEARCH_RESULTS = 25
PAGE_CHARS = 4_000  # one page of an article's text, by default
MAX_PAGE_CHARS = 10_000  # the most text one `article` call returns (a page, or a span)
CONTEXT_CHARS = 300  # characters shown either side of a span, by default
MAX_CONTEXT_CHARS = 2_000
DEFAULT_RATE = RateLimit(60, 60.0)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "Tools over an indexed news archive. `ask` answers a question only with verbatim sentences quoted from the "
    "archive, each cited (article id, title, source, date, character span); when the archive does not hold the "
    "answer it says so (answered: false) and lists the closest articles. Quote the `text` fields verbatim and "
    "cite them; do not present anything else as coming from the archive. `article` reads an article's text, "
    "or a quote's span in its context."
)

Source = Annotated[str | None, Field(description="Only articles whose source contains this text.")]
After = Annotated[str | None, Field(description="Only articles published on or after this date (YYYY-MM-DD).")]
Before = Annotated[str | None, Field(description="Only articles published on or before this date (YYYY-MM-DD).")]


@dataclass(frozen=True)
class McpSettings:
    """The MCP front end's settings: its rate limit (`ARCHIVEBOT_MCP_RATE=COUNT/SECONDS`, `off`) and the
    quotes an answer has when the caller does not say (`ARCHIVEBOT_MAX_QUOTES`, as in Discord and the web)."""

    rate: RateLimit = DEFAULT_RATE
    max_quotes: int = 3

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> McpSettings:
        return cls.from_environment(Environment.read(environ, load_dotenv=load_dotenv))

    @classmethod
    def from_environment(cls, env: Environment) -> McpSettings:
        return cls(
            rate=RateLimit.parse("ARCHIVEBOT_MCP_RATE", env.text("ARCHIVEBOT_MCP_RATE"), cls.rate),
            max_quotes=max_quotes(env, cls.max_quotes),
        )


def _result(data: dict[str, Any], text: str | None = None) -> CallToolResult:
    """The JSON as text (what a model reads) and as structured content (what a program reads)."""
    text = json.dumps(data, ensure_ascii=False) if text is None else text
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


class ArchiveTools:
    """The tools, each a call into one open `Archive`, behind one per-process rate limit."""

    def __init__(self, archive: Archive, settings: McpSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.archive = archive
        self.max_quotes = settings.max_quotes
        self.calls = SlidingWindow(settings.rate, clock)

    def _admit(self) -> None:
        wait = self.calls.take("calls")
        if wait > 0:
            limit = self.calls.limit
            raise ToolError(
                f"rate limit: at most {limit.count} tool calls per {limit.seconds:g} s; try again in"
                f" {max(1, round(wait))} s"
            )

    async def ask(
        self,
        question: Annotated[str, Field(description="The question, in plain words.")],
        source: Source = None,
        after: After = None,
        before: Before = None,
        max_quotes: Annotated[
            int | None,
            Field(ge=1, le=MAX_QUOTES_LIMIT, description="How many quotes at most (default: the server's, 3)."),
        ] = None,
    ) -> CallToolResult:
        """Answer a question with verbatim quotes from the archive, each with its citation: text, article_id,
        title, source, date, start/end (the quote is the article's text[start:end]) and score; confidence for
        the answer. When the archive does not hold the answer: answered false, no quotes, and the closest
        articles. The same JSON as `archivebot ask --json`."""
        self._admit()
        started = time.perf_counter()
        quotes = max_quotes or self.max_quotes
        answer = await self.archive.ask(question, source=source, after=after, before=before, max_quotes=quotes)
        text = answer_json(answer, (time.perf_counter() - started) * 1000)  # the `ask --json` serialiser
        return _result(json.loads(text), text)

    async def search(
        self,
        query: Annotated[str, Field(description="Search words (a question works too).")],
        source: Source = None,
        after: After = None,
        before: Before = None,
        limit: Annotated[int, Field(ge=1, le=MAX_SEARCH_RESULTS, description="How many articles at most.")] = 10,
    ) -> CallToolResult:
        """Rank articles for search words: id, title, source, date, score, location, and the other copies of
        a syndicated story (also_in). Read one with `article`."""
        self._admit()
        hits = await self.archive.search(query, source=source, after=after, before=before, limit=limit)
        return _result({"query": query, "results": [hit.to_dict() for hit in hits]})

    async def article(
        self,
        id_or_title: Annotated[str, Field(description="An article id (as cited), or its exact or unique title.")],
        offset: Annotated[int, Field(ge=0, description="Page mode: the first character of the page.")] = 0,
        max_chars: Annotated[
            int, Field(ge=1, le=MAX_PAGE_CHARS, description="Page mode: the page's length at most.")
        ] = PAGE_CHARS,
        start: Annotated[int | None, Field(ge=0, description="Span mode: a quote's start (give end too).")] = None,
        end: Annotated[int | None, Field(ge=1, description="Span mode: a quote's end.")] = None,
        context_chars: Annotated[
            int, Field(ge=0, le=MAX_CONTEXT_CHARS, description="Span mode: characters shown either side.")
        ] = CONTEXT_CHARS,
    ) -> CallToolResult:
        """One article: its metadata and text. Page mode (default): text[offset:offset+max_chars], with
        next_offset to read on (null at the end). Span mode (start and end, e.g. a quote's): text[start:end]
        with context_chars of the text before and after it."""
        self._admit()
        found = await self.archive.article(id_or_title)
        body = found.body
        data = found.to_dict()
        for private in ("body", "path", "content_hash"):  # the text comes in pages; `path` is the server's disk
            data.pop(private, None)
        data["total_chars"] = len(body)
        if start is None and end is None:
            if offset and offset >= len(body):
                raise ToolError(f"offset {offset} is past the end of article {found.article_id} ({len(body)} chars)")
            stop = min(len(body), offset + max_chars)
            data.update(offset=offset, text=body[offset:stop], next_offset=stop if stop < len(body) else None)
            return _result(data)
        if start is None or end is None:
            raise ToolError("give both start and end for a span (or neither for a page)")
        if not start < end <= len(body):
            raise ToolError(f"span {start}-{end} is not inside article {found.article_id} ({len(body)} chars)")
        if end - start > MAX_PAGE_CHARS:
            raise ToolError(f"a span is at most {MAX_PAGE_CHARS} chars; read longer text in pages")
        before = body[max(0, start - context_chars) : start]
        data.update(start=start, end=end, text=body[start:end], before=before, after=body[end : end + context_chars])
        return _result(data)

    async def stats(self) -> CallToolResult:
        """What is indexed: articles, passages, sentences, model, index type, last indexed, sizes, feedback."""
        self._admit()
        return _result((await self.archive.stats()).to_dict())


class ArchiveServer(MCPServer[Any]):
    """`MCPServer` whose tool errors are one line: an engine error's message, or which argument is wrong."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            cause = error.__cause__
            if isinstance(cause, ArchivebotError):
                raise ToolError(f"{name}: {cause}") from error
            if isinstance(cause, ValidationError):
                wrong = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in cause.errors())
                raise ToolError(f"{name}: {wrong}") from error
            if isinstance(cause, ToolError):  # ours, raised in a tool (the SDK prefixes it with the tool's name)
                raise ToolError(f"{name}: {cause}") from error
            raise


def build_server(archive: Archive, settings: McpSettings) -> ArchiveServer:
    tools = ArchiveTools(archive, settings)
    try:
        version = importlib.metadata.version("archivebot")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        version = ""
    server = ArchiveServer(
        "archivebot", title="Archivebot", instructions=INSTRUCTIONS, version=version, log_level="WARNING"
    )
    for tool in (tools.ask, tools.search, tools.article, tools.stats):
        server.add_tool(tool, annotations=READ_ONLY, structured_output=False)
    return server


async def _warm_up(archive: Archive) -> None:
    """Load the model in the background: the client's handshake does not wait for it, the first question may."""
    if not archive.built:
        logger.warning("the archive is not indexed yet: run `archivebot index` (the tools answer with that error)")
        return
    try:
        await archive.warm_up()
    except ArchivebotError as error:
        logger.warning("%s", error)  # every tool call will answer with the same error


async def serve(
    settings: Settings, mcp: McpSettings, embedder: Embedder | None, listen: tuple[str, int] | None
) -> None:
    """Serve until stdin closes (stdio) or SIGINT/SIGTERM (HTTP). Nothing but the protocol goes to stdout."""
    archive = await Archive.open(settings, embedder=embedder)
    warm = asyncio.create_task(_warm_up(archive))
    try:
        server = build_server(archive, mcp)
        if listen is None:
            await server.run_stdio_async()
        else:
            await _serve_http(server, *listen)
    finally:
        warm.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warm
        await archive.close()


async def _serve_http(server: ArchiveServer, host: str, port: int) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Stop gracefully without raising the signal again afterwards (uvicorn's default), so the archive
            # is closed and the process exits 0.
            self.force_exit = self.should_exit
            self.should_exit = True

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    app = server.streamable_http_app(host=host)  # DNS-rebinding protection on for loopback hosts
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning", lifespan="on")
    http = Server(config)
    task = asyncio.create_task(http.serve(sockets=[listener]))
    while not http.started and not task.done():
        await asyncio.sleep(0.02)
    if http.started:
        bound = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"MCP server on http://{shown}:{bound}/mcp (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        await task
    finally:
        listener.close()
