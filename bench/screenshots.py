"""`python -m bench.screenshots [--out docs/images] [--data-dir DIR] [--question Q] [--search S] [--hash]`

Regenerates the reading room's screenshots (docs/images/reading-room-*.png): the home, answer, article and
search pages at desktop (1280 px) and phone (390 px) widths, in headless Chromium (the Debian `chromium`
package) driven over the DevTools protocol by tests/chromium.py, page JavaScript disabled.

Without `--data-dir` it builds a demo archive in a temporary folder: the seed article and the BBC articles the
development questions name (../shared/corpus, filed under the source "BBC News"), indexed with the bundled model
(`--hash`: the fake embedder, quicker and answer-poor). The answer page shows `--question` (default: the first
development question the archive answers), the search page `--search` (default: the question's first three
words worth searching). The home
page's example questions are `ARCHIVEBOT_EXAMPLE_QUESTIONS` when set, else the first three answered development
questions (what an operator would set). `--dark` also writes the dark-mode variants (`*-dark.png`);
`--full-page` shoots whole pages rather than the first screen (the article page stays at its quote). When
`pngquant` is on PATH (Debian package `pngquant`) each PNG is reduced to 256 colours, about a third of its bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

from index import Answer, Archive, HashEmbedder, Settings, make_embedder
from index._settings import use_offline_defaults

from ._common import CORPUS, DEV_QUESTIONS, REPO, log, questions

sys.path.insert(0, str(REPO / "tests"))
from chromium import Browser, Page, find_chromium

from bot.ratelimit import RateLimit
from bot.web import WebSettings, start_server
from bot.web.links import article_path
from bot.web.snippets import query_terms

WIDTHS = {"desktop": (1280, 800, 1.0, False), "phone": (390, 844, 2.0, True)}
PAGES = ("home", "answer", "article", "search")


def _demo_roots(root: Path) -> list[Path]:
    """The seed, and the BBC articles the development questions name, under a folder named as their source."""
    import json

    seeds = root / "seeds"
    seeds.mkdir(parents=True)
    for seed in (REPO / "seeds").glob("*.txt"):
        shutil.copy(seed, seeds / seed.name)
    roots = [seeds]
    if CORPUS.is_dir() and DEV_QUESTIONS.exists():
        bbc = root / "BBC News"
        lines = [json.loads(line) for line in DEV_QUESTIONS.read_text().splitlines() if line.strip()]
        for relative in sorted({str(line["article"]) for line in lines if line.get("article") not in (None, "seeds")}):
            target = bbc / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(CORPUS / relative, target)
        roots.append(bbc)
    return roots


async def _first_answered(archive: Archive, candidates: list[str], count: int) -> list[Answer]:
    found: list[Answer] = []
    for question in candidates:
        answer = await archive.ask(question)
        if answer.answered and answer.quotes:
            found.append(answer)
            if len(found) == count:
                break
    return found


async def _shoot(page: Page, url: str, path: Path, full_page: bool, compress: bool) -> None:
    await page.goto(url)
    data = await page.screenshot(path, full_page=full_page)
    size = len(data)
    if compress and shutil.which("pngquant"):  # a palette of 256 colours: about a third of the bytes, same look
        options = ["--quality=80-95", "--speed=1", "--force", "--skip-if-larger"]
        subprocess.run(["pngquant", *options, "--output", str(path), str(path)], check=False)
        size = path.stat().st_size
    log(f"{path} ({size // 1024} kB)")


async def run(args: argparse.Namespace) -> None:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no chromium on PATH (Debian: apt-get install chromium)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="archivebot-shots-") as temporary:
        work = Path(temporary)
        embedder = HashEmbedder(256) if args.hash else None
        if args.data_dir:
            settings = replace(Settings.from_env(), data_dir=args.data_dir)
        else:
            settings = Settings(data_dir=work / "data")
            if args.hash:  # the fake embedder's cosines are low: its archives use a low threshold
                settings = replace(settings, model="hash:256", min_confidence=0.05)
        embedder = embedder or make_embedder(settings)
        archive = await Archive.open(settings, embedder=embedder)
        try:
            if not args.data_dir:
                log("indexing the demo archive")
                await archive.reindex(_demo_roots(work / "archive"))
            candidates = [args.question] if args.question else questions()
            answers = await _first_answered(archive, candidates, 3)
            if not answers:
                raise SystemExit("no question was answered: give one with --question")
            answer = answers[0]
            examples = os.environ.get("ARCHIVEBOT_EXAMPLE_QUESTIONS", "").strip()
            web = WebSettings.from_env(load_dotenv=False)
            web = replace(web, listen=("127.0.0.1", 0), rate=RateLimit(0, 0.0))
            if not examples and hasattr(web, "example_questions"):
                web = replace(web, example_questions=tuple(a.question for a in answers))
            server = await start_server(archive, web)
            quote = answer.quotes[0]
            urls = {
                "home": "/",
                "answer": "/?" + urlencode({"q": answer.question}),
                "article": _context_link(quote.article_id, quote.start, quote.end, answer.question),
                "search": "/search?" + urlencode({"q": args.search or " ".join(query_terms(answer.question)[:3])}),
            }
            browser = await Browser.launch(chromium, work / "profile")
            try:
                for width_name, (width, height, scale, mobile) in WIDTHS.items():
                    for scheme in ("light", "dark") if args.dark else ("light",):
                        page = await browser.new_page(width=width, height=height, scale=scale, mobile=mobile)
                        await page.send(
                            "Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}]
                        )
                        suffix = "" if scheme == "light" else "-dark"
                        for name in PAGES:
                            path = out / f"reading-room-{name}-{width_name}{suffix}.png"
                            full = args.full_page and name != "article"
                            await _shoot(page, server.url + urls[name], path, full, not args.no_compress)
            finally:
                await browser.close()
                await server.close()
        finally:
            await archive.close()


def _context_link(article_id: str, start: int, end: int, question: str) -> str:
    """The answer page's "Read in context" link (with the question, for the way back, when links carry it)."""
    try:
        return article_path(article_id, start, end, question=question)  # type: ignore[call-arg]
    except TypeError:
        return article_path(article_id, start, end)


def main() -> None:
    use_offline_defaults()
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    parser.add_argument("--data-dir", type=Path, help="an indexed archive to show (default: build the demo one)")
    parser.add_argument("--question", help="the question of the answer page")
    parser.add_argument("--search", help="the query of the search page")
    parser.add_argument("--hash", action="store_true", help="the fake embedder (no model; answers are poor)")
    parser.add_argument("--full-page", action="store_true", help="whole pages, not the first screen (not articles)")
    parser.add_argument("--no-compress", action="store_true", help="keep Chromium's PNGs (default: pngquant them)")
    parser.add_argument("--dark", action="store_true", help="also the dark-mode variants")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
