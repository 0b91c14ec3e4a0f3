"""The embedded backend's tantivy full-text generations: committed with SQLite's, searched like FTS5, replaced
by the next write without disturbing readers of the last, and never trusted when they do not match."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from reliability_support import sql, write_archive

from index import Archive, HashEmbedder, Settings, check_index, repair_index
from index.storage import open_storage
from index.storage.sqlite import tantivy_text
from index.storage.sqlite.write import SqliteWrite

QUESTION_TERMS = ["harbour", "authority", "approve"]


def _settings(tmp_path: Path, full_text: str = "tantivy") -> Settings:
    return Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05, full_text=full_text)


async def _index(settings: Settings, root: Path) -> None:
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        await archive.reindex([root])
    finally:
        await archive.close()


def _generation(settings: Settings) -> int:
    rows = sql(settings.data_dir, "SELECT value FROM meta WHERE key = ?", (tantivy_text.META_KEY,))
    return int(rows[0][0])


async def _search(settings: Settings, terms: list[str], k: int = 64) -> tuple[str, list[tuple[int, float]]]:
    """(which engine answered, the passages) for one reader snapshot."""
    storage = await open_storage(settings, create=False)
    try:
        async with storage.reader() as reader:
            engine = "tantivy" if await reader.text_index() is not None else "fts5"
            return engine, await reader.lexical_passages(terms, k)
    finally:
        await storage.close()


def _passage_ids(settings: Settings) -> set[int]:
    return {int(row[0]) for row in sql(settings.data_dir, "SELECT id FROM passages")}


async def test_an_index_run_commits_a_generation_that_ranks_as_fts5_does(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    await _index(settings, write_archive(tmp_path / "news"))
    generation = _generation(settings)
    assert tantivy_text.path_for(settings.data_dir, generation).is_dir()
    engine, found = await _search(settings, QUESTION_TERMS)
    fts_engine, fts_found = await _search(replace(settings, full_text="fts5"), QUESTION_TERMS)
    assert (engine, fts_engine) == ("tantivy", "fts5")
    assert found and {pid for pid, _ in found} == {pid for pid, _ in fts_found}
    assert found[0][0] == fts_found[0][0]  # the same best passage: one field, the title counted twice
    assert {pid for pid, _ in found} <= _passage_ids(settings)


async def test_auto_searches_tantivy_only_from_its_threshold(tmp_path: Path, monkeypatch) -> None:
    settings = _settings(tmp_path, "auto")
    await _index(settings, write_archive(tmp_path / "news"))
    assert (await _search(settings, QUESTION_TERMS))[0] == "fts5"
    monkeypatch.setattr(tantivy_text, "TANTIVY_FROM", 1)
    assert (await _search(settings, QUESTION_TERMS))[0] == "tantivy"
    assert (await _search(replace(settings, full_text="fts5"), QUESTION_TERMS))[0] == "fts5"


def test_a_generation_deletes_and_adds_passages_by_id(tmp_path: Path) -> None:
    first = tantivy_text.GenerationBuilder(tmp_path, None, 1)
    first.add([(1, "Harbour plan", "The harbour authority approved the plan."), (2, "Bakery", "Bay Bakery was sold.")])
    assert first.commit() == 2
    first.finish()
    second = tantivy_text.GenerationBuilder(tmp_path, 1, 2)
    changes = tantivy_text.TextChanges()
    changes.deleted([2])
    changes.added([(2, "Bakery", "Harbor Foods bought it."), (3, "Ferries", "The ferry timetable changed.")])
    second.apply(changes)
    assert second.commit() == 3  # passage 2 replaced, not doubled
    second.finish()
    index = tantivy_text.TextIndex(tantivy_text.path_for(tmp_path, 2), 2)
    assert [pid for pid, _ in index.search(["bakery"], 5)] == [2]
    assert index.search(["sold"], 5) == [] and index.frequencies(["ferry", "nothing"]) == {"ferry": 1, "nothing": 0}
    assert tantivy_text.TextIndex(tantivy_text.path_for(tmp_path, 1), 1).search(["sold"], 5)  # the last one whole


async def test_an_update_commits_the_next_generation_and_the_last_still_opens(tmp_path: Path, caplog) -> None:
    settings = _settings(tmp_path)
    root = write_archive(tmp_path / "news")
    await _index(settings, root)
    before = _generation(settings)
    old_size = tantivy_text.TextIndex(tantivy_text.path_for(settings.data_dir, before), before).size
    changed = next(iter(sorted(root.glob("*.txt"))))
    changed.write_text("Zanzibar ferries\n\nThe zanzibar ferry timetable changed on Monday.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="index.storage.sqlite.write"):
        await _index(settings, root)
    assert not [record for record in caplog.records if "rebuilding" in record.getMessage()]  # patched, not rebuilt
    after = _generation(settings)
    assert after == before + 1
    # A reader of the last snapshot still opens its generation, whole (hard links, not shared files changed).
    assert tantivy_text.TextIndex(tantivy_text.path_for(settings.data_dir, before), before).size == old_size
    engine, found = await _search(settings, ["zanzibar"])
    assert engine == "tantivy" and found
    assert {pid for pid, _ in found} <= _passage_ids(settings)
    storage = await open_storage(settings, create=False)
    try:
        async with storage.reader() as reader:
            counts, total = await reader.document_frequencies(["zanzibar", "ferries timetable"])
    finally:
        await storage.close()
    assert total == len(_passage_ids(settings)) and counts["zanzibar"] == 1
    assert (await check_index(settings.data_dir, expected_model="hash:256")).ok


async def test_a_write_that_fails_after_its_generation_leaves_the_last_pair(tmp_path: Path, monkeypatch) -> None:
    """The state a crash between the tantivy rename and SQLite's COMMIT leaves: the new directory on disk,
    the database naming the last one. Questions use the last; the next write reuses the number."""
    settings = _settings(tmp_path)
    root = write_archive(tmp_path / "news")
    await _index(settings, root)
    before = _generation(settings)
    original = SqliteWrite.commit_full_text

    async def then_fail(self: SqliteWrite) -> None:
        await original(self)
        raise RuntimeError("killed before COMMIT")

    monkeypatch.setattr(SqliteWrite, "commit_full_text", then_fail)
    (root / "extra.txt").write_text("Quokka census\n\nThe quokka census counted 12,000 animals.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="killed before COMMIT"):
        await _index(settings, root)
    assert _generation(settings) == before
    assert tantivy_text.path_for(settings.data_dir, before + 1).is_dir()  # uncommitted: garbage
    engine, found = await _search(settings, ["quokka"])
    assert engine == "tantivy" and found == []  # the committed generation, not the uncommitted one

    monkeypatch.setattr(SqliteWrite, "commit_full_text", original)
    await _index(settings, root)
    assert _generation(settings) == before + 1
    engine, found = await _search(settings, ["quokka"])
    assert engine == "tantivy" and len(found) == 1
    assert (await check_index(settings.data_dir, expected_model="hash:256")).ok


async def test_a_missing_generation_falls_back_to_fts5_and_doctor_rebuilds_it(tmp_path: Path, caplog) -> None:
    settings = _settings(tmp_path)
    await _index(settings, write_archive(tmp_path / "news"))
    _, fts_found = await _search(replace(settings, full_text="fts5"), QUESTION_TERMS)
    generation = _generation(settings)
    path = tantivy_text.path_for(settings.data_dir, generation)
    for file in path.iterdir():
        file.unlink()
    path.rmdir()
    with caplog.at_level(logging.WARNING, logger=tantivy_text.__name__):
        engine, found = await _search(settings, QUESTION_TERMS)
    assert engine == "fts5" and found == fts_found
    assert any("unusable" in record.getMessage() for record in caplog.records)
    report = await check_index(settings.data_dir, expected_model="hash:256")
    assert "search_index" in {problem.code for problem in report.problems}

    repaired = await repair_index(settings.data_dir, embedder=HashEmbedder(256))
    assert repaired.ok, repaired.text()
    engine, found = await _search(settings, QUESTION_TERMS)
    assert engine == "tantivy" and found[0][0] == fts_found[0][0]


async def test_a_generation_holding_other_passages_is_not_searched_and_is_rebuilt(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    await _index(settings, write_archive(tmp_path / "news"))
    generation = _generation(settings)
    builder = tantivy_text.GenerationBuilder(settings.data_dir, generation, generation + 1)
    builder.add([(999_999, "Ghost", "a ghost passage about the harbour authority")])
    builder.commit()
    builder.finish()
    sql(settings.data_dir, "UPDATE meta SET value = ? WHERE key = ?", (str(generation + 1), tantivy_text.META_KEY))
    engine, found = await _search(settings, QUESTION_TERMS)
    assert engine == "fts5" and 999_999 not in {pid for pid, _ in found}
    report = await check_index(settings.data_dir, expected_model="hash:256")
    assert any(problem.code == "search_index" and "holds" in problem.message for problem in report.problems)
    assert (await repair_index(settings.data_dir, embedder=HashEmbedder(256))).ok
    engine, found = await _search(settings, QUESTION_TERMS)
    assert engine == "tantivy" and 999_999 not in {pid for pid, _ in found}


async def test_an_archive_indexed_before_tantivy_gets_its_generation_at_the_next_run(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    root = write_archive(tmp_path / "news")
    await _index(settings, root)
    generation = _generation(settings)
    sql(settings.data_dir, "DELETE FROM meta WHERE key = ?", (tantivy_text.META_KEY,))
    assert (await _search(settings, QUESTION_TERMS))[0] == "fts5"
    await _index(settings, root)  # nothing changed in the files: the run's one write builds it
    assert _generation(settings) == 1 and generation >= 1
    assert (await _search(settings, QUESTION_TERMS))[0] == "tantivy"
    assert (await check_index(settings.data_dir, expected_model="hash:256")).ok
