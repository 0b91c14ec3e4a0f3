"""`archivebot mcp` as a real process driven by the official MCP SDK's client: over stdio (stdio_client +
ClientSession) and over streamable HTTP (streamable_http_client), on a small fake-embedder archive."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import PROJECT, SEED_FILE
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from index import Archive, HashEmbedder, Settings

QUESTION = "What did Obama propose to North Korea?"
QUOTE_KEYS = {"text", "article_id", "title", "source", "date", "start", "end", "score", "also_in"}
EXTRA = {
    "rates.txt": "Bank holds interest rates\n\nThe Bank of England kept interest rates at 4.75% on Thursday. "
    "Economists had expected the decision.\n",
    "marathon.txt": "Runner wins city marathon\n\nKenyan runner Paul Tergat won the city marathon in two hours and "
    "five minutes. He broke the course record.\n",
}


@dataclass(frozen=True)
class Built:
    data_dir: Path
    bodies: dict[str, str]  # article id -> body, read in-process (not through the server under test)
    titles: dict[str, str]  # title -> article id
    cli_answer: dict[str, Any]  # `archivebot ask --json QUESTION`


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVEBOT_", "DISCORD_"))}
    env.update(
        ARCHIVEBOT_DATA_DIR=str(data_dir),
        ARCHIVEBOT_MODEL="hash:256",
        ARCHIVEBOT_MIN_CONFIDENCE="0.05",
        PYTHONPATH=str(PROJECT),
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("mcp")
    archive_dir = root / "archive"
    archive_dir.mkdir()
    shutil.copy(SEED_FILE, archive_dir / SEED_FILE.name)
    for name, text in EXTRA.items():
        (archive_dir / name).write_text(text, encoding="utf-8")
    settings = Settings(data_dir=root / "data", model="hash:256", archive_roots=(archive_dir,), min_confidence=0.05)

    async def index() -> tuple[dict[str, str], dict[str, str]]:
        async with await Archive.open(settings, embedder=HashEmbedder(256)) as archive:
            await archive.reindex([archive_dir])
            hits = await archive.suggest_titles("", 10)
            articles = [await archive.article(hit.article_id) for hit in hits]
        return {a.article_id: a.body for a in articles}, {a.title: a.article_id for a in articles}

    bodies, titles = asyncio.run(index())
    cli = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "--json", QUESTION],
        env=environment(settings.data_dir),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    return Built(settings.data_dir, bodies, titles, json.loads(cli.stdout))


@asynccontextmanager
async def stdio_session(data_dir: Path, log: Path, **env: str) -> AsyncIterator[tuple[ClientSession, list[object]]]:
    """A session with `python -m bot.cli mcp`; the list collects whatever on its stdout was not the protocol."""
    stray: list[object] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):
            stray.append(message)

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "bot.cli", "mcp"], env=environment(data_dir, **env), cwd=data_dir.parent
    )
    with log.open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            yield session, stray


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A successful call's JSON (the text a model reads, which is also the structured content)."""
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, result.content
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    data = json.loads(result.content[0].text)
    assert result.structured_content == data
    return dict(data)


async def error_of(session: ClientSession, tool: str, **arguments: Any) -> str:
    """A failed call's message, which must be one line and no traceback."""
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert result.is_error, result.content
    text = result.content[0].text if isinstance(result.content[0], TextContent) else ""
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def assert_quotes_verbatim(answer: dict[str, Any], bodies: dict[str, str]) -> None:
    assert answer["answered"] is True and 0 < answer["confidence"] <= 1
    assert answer["quotes"]
    for quote in answer["quotes"]:
        assert set(quote) >= QUOTE_KEYS
        assert bodies[quote["article_id"]][quote["start"] : quote["end"]] == quote["text"]


