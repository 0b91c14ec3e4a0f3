"""The real model over seeds/ and a fixed slice of the BBC corpus: verbatim quotes, deletions, the seed question.

The archive is built once per session (about 150 articles: every article a development question refers
to, plus a deterministic sample); each test opens its own `Archive` on it, and the test that deletes a
file works on a copy.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CORPUS, DEV_QUESTIONS, SEED_FILE, SEEDS, copy_corpus_articles, needs_corpus

from bot.cli import cli
from index import Archive, ArticleNotFoundError, Settings

pytestmark = [pytest.mark.integration, needs_corpus]

ARTICLES = 150
SEED_QUESTION = "What did Obama propose to North Korea?"


@dataclass(frozen=True)
class Built:
    settings: Settings
    seeds: Path
    corpus: Path
    chosen: tuple[str, ...]  # corpus paths relative to the root, as the dev questions name them

    @property
    def roots(self) -> list[Path]:
        return [self.seeds, self.corpus]


def _dev_questions() -> list[dict]:
    if not DEV_QUESTIONS.exists():
        return []
    return [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Built:
    root = tmp_path_factory.mktemp("integration")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    corpus = root / "bbc-news"
    every = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.txt"))
    referenced = sorted({q["article"] for q in _dev_questions() if q.get("article") and q["article"] != "seeds"})
    chosen = list(referenced)
    step = max(1, len(every) // ARTICLES)
    for relative in every[::step]:
        if len(chosen) >= ARTICLES:
            break
        if relative not in chosen:
            chosen.append(relative)
    copy_corpus_articles(chosen, corpus)
    settings = Settings(data_dir=root / "data")

    async def index() -> None:
        archive = await Archive.open(settings, embedder=real_embedder)
        try:
            summary = await archive.reindex([seeds, corpus])
        finally:
            await archive.close()
        assert summary.added == len(chosen) + 1, summary.warnings
        assert summary.skipped == 0

    asyncio.run(index())
    return Built(settings, seeds, corpus, tuple(sorted(chosen)))


@pytest.fixture
async def archive(built: Built, real_embedder) -> Archive:
    opened = await Archive.open(built.settings, embedder=real_embedder)
    yield opened
    await opened.close()


def _questions(built: Built) -> list[str]:
    """Many questions: the development questions, the seed question, and questions made from headlines."""
    questions = [q["q"] for q in _dev_questions()] + [SEED_QUESTION]
    for number, relative in enumerate(built.chosen[::3]):
        lines = [
            line.strip() for line in (built.corpus / relative).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        questions.append(f"What happened: {lines[0]}?")
        if len(lines) > 2:  # words from inside the article, cut at a varying length
            words = lines[2].split()
            questions.append(" ".join(words[: 6 + number % 7]) + "?")
    return list(dict.fromkeys(questions))


async def test_every_quote_from_ask_json_matches_its_article_at_its_offsets(
    built: Built, archive: Archive, real_embedder
) -> None:
    questions = _questions(built)
    assert len(questions) >= 100
    # The CLI runs its own event loop: run it in a worker thread.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["ask", "--json", "-"],
        input="\n".join(questions) + "\n",
        obj={"settings": built.settings, "embedder": real_embedder},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == questions
    bodies: dict[str, str] = {}
    quotes = 0
    for answer in answers:
        if not answer["answered"]:
            assert answer["quotes"] == []
            continue
        assert 1 <= len(answer["quotes"]) <= 3
        for quote in answer["quotes"]:
            if quote["article_id"] not in bodies:
                bodies[quote["article_id"]] = (await archive.article(quote["article_id"])).body
            body = bodies[quote["article_id"]]
            assert body[quote["start"] : quote["end"]] == quote["text"], (answer["question"], quote)
            assert quote["text"] == quote["text"].strip() and quote["text"]
            quotes += 1
    assert quotes >= len(questions)  # most questions are answered, some with several quotes


async def test_engine_quotes_match_their_articles_too(built: Built, archive: Archive) -> None:
    questions = _questions(built)[::4]
    answered = 0
    for question in questions:
        answer = await archive.ask(question)
        assert answer.answered == bool(answer.quotes), question
        answered += answer.answered
        for quote in answer.quotes:
            article = await archive.article(quote.article_id)
            assert article.body[quote.start : quote.end] == quote.text
            assert (quote.title, quote.source, quote.date) == (article.title, article.source, article.published)
    # The questions are drawn from the indexed articles: most must be answered, or nothing above was checked.
    assert answered >= 0.75 * len(questions), (answered, len(questions))


async def test_the_seed_question_quotes_the_seed(archive: Archive) -> None:
    answer = await archive.ask(SEED_QUESTION)
    assert answer.answered
    top = answer.quotes[0]
    seed = await archive.article(top.article_id)
    assert seed.path.endswith(SEED_FILE.name)
    assert (top.source, top.date) == ("The Washington Times", "2009-12-19")
    assert "liaison office" in " ".join(q.text for q in answer.quotes if q.article_id == seed.article_id)


async def test_questions_about_development_articles_cite_an_indexed_article(built: Built, archive: Archive) -> None:
    """Each development question's own article is in the archive, and search finds it near the top."""
    found = 0
    referenced = [q for q in _dev_questions() if q.get("article") and q["article"] != "seeds"]
    for question in referenced:
        hits = await archive.search(question["q"], limit=10)
        locations = [hit.location for hit in hits]
        found += f"bbc-news/{question['article']}" in locations
    assert found >= 0.8 * len(referenced)


