"""A small archive for the reading-room tests (the seed, a hostile article, an article with an original URL),
built once per test session with the fake embedder, and a real server on 127.0.0.1 over it."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from conftest import SEED_FILE

from bot.ratelimit import RateLimit
from bot.web import RunningServer, WebSettings, start_server
from index import Archive, HashEmbedder, Settings

HOSTILE_TITLE = "<script>document.title='pwned'</script> Hostile headline"
HOSTILE_SENTENCE = "The attacker wrote <script>document.title='pwned'</script> into the text of the story."
HOSTILE_IMAGE = "Then came <img src=x onerror=\"document.title='pwned'\"> and a bold <b>tag</b> as well."
HOSTILE = {
    "id": "hostile-1",
    "title": HOSTILE_TITLE,
    "source": "<i>Evil</i> Times",
    "date": "2005-01-02",
    "url": "javascript:alert(1)",
    "text": f"Harmless opening paragraph about markup.\n\n{HOSTILE_SENTENCE} {HOSTILE_IMAGE}\n\nA closing line.",
}
MARATHON = """---
title: Runner wins city marathon
source: Example News
date: 2005-03-04
author: Jane Doe
url: https://news.example.org/sport/marathon?id=7
---
Kenyan runner Paul Tergat won the city marathon in two hours and five minutes. He broke the course record.

Crowds lined the streets - despite the rain, the wind & the cold, thousands of fans cheered the runners home.
"""


@dataclass(frozen=True)
class WebArchive:
    settings: Settings
    root: Path


def build_web_archive(root: Path) -> WebArchive:
    archive_dir = root / "archive"
    (archive_dir / "seeds").mkdir(parents=True)
    shutil.copy(SEED_FILE, archive_dir / "seeds" / SEED_FILE.name)
    (archive_dir / "hostile.json").write_text(json.dumps(HOSTILE), encoding="utf-8")
    (archive_dir / "marathon.md").write_text(MARATHON, encoding="utf-8")
    settings = Settings(data_dir=root / "data", model="hash:256", archive_roots=(archive_dir,), min_confidence=0.05)

    async def index() -> None:
        archive = await Archive.open(settings, embedder=HashEmbedder(256))
        try:
            summary = await archive.reindex([archive_dir])
        finally:
            await archive.close()
        assert summary.added == 3 and not summary.warnings, summary

    asyncio.run(index())
    return WebArchive(settings, archive_dir)


@asynccontextmanager
async def serving(
    settings: Settings, web: WebSettings | None = None, embedder: HashEmbedder | None = None
) -> AsyncIterator[tuple[Archive, RunningServer]]:
    """The archive opened and the reading room serving it on a free port of 127.0.0.1."""
    archive = await Archive.open(settings, embedder=embedder or HashEmbedder(256))
    try:
        server = await start_server(archive, web or WebSettings(listen=("127.0.0.1", 0), rate=RateLimit(0, 0.0)))
        try:
            yield archive, server
        finally:
            await server.close()
    finally:
        await archive.close()


class _Collector(HTMLParser):
    """Collects the text inside one element (by tag and id) and every start tag seen in the page."""

    def __init__(self, tag: str, element_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.target = (tag, element_id)
        self.depth = 0
        self.text: list[str] = []
        self.found = 0
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if self.depth:
            self.depth += 1
        elif (tag, dict(attrs).get("id")) == self.target:
            self.depth, self.found = 1, self.found + 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def parse_page(html: str, tag: str = "mark", element_id: str = "quote") -> _Collector:
    collector = _Collector(tag, element_id)
    collector.feed(html)
    collector.close()
    return collector
