"""Regression guard for answer quality: the real model over a fixed small archive, with metric floors.

The archive is the seed plus a fixed slice of the BBC corpus: every article the development and
held-out questions refer to, and a deterministic sample of others as distractors. The floors sit a
little under the figures measured when they were set (docs/quality.md), so a change that
quietly lowers quality fails here; the full-corpus figures come from `archivebot eval`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS, DEV_QUESTIONS, SEEDS, copy_corpus_articles, needs_corpus

from index import Archive, Settings
from index.operations.evaluation import evaluate, evaluate_sentences, load_questions, load_sentence_pairs

DATA = Path(__file__).parent / "data"
HELDOUT = DATA / "heldout_questions.jsonl"
SELECTION_CSV = DATA / "answer_selection.csv"
PUBLIC_SELECTION_CSV = DEV_QUESTIONS.parent / "answer_selection_dev.csv"

pytestmark = [pytest.mark.integration]


def _referenced(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {
        record["article"]
        for record in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        if record.get("article") and record["article"] != "seeds"
    }


@pytest.fixture(scope="module")
def quality_settings(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Settings:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    root = tmp_path_factory.mktemp("quality")
    shutil.copytree(SEEDS, root / "seeds")
    corpus = root / "bbc-news"
    every = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.txt"))
    chosen = _referenced(DEV_QUESTIONS) | _referenced(HELDOUT) | set(every[::20])
    copy_corpus_articles(sorted(chosen), corpus)
    settings = Settings(data_dir=root / "data")

    async def index() -> None:
        archive = await Archive.open(settings, embedder=real_embedder)
        try:
            await archive.reindex([root / "seeds", corpus])
        finally:
            await archive.close()

    asyncio.run(index())
    return settings


@pytest.fixture
async def quality_archive(quality_settings: Settings, real_embedder) -> Archive:
    archive = await Archive.open(quality_settings, embedder=real_embedder)
    yield archive
    await archive.close()


@needs_corpus
@pytest.mark.skipif(not DEV_QUESTIONS.exists(), reason="../shared/eval is absent")
async def test_development_questions_floor(quality_archive: Archive) -> None:
    result = await evaluate(quality_archive, load_questions(DEV_QUESTIONS))
    assert result["answer_in_quote"] >= 0.90, result["failures"]
    assert result["citation_at_1"] >= 0.90, result["failures"]
    assert result["abstain_recall"] == 1.0, result["failures"]
    assert result["declined_answerable"] <= 1, result["failures"]


@needs_corpus
@pytest.mark.skipif(not HELDOUT.exists(), reason="no held-out questions")
async def test_heldout_questions_floor(quality_archive: Archive) -> None:
    # The floors were set on the first 72 questions; the hard cases of issue 14 (with a "kind") have their own.
    result = await evaluate(quality_archive, [q for q in load_questions(HELDOUT) if q.kind is None])
    assert result["answer_in_quote"] >= 0.75, result["failures"]
    assert result["citation_at_1"] >= 0.85, result["failures"]
    assert result["abstain_recall"] >= 0.75, result["failures"]
    assert result["declined_answerable"] <= 0.15 * result["answerable"], result["failures"]


@needs_corpus
@pytest.mark.skipif(not HELDOUT.exists(), reason="no held-out questions")
async def test_heldout_hard_cases_floor(quality_archive: Archive) -> None:
    # Issue 14's hard cases (other entity, next sentence, different name, top quote): 0.667 / 0.524 of 21 on
    # the whole BBC archive (docs/quality.md), 0.571 / 0.381 with the hand-set scorer before them.
    result = await evaluate(quality_archive, [q for q in load_questions(HELDOUT) if q.kind is not None])
    assert result["answerable"] >= 20
    assert result["answer_in_quote"] >= 0.6, result["by_kind"]
    assert result["answer_in_top_quote"] >= 0.45, result["by_kind"]


@pytest.mark.skipif(not SELECTION_CSV.exists(), reason="no answer-selection fixture")
def test_sentence_scorer_floor(real_embedder) -> None:
    result = evaluate_sentences(load_sentence_pairs(SELECTION_CSV), real_embedder)
    assert result["questions"] >= 20
    assert result["map"] >= 0.75, result  # 0.777 measured (plain cosine 0.715): 25 questions, one moves it 0.04
    assert result["map"] >= result["cosine_map"] + 0.03, result
    assert len(result["scores"]) == len(load_sentence_pairs(SELECTION_CSV))


@pytest.mark.skipif(not PUBLIC_SELECTION_CSV.exists(), reason="../shared/eval is absent")
def test_sentence_scorer_beats_cosine_on_public_data(real_embedder) -> None:
    result = evaluate_sentences(load_sentence_pairs(PUBLIC_SELECTION_CSV), real_embedder)
    assert result["questions"] == 65
    assert result["map"] >= 0.85, result
    assert result["map"] >= result["cosine_map"] + 0.03, result