async def test_stdio_tools_schemas_and_answers(built: Built, tmp_path: Path) -> None:
    async with stdio_session(built.data_dir, tmp_path / "stderr.log") as (session, stray):
        listed = (await session.list_tools()).tools
        schemas = {tool.name: tool.input_schema for tool in listed}
        assert set(schemas) == {"ask", "search", "article", "stats"}
        assert all(tool.annotations and tool.annotations.read_only_hint for tool in listed)
        assert schemas["ask"]["required"] == ["question"]
        assert set(schemas["ask"]["properties"]) == {"question", "source", "after", "before", "max_quotes"}
        assert schemas["ask"]["properties"]["max_quotes"]["anyOf"][0]["maximum"] == 10
        assert schemas["search"]["required"] == ["query"]
        assert schemas["search"]["properties"]["limit"]["maximum"] == 25
        assert set(schemas["article"]["properties"]) == {
            "id_or_title",
            "offset",
            "max_chars",
            "start",
            "end",
            "context_chars",
        }
        assert schemas["article"]["properties"]["max_chars"]["maximum"] == 10_000
        assert not schemas["stats"].get("properties")

        answer = await call(session, "ask", question=QUESTION)
        assert_quotes_verbatim(answer, built.bodies)
        assert "liaison office" in answer["quotes"][0]["text"]
        assert answer["quotes"][0]["source"] == "The Washington Times"
        assert answer["quotes"][0]["date"] == "2009-12-19"
        # The same JSON as `archivebot ask --json` (only the measured latency differs)
        assert {k: v for k, v in answer.items() if k != "latency_ms"} == {
            k: v for k, v in built.cli_answer.items() if k != "latency_ms"
        }
        assert isinstance(answer["latency_ms"], float)
        assert len((await call(session, "ask", question=QUESTION, max_quotes=1))["quotes"]) == 1

        declined = await call(session, "ask", question="zyxwv qwertyuiop asdfghjkl")
        assert declined["answered"] is False and declined["quotes"] == []
        assert {hit["id"] for hit in declined["closest"]} <= set(built.bodies)

        filtered = await call(session, "ask", question=QUESTION, after="2010-01-01")
        assert filtered["answered"] is False and filtered["filters"]["after"] == "2010-01-01"

        found = await call(session, "search", query="city marathon runner")
        marathon = built.titles["Runner wins city marathon"]
        assert found["query"] == "city marathon runner"
        assert found["results"][0]["id"] == marathon
        assert {"id", "title", "source", "date", "score"} <= set(found["results"][0])
        assert len((await call(session, "search", query="the", limit=1))["results"]) == 1

        stats = await call(session, "stats")
        assert (stats["articles"], stats["model"]) == (3, "hash:256")
    assert stray == []  # nothing but the protocol on stdout
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


