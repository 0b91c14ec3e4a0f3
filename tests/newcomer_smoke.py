"""A newcomer's first hour, scripted: `make run` in a pseudo-terminal (the README's first command: index seeds/
and open the console, with the real model), one question and one follow-up, then `archivebot serve` and the
reading room's home, answer, article and search pages in headless Chromium.

    python tests/newcomer_smoke.py        # or: make smoke (run by .ci/run after the tests)

Exit 0 when every step did what the README says; otherwise the step that did not, and exit 1. Its data lives in a
temporary directory (ARCHIVEBOT_DATA_DIR), so a developer's ./data is left alone.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote_plus

import pexpect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import Browser, find_chromium  # tests/ is not a package: its helpers are imported by path

PROJECT = Path(__file__).resolve().parent.parent
QUESTION = "What did Obama propose to North Korea?"
FOLLOW_UP = "When would it open?"
PROMPT = r"\x1b\[\?2004h"  # prompt_toolkit starts reading a line (bracketed paste on)


def step(name: str) -> None:
    print(f"smoke: {name}", flush=True)


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVEBOT_", "DISCORD_"))}
    env.update(ARCHIVEBOT_DATA_DIR=str(data_dir), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    return env


def console(data_dir: Path) -> None:
    step("make run (index seeds/, then the console, as the README says)")
    child = pexpect.spawn(
        "make", ["run"], cwd=str(PROJECT), env=environment(data_dir), encoding="utf-8", timeout=600,
        dimensions=(50, 120),
    )  # fmt: skip
    child.expect("Archivebot console")
    child.expect(PROMPT, timeout=120)
    child.send(QUESTION + "\r")
    child.expect(r"\(confidence \d+%\)", timeout=120)
    answer = child.before
    if "liaison office" not in answer:
        raise AssertionError(f"the first answer does not quote the seed article: {answer[-500:]!r}")
    child.expect(PROMPT)
    step("a follow-up, answered in the context of the first question")
    child.send(FOLLOW_UP + "\r")
    child.expect([r"\(confidence \d+%\)", "Not found in the archive"], timeout=60)
    if "Following up on" not in child.before + child.after:
        raise AssertionError(f"the follow-up was not asked in context: {child.before[-500:]!r}")
    child.expect(PROMPT)
    child.sendcontrol("d")
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    if child.exitstatus != 0:
        raise AssertionError(f"make run exited {child.exitstatus}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    step("archivebot serve")
    port = free_port()
    process = subprocess.Popen(
        [str(PROJECT / ".venv/bin/archivebot"), "serve", "--port", str(port)],
        cwd=PROJECT, env=environment(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return process, base
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.stderr.read() if process.stderr else ''}") from None
            time.sleep(0.5)
    raise AssertionError("the reading room did not come up within 120 s")


async def browse(base: str, profile: Path) -> None:
    binary = find_chromium()
    if binary is None:
        raise AssertionError("no Chromium: apt-get install -y chromium")
    browser = await Browser.launch(binary, profile)
    try:
        page = await browser.new_page(width=390, height=844, mobile=True)  # a phone: the hardest width
        step("the home page")
        await page.goto(base + "/")
        for landmark in ("header", "main", "footer", "form"):
            await page.select(landmark)
        step("an answer page")
        await page.goto(f"{base}/?q={quote_plus(QUESTION)}")
        quote = await page.text("li.quote blockquote")
        if "liaison office" not in quote:
            raise AssertionError(f"the answer page does not quote the seed: {quote[:300]!r}")
        href = await page.attribute("a.context", "href")
        if not href or not href.startswith("/articles/"):
            raise AssertionError(f"no 'Read in context' link on the answer page: {href!r}")
        step("the article page, the quote highlighted, a way back to the answer")
        await page.goto(base + href)
        if "liaison office" not in await page.text("mark"):
            raise AssertionError("the article page does not highlight the quote")
        back = await page.attribute("nav.crumbs a", "href") or ""
        if "q=" not in back:
            raise AssertionError(f"no way back to the answer from the article: {back!r}")
        step("the search page")
        await page.goto(f"{base}/search?q={quote_plus('North Korea liaison')}")
        if not re.search(r"Obama|North Korea", await page.text("main")):
            raise AssertionError("the search page lists nothing for the seed's words")
    finally:
        await browser.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="archivebot-smoke-") as work:
        data_dir = Path(work) / "data"
        server: subprocess.Popen[str] | None = None
        try:
            console(data_dir)
            server, base = serve(data_dir)
            asyncio.run(browse(base, Path(work) / "chromium-profile"))
        except (AssertionError, pexpect.ExceptionPexpect) as error:
            print(f"smoke: FAILED: {error}", file=sys.stderr)
            return 1
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    print("smoke: every step of the newcomer's path worked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
