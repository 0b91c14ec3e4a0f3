"""`migrate` copies an embedded archive into PostgreSQL without re-embedding; `doctor` checks and repairs it."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from index import Archive, ArchiveError
from index._storage._postgres import PostgresStorage
from index._storage._postgres_doctor import check, repair
from index._storage._postgres_migrate import migrate_from_data_dir
from index._store import Store
from index._vectors import VectorIndex


async def _embedded_passage_vectors(archive: Archive) -> dict[int, np.ndarray]:
    meta = await archive._store.get_meta()
    vectors = VectorIndex.load(archive.settings.data_dir, int(meta["generation"]), meta.get("index_factory", "Flat"))
    store: Store = archive._store
    return vectors.reconstruct(await store.all_passage_ids())


async def test_migrate_copies_rows_vectors_and_feedback_and_doctor_passes(seeded: Archive, postgres_url: str) -> None:
    await seeded.record_feedback(
        answer_key="k1", user_id="u1", guild_id="g", question="q?", article_ids=["a"], helpful=True
    )
    expected = await seeded._store.counts()
    embedded = await _embedded_passage_vectors(seeded)
    storage = await PostgresStorage.open(postgres_url)
    try:
        summary = await migrate_from_data_dir(storage, seeded.settings.data_dir)
        assert (summary.articles, summary.passages, summary.sentences) == (
            expected["articles"],
            expected["passages"],
            expected["sentences"],
        )
        assert summary.feedback == 1 and await storage.feedback_counts() == {"helpful": 1, "unhelpful": 0}
        async with storage.reader() as reader:
            copied = await reader.passage_vectors(list(embedded))
            assert reader.meta["model"] == "hash:256" and reader.meta["passage_count"] == str(expected["passages"])
        assert set(copied) == set(embedded)  # the same passage ids
        for passage_id, vector in embedded.items():  # the same vectors, to half precision
            assert float(np.dot(vector, copied[passage_id])) > 0.999
        report = await check(storage, expected_model="hash:256")
        assert report.ok, report.text()
        with pytest.raises(ArchiveError, match="--replace"):
            await migrate_from_data_dir(storage, seeded.settings.data_dir)
        again = await migrate_from_data_dir(storage, seeded.settings.data_dir, replace=True)
        assert again.passages == summary.passages and (await storage.counts())["passages"] == summary.passages
    finally:
        await storage.close()


async def test_doctor_finds_and_repairs_vectors_and_words_that_disagree_with_rows(
    seeded: Archive, postgres_url: str
) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        await migrate_from_data_dir(storage, seeded.settings.data_dir)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            dimension = int(seeded._meta["dimension"])
            wrong = "[" + ",".join(["0.1"] * dimension) + "]"
            connection.execute(
                "UPDATE passages SET embedding = %s::halfvec WHERE id = (SELECT min(id) FROM passages)", (wrong,)
            )
            connection.execute(
                "INSERT INTO postings (lexeme, passage_id, frequency, length)"
                " SELECT 'nothing', max(id), 1, 1 FROM passages"
            )
            connection.execute("DROP INDEX passages_embedding")
            connection.execute("UPDATE meta SET value = '1' WHERE key = 'token_total'")
        report = await check(storage)
        assert {p.code for p in report.problems} == {"wrong_vectors", "stale_terms", "vector_index", "totals"}
        repaired = await repair(storage)
        assert repaired.ok, repaired.text()
        assert len(repaired.repaired) == 4
        async with storage.reader() as reader:
            assert await reader.lexical_passages(["nothing"], 5) == []
    finally:
        await storage.close()
