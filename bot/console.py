"""The local console front end: type a question, get quotes with citations (same engine as the bot)."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from index import Archive, ArchivebotError

from .terminal import answer_text, article_text, hits_text, stats_text

HELP = """Type a question and press Enter. Commands:
  /search WORDS     ranked articles        /article ID       one article
  /stats            index figures          /quit             leave (or Ctrl-D)"""


async def run_console(archive: Archive, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    interactive = stdin.isatty()
    stats = await archive.stats()
    print(
        f"Archivebot console — {stats.articles} article(s) indexed. No DISCORD_TOKEN set, so no Discord.", file=stdout
    )
    print(HELP, file=stdout)
    if interactive:
        print("Loading the model…", file=stdout, flush=True)
    await archive.warm_up()
    while True:
        if interactive:
            print("\n? ", end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line in {"/quit", "/exit", "quit", "exit"}:
            break
        try:
            if line.startswith("/search "):
                print(hits_text(await archive.search(line[8:])), file=stdout)
            elif line.startswith("/article "):
                print(article_text(await archive.article(line[9:])), file=stdout)
            elif line == "/stats":
                print(stats_text(await archive.stats()), file=stdout)
            elif line in {"/help", "help", "?"}:
                print(HELP, file=stdout)
            else:
                if not interactive:
                    print(f"? {line}", file=stdout)
                print(answer_text(await archive.ask(line)), file=stdout)
        except ArchivebotError as error:
            print(f"error: {error}", file=stdout)
        stdout.flush()
    return 0