async def test_stdio_article_pages_and_spans(built: Built, tmp_path: Path) -> None:
    seed_id = next(i for i, body in built.bodies.items() if "liaison office" in body)
    body = built.bodies[seed_id]
    async with stdio_session(built.data_dir, tmp_path / "stderr.log") as (session, _):
        whole = await call(session, "article", id_or_title=seed_id)
        assert (whole["id"], whole["text"], whole["total_chars"]) == (seed_id, body, len(body))
        assert whole["offset"] == 0 and whole["next_offset"] is None
        assert whole["source"] == "The Washington Times" and "path" not in whole and "body" not in whole

        pages, offset = [], 0
        while offset is not None:
            page = await call(session, "article", id_or_title=seed_id, offset=offset, max_chars=700)
            assert page["offset"] == offset and len(page["text"]) <= 700
            pages.append(page["text"])
            offset = page["next_offset"]
        assert "".join(pages) == body and len(pages) == -(-len(body) // 700)

        answer = await call(session, "ask", question=QUESTION)
        quote = next(q for q in answer["quotes"] if q["start"] > 0)
        span = await call(
            session, "article", id_or_title=seed_id, start=quote["start"], end=quote["end"], context_chars=40
        )
        assert span["text"] == quote["text"] == body[quote["start"] : quote["end"]]
        assert span["before"] == body[max(0, quote["start"] - 40) : quote["start"]]
        assert span["after"] == body[quote["end"] : quote["end"] + 40]

        by_title = await call(session, "article", id_or_title="Runner wins city marathon", max_chars=50)
        assert by_title["id"] == built.titles["Runner wins city marathon"] and len(by_title["text"]) == 50


async def test_stdio_errors_are_one_line_tool_errors(built: Built, tmp_path: Path) -> None:
    seed_id = next(i for i, body in built.bodies.items() if "liaison office" in body)
    size = len(built.bodies[seed_id])
    async with stdio_session(built.data_dir, tmp_path / "stderr.log") as (session, stray):
        assert "there is no question in that" in await error_of(session, "ask", question="   ")
        assert "must be a date" in await error_of(session, "ask", question=QUESTION, after="2009-13-45")
        assert "must be a date" in await error_of(session, "search", query="korea", before="yesterday")
        assert "question: Field required" in await error_of(session, "ask")
        assert "max_quotes" in await error_of(session, "ask", question=QUESTION, max_quotes=50)
        assert "limit" in await error_of(session, "search", query="korea", limit=1000)
        assert "no article with id or title 'nope'" in await error_of(session, "article", id_or_title="nope")
        assert "not inside article" in await error_of(session, "article", id_or_title=seed_id, start=10, end=size + 1)
        assert "not inside article" in await error_of(session, "article", id_or_title=seed_id, start=50, end=20)
        assert "both start and end" in await error_of(session, "article", id_or_title=seed_id, start=10)
        assert "past the end" in await error_of(session, "article", id_or_title=seed_id, offset=size)
        assert "max_chars" in await error_of(session, "article", id_or_title=seed_id, max_chars=10**6)
        assert "Unknown tool" in await error_of(session, "reindex")
        assert (await call(session, "stats"))["articles"] == 3  # still serving after the errors
    assert stray == []
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


async def test_stdio_on_an_archive_never_built(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with stdio_session(data_dir, tmp_path / "stderr.log") as (session, stray):
        assert "archivebot index" in await error_of(session, "ask", question=QUESTION)
        assert "archivebot index" in await error_of(session, "search", query="korea")
        assert "no article" in await error_of(session, "article", id_or_title="anything")
        assert (await call(session, "stats"))["articles"] == 0
    assert stray == []
    log = (tmp_path / "stderr.log").read_text()
    assert "not indexed yet" in log and "Traceback" not in log


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def refused_from_elsewhere(url: str) -> None:
    """A loopback server refuses a web page's Origin and a rebound Host name (DNS-rebinding protection)."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    async with aiohttp.ClientSession() as http:
        for extra, status in [({"Origin": "http://evil.example"}, 403), ({"Host": "evil.example"}, 421)]:
            async with http.post(url, json=initialize, headers=headers | extra) as response:
                assert response.status == status, await response.text()


async def test_http_tools_rate_limit_and_clean_stop(built: Built) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "mcp",
        "--http",
        f"127.0.0.1:{port}",
        env=environment(built.data_dir, ARCHIVEBOT_MCP_RATE="5/600", ARCHIVEBOT_MAX_QUOTES="1"),
        cwd=built.data_dir.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(30):
            line = (await process.stderr.readline()).decode()
        assert line.startswith(f"MCP server on http://127.0.0.1:{port}/mcp"), line
        await refused_from_elsewhere(f"http://127.0.0.1:{port}/mcp")
        async with (
            streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert {tool.name for tool in (await session.list_tools()).tools} == {"ask", "search", "article", "stats"}
            answer = await call(session, "ask", question=QUESTION)
            assert_quotes_verbatim(answer, built.bodies)
            assert len(answer["quotes"]) == 1  # ARCHIVEBOT_MAX_QUOTES, when the caller does not say
            marathon = built.titles["Runner wins city marathon"]
            assert (await call(session, "search", query="city marathon runner"))["results"][0]["id"] == marathon
            quote = answer["quotes"][0]
            start, end = quote["start"], quote["end"]
            assert (await call(session, "article", id_or_title=quote["article_id"], start=start, end=end))["text"] == (
                quote["text"]
            )
            assert (await call(session, "stats"))["articles"] == 3
            assert "no article" in await error_of(session, "article", id_or_title="nope")  # the 5th call
            refused = await error_of(session, "stats")
            assert "rate limit: at most 5 tool calls per 600 s" in refused
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout == b"" and "Traceback" not in stderr.decode()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--http", "127.0.0.1:99999"], {}, "error: --http must look like HOST:PORT"),
        ([], {"ARCHIVEBOT_MCP_RATE": "many"}, "error: ARCHIVEBOT_MCP_RATE must look like 5/60"),
    ],
    ids=["bad --http", "bad ARCHIVEBOT_MCP_RATE"],
)
def test_bad_settings_are_a_one_line_error(tmp_path: Path, args: list[str], env: dict[str, str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "mcp", *args],
        env=environment(tmp_path / "data", **env),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
