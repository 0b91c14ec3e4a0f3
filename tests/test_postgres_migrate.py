"""`migrate` copies an embedded archive into PostgreSQL without re-embedding; `doctor` checks and repairs it."""

from __future__ import annotations

import dataclasses

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from bot.cli import cli
from index import Archive, ArchiveError, Settings, check_index, repair_index
from index.operations.migrate import migrate_from_data_dir
from index.storage.postgres.storage import PostgresStorage


def _on_postgres(settings: Settings, url: str) -> Settings:
    return dataclasses.replace(settings, database_url=url)


async def _embedded_passage_vectors(archive: Archive) -> dict[int, np.ndarray]:
    async with archive._storage.reader() as reader:
        ids = list(await reader.passages(list(range(1, 10_000))))
        return await reader.passage_vectors(ids)


async def test_migrate_copies_rows_vectors_and_feedback_and_doctor_passes(seeded: Archive, postgres_url: str) -> None:
    await seeded.record_feedback(
        answer_key="k1", user_id="u1", guild_id="g", question="q?", article_ids=["a"], helpful=True
    )
    expected = (await seeded.stats()).to_dict()
    embedded = await _embedded_passage_vectors(seeded)
    storage = await PostgresStorage.open(postgres_url)
    try:
        summary = await migrate_from_data_dir(storage, seeded.settings.data_dir)
        assert (summary.articles, summary.passages, summary.sentences, summary.feedback) == (
            expected["articles"],
            expected["passages"],
            expected["sentences"],
            1,
        )
        async with storage.reader() as reader:
            copied = await reader.passage_vectors(list(embedded))
            assert reader.meta["model"] == "hash:256" and reader.meta["passage_count"] == str(expected["passages"])
        assert set(copied) == set(embedded)  # the same passage ids
        for passage_id, vector in embedded.items():  # the same vectors, to half precision
            assert float(np.dot(vector, copied[passage_id])) > 0.999
        with pytest.raises(ArchiveError, match="--replace"):
            await migrate_from_data_dir(storage, seeded.settings.data_dir)
        again = await migrate_from_data_dir(storage, seeded.settings.data_dir, replace=True)
        assert again.passages == summary.passages
    finally:
        await storage.close()
    on_postgres = _on_postgres(seeded.settings, postgres_url)
    report = await check_index(on_postgres, expected_model="hash:256")
    assert report.ok, report.text()
    assert "lexical search: pg_textsearch" in report.notes  # the test server has the extension
    copy = await Archive.open(on_postgres, embedder=seeded._embedder)
    try:
        question = "What did Obama propose to North Korea?"
        assert [q.text for q in (await copy.ask(question)).quotes] == [
            q.text for q in (await seeded.ask(question)).quotes
        ]
        stats = await copy.stats()
        assert stats.feedback == {"helpful": 1, "unhelpful": 0}
        assert "pgvector HNSW" in stats.index_type and "pg_textsearch BM25" in stats.index_type
    finally:
        await copy.close()


def test_the_migrate_command_copies_and_reports(seeded: Archive, postgres_url: str) -> None:
    on_postgres = _on_postgres(seeded.settings, postgres_url)
    result = CliRunner().invoke(
        cli, ["migrate", "--from-data-dir", str(seeded.settings.data_dir), "--json"], obj={"settings": on_postgres}
    )
    assert result.exit_code == 0, result.output
    assert '"articles": 1' in result.output
    result = CliRunner().invoke(cli, ["doctor"], obj={"settings": on_postgres})
    assert result.exit_code == 0, result.output
    assert (
        "rows, vectors and full text agree" in result.output
        and postgres_url.split("?")[0].split("@")[-1] in result.output
    )


async def test_doctor_finds_and_repairs_vectors_and_words_that_disagree_with_rows(
    seeded: Archive, postgres_url: str
) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        await migrate_from_data_dir(storage, seeded.settings.data_dir)
    finally:
        await storage.close()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        dimension = int(seeded._storage.meta["dimension"])
        wrong = "[" + ",".join(["0.1"] * dimension) + "]"
        connection.execute(
            "UPDATE passages SET embedding = %s::halfvec WHERE id = (SELECT min(id) FROM passages)", (wrong,)
        )
        connection.execute(
            "INSERT INTO postings (lexeme, passage_id, frequency, length) SELECT 'nothing', max(id), 1, 1 FROM passages"
        )
        connection.execute("DELETE FROM postings WHERE passage_id = (SELECT min(id) + 1 FROM passages)")
        connection.execute("UPDATE passages SET words = 'nothing' WHERE id = (SELECT min(id) + 2 FROM passages)")
    on_postgres = _on_postgres(seeded.settings, postgres_url)
    report = await check_index(on_postgres)
    assert {p.code for p in report.problems} == {"wrong_vectors", "stale_fts", "missing_fts"}, report.text()
    repaired = await repair_index(on_postgres)
    assert repaired.ok, repaired.text()
    assert repaired.repaired
    storage = await PostgresStorage.open(postgres_url)
    try:
        async with storage.reader() as reader:
            assert await reader.lexical_passages(["nothing"], 5) == []  # the postings and the BM25 index's words
    finally:
        await storage.close()
