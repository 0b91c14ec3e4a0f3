"""The reading room in a real browser: headless Chromium driven over the DevTools protocol (tests/chromium.py),
with page JavaScript disabled, against a real server on 127.0.0.1.

Screenshots go to the test's temporary directory, or to `$ARCHIVEBOT_SCREENSHOTS` when set. The documentation's
images in docs/images/ come from `python -m bench.screenshots` (docs/reading-room.md#screenshots).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest
from chromium import Browser, Page, find_chromium
from conftest import CORPUS, DEV_QUESTIONS, SEEDS, copy_corpus_articles, needs_corpus
from web_support import HOSTILE_IMAGE, HOSTILE_SENTENCE, HOSTILE_TITLE, WebArchive, build_web_archive, serving

from bot.web import article_path
from index import Archive, Settings

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)"
)
QUESTION = "What did Obama propose to North Korea?"
PNG = b"\x89PNG\r\n\x1a\n"
PHONE = {"width": 390, "height": 844, "scale": 2.0, "mobile": True}


@pytest.fixture(scope="session")
def web_archive(tmp_path_factory: pytest.TempPathFactory) -> WebArchive:
    return build_web_archive(tmp_path_factory.mktemp("web-browser"))


@pytest.fixture
async def browser(tmp_path: Path):
    assert CHROMIUM is not None
    launched = await Browser.launch(CHROMIUM, tmp_path / "chromium-profile")
    yield launched
    await launched.close()


def screenshot_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("ARCHIVEBOT_SCREENSHOTS", "").strip()
    return Path(configured) if configured else tmp_path


async def assert_quote_in_view(page: Page, quote_text: str) -> None:
    """`mark#quote` holds exactly the quote and the `#quote` anchor scrolled it into the viewport."""
    assert await page.text("mark#quote") == quote_text
    assert len(await page.select_all("mark")) == 1
    top, bottom = await page.box("mark#quote")
    height = (await page.viewport())["clientHeight"]
    assert 0 <= top < height and (bottom <= height or top <= height / 2), (top, bottom, height)


async def test_highlighted_quote_equals_the_quote_and_is_in_view(
    web_archive: WebArchive, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page(**PHONE)  # type: ignore[arg-type]
    async with serving(web_archive.settings) as (archive, server):
        answer = await archive.ask(QUESTION)
        assert answer.answered and answer.quotes
        for quote in answer.quotes:
            await page.goto(server.url + article_path(quote.article_id, quote.start, quote.end))
            await assert_quote_in_view(page, quote.text)
        deepest = max(answer.quotes, key=lambda quote: quote.start)
        await page.goto(server.url + article_path(deepest.article_id, deepest.start, deepest.end))
        assert (await page.viewport())["pageY"] > 0  # scrolled by the anchor alone: no script ran
        shot = await page.screenshot(screenshot_dir(tmp_path) / "reading-room-article.png")
    assert shot.startswith(PNG) and len(shot) > 10_000


async def test_asking_and_following_a_citation_works_without_javascript(
    web_archive: WebArchive, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page(width=1000, height=800)
    async with serving(web_archive.settings) as (archive, server):
        answer = await archive.ask(QUESTION)
        await page.goto(server.url + "/")
        await page.type_and_submit("#q", QUESTION)  # a plain GET form: Enter submits it with scripts off
        assert len(await page.select_all("ol.quotes > li")) == len(answer.quotes)
        assert await page.text("ol.quotes > li blockquote") == f"“{answer.quotes[0].text}”"
        shot = await page.screenshot(screenshot_dir(tmp_path) / "reading-room-answer.png")
        link = await page.attribute("ol.quotes > li a.context", "href")
        assert link is not None
        await page.goto(server.url + link)
        await assert_quote_in_view(page, answer.quotes[0].text)
    assert shot.startswith(PNG) and len(shot) > 10_000


async def test_hostile_article_shows_its_markup_as_text(web_archive: WebArchive, browser: Browser) -> None:
    # Scripts are left ON in this tab: escaping and the policy, not a disabled engine, keep it inert.
    page = await browser.new_page(script=True)
    async with serving(web_archive.settings) as (archive, server):
        hit = (await archive.search("attacker markup"))[0]
        article = await archive.article(hit.article_id)
        start = article.body.index(HOSTILE_SENTENCE)
        end = article.body.index(HOSTILE_IMAGE) + len(HOSTILE_IMAGE)
        await page.goto(server.url + article_path(article.article_id, start, end))
        assert await page.text("mark#quote") == f"{HOSTILE_SENTENCE} {HOSTILE_IMAGE}"
        assert await page.text("article h1") == HOSTILE_TITLE
        assert await page.select_all("script, img, iframe, main b, main i") == []
        assert await page.text("title") != "pwned"
        await page.goto(server.url + "/search?q=attacker+markup")
        assert await page.select_all("script, img") == [] and await page.text("title") != "pwned"


async def test_phone_pages_fit_390_pixels_and_have_landmarks(web_archive: WebArchive, browser: Browser) -> None:
    """At 390 px nothing scrolls sideways (long words, titles, forms and citation blocks wrap), in light and
    dark, and every page has its lang attribute, landmarks, skip link and a visible focus style."""
    page = await browser.new_page(**PHONE)  # type: ignore[arg-type]
    async with serving(web_archive.settings) as (archive, server):
        answer = await archive.ask(QUESTION)
        quote = answer.quotes[0]
        hostile = (await archive.search("attacker markup"))[0].article_id
        paths = [
            "/",
            "/?" + urlencode({"q": QUESTION}),
            article_path(quote.article_id, quote.start, quote.end, question=QUESTION),
            article_path(hostile, search="attacker markup"),
            "/search?" + urlencode({"q": "marathon runner", "source": "Example News", "after": "2005-01-01"}),
            "/search",
            "/articles/0000000000000000",
            "/?" + urlencode({"q": "x" * 400}),  # one unbreakable 400-character word
        ]
        for scheme in ("light", "dark"):
            await page.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
            for path in paths:
                await page.goto(server.url + path)
                width = await page.evaluate("document.scrollingElement.scrollWidth")
                assert width <= 390, (scheme, path, width)
                assert await page.evaluate("document.documentElement.lang") == "en"
                for landmark in ("header", "nav", "main#main", "footer"):
                    assert await page.select_all(landmark), (path, landmark)
                assert await page.attribute("body > a:first-child", "href") == "#main"  # the skip link comes first
            background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == ("rgb(247, 247, 245)" if scheme == "light" else "rgb(14, 16, 20)")
        # The details blocks opened: their <pre> citations wrap too.
        await page.goto(server.url + "/?" + urlencode({"q": QUESTION}))
        await page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390
        # A focused link gets a visible outline (the browser's focus, not a script's).
        await page.send("DOM.focus", nodeId=await page.select("a.context"))
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"


# ---- the real model over the development questions ---------------------------------------------------------


def _dev_questions() -> list[dict[str, object]]:
    if not DEV_QUESTIONS.exists():
        return []
    return [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def dev_settings(tmp_path_factory: pytest.TempPathFactory, real_embedder: object) -> Settings:
    """The seeds and every BBC article a development question names, indexed once with the real model."""
    import asyncio

    root = tmp_path_factory.mktemp("web-dev")
    referenced = sorted({str(q["article"]) for q in _dev_questions() if q.get("article") not in (None, "seeds")})
    corpus = copy_corpus_articles(referenced, root / "bbc-news")
    settings = Settings(data_dir=root / "data")

    async def index() -> None:
        archive = await Archive.open(settings, embedder=real_embedder)  # type: ignore[arg-type]
        try:
            await archive.reindex([SEEDS, corpus])
        finally:
            await archive.close()

    asyncio.run(index())
    return settings


@pytest.mark.integration
@needs_corpus
@pytest.mark.skipif(not DEV_QUESTIONS.exists(), reason="../shared/eval/dev_questions.jsonl is absent")
async def test_every_dev_question_quote_is_highlighted_verbatim(
    dev_settings: Settings, real_embedder: object, browser: Browser, tmp_path: Path
) -> None:
    assert CORPUS.is_dir()
    page = await browser.new_page(**PHONE)  # type: ignore[arg-type]
    checked = 0
    async with serving(dev_settings, embedder=real_embedder) as (archive, server):  # type: ignore[arg-type]
        for question in _dev_questions():
            answer = await archive.ask(str(question["q"]))
            for quote in answer.quotes:
                await page.goto(server.url + article_path(quote.article_id, quote.start, quote.end))
                await assert_quote_in_view(page, quote.text)
                checked += 1
        first = next(q for q in _dev_questions() if str(q.get("article", "")).startswith("sport/"))
        answer = await archive.ask(str(first["q"]))
        if answer.quotes and os.environ.get("ARCHIVEBOT_SCREENSHOTS"):
            quote = answer.quotes[0]
            await page.goto(server.url + article_path(quote.article_id, quote.start, quote.end))
            await page.screenshot(screenshot_dir(tmp_path) / "reading-room-article.png")
            desktop = await browser.new_page(width=900, height=720)
            await desktop.goto(server.url + "/?q=" + str(first["q"]).replace(" ", "+").replace("'", "%27"))
            await desktop.screenshot(screenshot_dir(tmp_path) / "reading-room-answer.png")
    assert checked >= len(_dev_questions())  # most questions are answered, with up to three quotes each
