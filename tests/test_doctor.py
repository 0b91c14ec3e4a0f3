"""`archivebot doctor`: every kind of SQLite / FAISS / FTS disagreement is found, and repaired without
re-embedding what is still there; foreign-model and damaged indexes are refused with a clear message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner
from reliability_support import assert_consistent, sql, write_archive

from bot.cli import cli
from index import (
    Archive,
    HashEmbedder,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotBuiltError,
    Settings,
    check_index,
    repair_index,
)
from index.storage.faiss_vectors import VectorIndex


async def _build(tmp_path: Path) -> tuple[Settings, HashEmbedder]:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05)
    embedder = HashEmbedder(256)
    archive = await Archive.open(settings, embedder=embedder)
    await archive.reindex([write_archive(tmp_path / "news")])
    await archive.close()
    return settings, embedder


@pytest.fixture
async def built(tmp_path: Path):
    """An indexed archive of eight small articles (fake embedder): (settings, embedder)."""
    return await _build(tmp_path)


@pytest.fixture
def built_sync(tmp_path: Path):
    """The same, for tests that drive the CLI (which runs its own event loop)."""
    return asyncio.run(_build(tmp_path))


def _codes(report) -> set[str]:
    return {problem.code for problem in report.problems}


def _vectors(settings: Settings) -> VectorIndex:
    generation = int(sql(settings.data_dir, "SELECT value FROM meta WHERE key = 'generation'")[0][0])
    return VectorIndex.load(settings.data_dir, generation)


def _save(settings: Settings, vectors: VectorIndex) -> None:
    faiss.write_index(vectors.index, str(VectorIndex.path_for(settings.data_dir, vectors.generation)))


async def _ask(settings: Settings, question: str = "What did the harbour authority approve?"):
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        return await archive.ask(question)
    finally:
        await archive.close()


async def test_a_healthy_index_passes(built) -> None:
    settings, _ = built
    report = await check_index(settings.data_dir, expected_model="hash:256")
    assert report.ok, report.text()
    assert report.counts["passages"] == report.counts["vectors"] == report.counts["fts_rows"] > 0


async def test_missing_stale_and_orphan_fts_rows_are_found_and_rebuilt(built) -> None:
    settings, embedder = built
    pids = [row[0] for row in sql(settings.data_dir, "SELECT id FROM passages ORDER BY id")]
    sql(settings.data_dir, "DELETE FROM passages_fts WHERE rowid IN (?, ?)", (pids[0], pids[1]))
    sql(settings.data_dir, "UPDATE passages_fts SET text = 'nonsense words' WHERE rowid = ?", (pids[2],))
    sql(settings.data_dir, "INSERT INTO passages_fts(rowid, title, text) VALUES (99999, 'ghost', 'ghost passage')")
    sql(settings.data_dir, "DELETE FROM articles_fts WHERE rowid = (SELECT min(rowid) FROM articles_fts)")
    report = await check_index(settings.data_dir)
    assert {"missing_fts", "stale_fts", "orphan_fts", "title_fts"} <= _codes(report)
    missing = next(p for p in report.problems if p.code == "missing_fts")
    assert missing.count == 2

    before = embedder.texts_embedded
    repaired = await repair_index(settings.data_dir, embedder=embedder)
    assert repaired.ok, repaired.text()
    assert repaired.repaired
    assert embedder.texts_embedded == before  # FTS rows come from the stored passage text
    texts = dict(sql(settings.data_dir, "SELECT rowid, text FROM passages_fts"))
    assert "ghost passage" not in texts.values() and texts[pids[2]] != "nonsense words"


async def test_a_missing_vector_file_is_rebuilt_from_stored_sentence_vectors(built) -> None:
    settings, embedder = built
    vector_file = _vectors(settings)
    VectorIndex.path_for(settings.data_dir, vector_file.generation).unlink()
    assert "vector_file" in _codes(await check_index(settings.data_dir))
    with pytest.raises(IndexCorruptError, match="doctor --repair"):
        await _ask(settings)

    before = embedder.texts_embedded
    report = await repair_index(settings.data_dir, embedder=embedder)
    assert report.ok, report.text()
    assert embedder.texts_embedded == before  # nothing re-embedded
    answer = await _ask(settings)
    assert answer.quotes and "harbour" in answer.quotes[0].text.lower()


async def test_missing_orphan_and_duplicate_vectors_are_patched(built) -> None:
    settings, embedder = built
    vectors = _vectors(settings)
    ids = sorted(int(i) for i in vectors.ids())
    extra = vectors.reconstruct([ids[1]])[ids[1]]
    vectors.remove([ids[0]])
    vectors.add(np.array([ids[1], 777777], dtype=np.int64), np.stack([extra, extra]))
    _save(settings, vectors)
    report = await check_index(settings.data_dir)
    assert {"missing_vectors", "orphan_vectors", "duplicate_vectors"} <= _codes(report)

    before = embedder.texts_embedded
    repaired = await repair_index(settings.data_dir, embedder=embedder)
    assert repaired.ok, repaired.text()
    assert embedder.texts_embedded == before
    fixed = _vectors(settings)
    assert sorted(int(i) for i in fixed.ids()) == ids
    assert fixed.generation == vectors.generation + 1  # a new generation, switched in one commit


async def test_a_vector_count_mismatch_stops_answers_instead_of_answering_wrongly(built) -> None:
    settings, embedder = built
    vectors = _vectors(settings)
    vectors.remove([int(vectors.ids()[0])])
    _save(settings, vectors)
    with pytest.raises(IndexCorruptError, match="doctor --repair"):
        await _ask(settings)
    await repair_index(settings.data_dir, embedder=embedder)
    assert (await _ask(settings)).quotes


async def test_a_vector_file_from_another_index_is_caught_by_its_contents(built) -> None:
    """Same ids, same count, same dimension, wrong vectors: only comparing contents catches it."""
    settings, embedder = built
    vectors = _vectors(settings)
    ids = vectors.ids()
    foreign = VectorIndex.create(vectors.dimension, "Flat", vectors.generation)
    noise = np.random.default_rng(7).normal(size=(len(ids), vectors.dimension)).astype(np.float32)
    foreign.add(ids, noise / np.linalg.norm(noise, axis=1, keepdims=True))
    _save(settings, foreign)
    report = await check_index(settings.data_dir)
    assert _codes(report) == {"wrong_vectors"}
    assert report.problems[0].count == len(ids)
    before = embedder.texts_embedded
    assert (await repair_index(settings.data_dir, embedder=embedder)).ok
    assert embedder.texts_embedded == before


async def test_damaged_sentence_vectors_re_embed_only_that_article(built) -> None:
    settings, embedder = built
    row, sentences = sql(settings.data_dir, "SELECT article_row, count(*) FROM sentences GROUP BY article_row LIMIT 1")[
        0
    ]
    total = sql(settings.data_dir, "SELECT count(*) FROM sentences")[0][0]
    sql(settings.data_dir, "UPDATE sentences SET vector = x'0000' WHERE article_row = ? AND ordinal = 0", (row,))
    report = await check_index(settings.data_dir)
    assert "bad_sentence_vectors" in _codes(report)

    before = embedder.texts_embedded
    repaired = await repair_index(settings.data_dir, embedder=embedder)
    assert repaired.ok, repaired.text()
    re_embedded = embedder.texts_embedded - before
    assert 0 < re_embedded <= sentences + 1 < total  # that article's sentences (and title), nothing else
    assert sql(settings.data_dir, "SELECT count(*) FROM sentences")[0][0] == total


async def test_missing_sentences_and_orphan_rows_are_repaired(built) -> None:
    settings, embedder = built
    row = sql(settings.data_dir, "SELECT max(id) FROM articles")[0][0]
    sql(settings.data_dir, "DELETE FROM sentences WHERE article_row = ? AND ordinal = 1", (row,))
    sql(
        settings.data_dir,
        "INSERT INTO passages (article_row, ordinal, start, end, first_sentence, last_sentence)"
        " VALUES (4242, 0, 0, 5, 0, 0)",
    )
    report = await check_index(settings.data_dir)
    assert {"missing_sentences", "orphan_rows"} <= _codes(report)
    repaired = await repair_index(settings.data_dir, embedder=embedder)
    assert repaired.ok, repaired.text()
    assert sql(settings.data_dir, "SELECT count(*) FROM passages WHERE article_row = 4242")[0][0] == 0


async def test_a_foreign_model_index_is_refused_clearly_not_answered(built) -> None:
    settings, embedder = built
    sql(settings.data_dir, "UPDATE meta SET value = 'some-other-model' WHERE key = 'model'")
    report = await check_index(settings.data_dir, expected_model="hash:256")
    problem = next(p for p in report.problems if p.code == "model_mismatch")
    assert not problem.repairable and "archivebot index" in problem.message
    with pytest.raises(IndexCorruptError, match="some-other-model"):
        await repair_index(settings.data_dir, expected_model="hash:256", embedder=embedder)
    with pytest.raises(IndexMismatchError, match="some-other-model"):
        await _ask(settings)


async def test_a_damaged_database_file_is_a_typed_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "archive.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexCorruptError):
        await check_index(data)


async def test_never_built_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuiltError, match="archivebot index"):
        await check_index(tmp_path / "nothing")


def _cli(settings: Settings, *args: str):
    return CliRunner().invoke(cli, list(args), obj={"settings": settings, "embedder": HashEmbedder(256)})


def test_cli_doctor_reports_repairs_and_exits_by_state(built_sync) -> None:
    settings, _ = built_sync
    healthy = _cli(settings, "doctor", "--json")
    assert healthy.exit_code == 0, healthy.output
    assert json.loads(healthy.stdout)["ok"] is True

    sql(settings.data_dir, "DELETE FROM passages_fts WHERE rowid = (SELECT min(id) FROM passages)")
    broken = _cli(settings, "doctor")
    assert broken.exit_code == 1
    assert "missing_fts" in broken.stdout and "doctor --repair" in broken.stdout

    fixed = _cli(settings, "doctor", "--repair", "--json")
    assert fixed.exit_code == 0, fixed.output
    data = json.loads(fixed.stdout)
    assert data["ok"] is True and data["repaired"]
    assert _cli(settings, "doctor").exit_code == 0


def test_cli_doctor_on_a_foreign_model_and_on_nothing(built_sync, tmp_path: Path) -> None:
    settings, _ = built_sync
    sql(settings.data_dir, "UPDATE meta SET value = 'some-other-model' WHERE key = 'model'")
    result = _cli(settings, "doctor")
    assert result.exit_code == 1 and "some-other-model" in result.stdout and "archivebot index" in result.stdout
    result = _cli(settings, "doctor", "--repair")
    assert result.exit_code == 1 and "can't repair" in result.stderr

    empty = Settings(data_dir=tmp_path / "empty", model="hash:256")
    result = _cli(empty, "doctor")
    assert result.exit_code == 1 and "archivebot index" in result.stderr


async def test_reindex_after_repair_stays_consistent(built, tmp_path: Path) -> None:
    settings, embedder = built
    VectorIndex.path_for(settings.data_dir, _vectors(settings).generation).unlink()
    await repair_index(settings.data_dir, embedder=embedder)
    (tmp_path / "news" / "harbour.txt").unlink()
    archive = await Archive.open(settings, embedder=embedder)
    try:
        summary = await archive.reindex()
    finally:
        await archive.close()
    assert summary.removed == 1
    await assert_consistent(settings.data_dir)


async def test_starting_up_on_a_bad_index_fails_clearly(built) -> None:
    """What a front end does at start-up (`warm_up`): a clear typed error, before any question."""
    settings, _ = built
    vectors = _vectors(settings)
    vectors.remove([int(vectors.ids()[0])])
    _save(settings, vectors)
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        with pytest.raises(IndexCorruptError, match="doctor --repair"):
            await archive.warm_up()
    finally:
        await archive.close()
    archive = await Archive.open(settings, embedder=HashEmbedder(128))
    try:
        with pytest.raises(IndexMismatchError, match="hash:256"):
            await archive.warm_up()
    finally:
        await archive.close()