async def test_deleting_a_file_removes_it_from_search_and_ask(built: Built, real_embedder, tmp_path: Path) -> None:
    # Work on a copy: the archive folders and the data directory.
    seeds, corpus = tmp_path / "seeds", tmp_path / "bbc-news"
    shutil.copytree(built.seeds, seeds)
    shutil.copytree(built.corpus, corpus)
    settings = Settings(data_dir=tmp_path / "data")
    shutil.copytree(built.settings.data_dir, settings.data_dir)
    archive = await Archive.open(settings, embedder=real_embedder)
    try:
        moved = await archive.reindex([seeds, corpus])  # the copy lives elsewhere: same ids, no sentence re-embedded
        assert moved.added == moved.removed == 0
        target = next(q for q in _dev_questions() if q.get("article") and q["article"] != "seeds")
        location = f"bbc-news/{target['article']}"
        before = await archive.search(target["q"], limit=10)
        assert location in [hit.location for hit in before]
        article_id = next(hit.article_id for hit in before if hit.location == location)

        (corpus / target["article"]).unlink()
        summary = await archive.reindex([seeds, corpus])
        assert (summary.removed, summary.added, summary.passages_embedded) == (1, 0, 0)

        assert article_id not in [hit.article_id for hit in await archive.search(target["q"], limit=50)]
        answer = await archive.ask(target["q"])
        assert all(q.article_id != article_id for q in answer.quotes)
        assert all(hit.article_id != article_id for hit in answer.closest)
        with pytest.raises(ArticleNotFoundError):
            await archive.article(article_id)
        # The seed is still answered.
        assert (await archive.ask(SEED_QUESTION)).quotes[0].source == "The Washington Times"
    finally:
        await archive.close()


async def test_reindexing_the_unchanged_archive_embeds_nothing(built: Built, archive: Archive, real_embedder) -> None:
    calls = []
    original = real_embedder.embed

    def counting(texts):
        calls.append(len(texts))
        return original(texts)

    real_embedder.embed = counting
    try:
        summary = await archive.reindex(built.roots)
    finally:
        del real_embedder.embed
    assert summary.passages_embedded == 0
    assert summary.unchanged == len(built.chosen) + 1
    assert sum(calls) == 0
