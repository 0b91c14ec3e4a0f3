"""The PostgreSQL storage on a real server (pgserver): schema, snapshots, the reindex lock, clear errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import psycopg
import pytest

from index import ConfigurationError, IndexBusyError, IndexMismatchError
from index._errors import ArchiveUnavailableError
from index._models import ParsedArticle
from index._rows import Filters, NewArticleRow, NewPassage, NewSentence
from index.reading.text import build_passages, split_sentences
from index.storage import passage_vector
from index.storage.postgres.codec import HalfVector
from index.storage.postgres.storage import PostgresStorage
from index.storage.postgres.url import parse_database_url

BODY = (
    "The council approved a new bridge over the river on Monday. Construction will cost 12 million pounds. "
    "Residents welcomed the decision after years of delays. The mayor said work starts in spring. "
    "Critics warned that traffic would grow during the works."
)


def _article(article_id: str, title: str, body: str = BODY) -> ParsedArticle:
    return ParsedArticle(
        article_id,
        f"test/{article_id}",
        f"/archive/{article_id}.txt",
        title,
        False,
        "Test",
        "2024-05-01",
        None,
        None,
        None,
        body,
        f"hash-{article_id}-{len(body)}",
    )


def _rows(body: str, dimension: int = 8) -> tuple[list[NewSentence], list[NewPassage]]:
    generator = np.random.default_rng(len(body))
    spans = split_sentences(body)
    sentences = [
        NewSentence(
            i, s.start, s.end, f"h{i}-{body[s.start : s.end]}", generator.normal(size=dimension).astype(np.float32)
        )
        for i, s in enumerate(spans)
    ]
    passages = [
        NewPassage(i, p.start, p.end, p.first_sentence, p.last_sentence, body[p.start : p.end])
        for i, p in enumerate(build_passages(spans, 3))
    ]
    return sentences, passages


async def _insert(storage: PostgresStorage, article: ParsedArticle, body_hash: str | None = None) -> list[int]:
    sentences, passages = _rows(article.body)
    title = np.ones(8, np.float32)
    vectors = np.stack(
        [passage_vector([s.vector for s in sentences[p.first_sentence : p.last_sentence + 1]], title) for p in passages]
    )
    async with storage.index_session() as session, session.write() as write:
        ids = await write.insert_article(
            NewArticleRow(
                article,
                fingerprint="f",
                body_hash=body_hash or article.content_hash,
                title_vector=title,
                indexed_at="2024-05-02",
                sentences=sentences,
                passages=passages,
                passage_vectors=vectors,
            )
        )
        await write.commit_vectors(model="test-model", dimension=8, factory="")
    return ids


async def test_rows_vectors_and_words_round_trip(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        ids = await _insert(storage, _article("a1", "Bridge approved"))
        await _insert(storage, _article("a2", "Weather report", "Rain is expected tomorrow. Winds will be strong."))
        async with storage.reader() as reader:
            assert reader.meta["passage_count"] == str(len(ids) + 1)
            vectors = await reader.passage_vectors(ids)
            assert set(vectors) == set(ids)
            nearest = await reader.nearest_passages(vectors[ids[0]], 3)
            assert nearest[0] == ids[0]
            frequencies, total = await reader.document_frequencies(["bridge", "bridges", "rain", "zebra"])
            assert frequencies == {"bridge": len(ids), "bridges": len(ids), "rain": 1, "zebra": 0}  # stemmed
            assert total == len(ids) + 1
            lexical = await reader.lexical_passages(["bridge", "rain"], 10)
            assert {pid for pid, _ in lexical} >= set(ids) and all(score > 0 for _, score in lexical)
            titles = await reader.lexical_titles(["weather"], 5)
            assert [article_id for article_id, _ in titles] == ["a2"]
            passages = await reader.passages(ids)
            articles = await reader.articles_by_rows([p.article_row for p in passages.values()])
            (article,) = articles.values()
            assert article.article_id == "a1" and article.body == BODY
            sentences = await reader.sentences_of(list(articles))
            assert [s.ordinal for s in sentences[article.row]] == list(range(len(split_sentences(BODY))))
    finally:
        await storage.close()


async def test_a_second_writer_is_refused_with_a_clear_message(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    try:
        async with storage.index_session():
            with pytest.raises(IndexBusyError, match="another reindex is already running on this database"):
                async with storage.index_session():
                    pass
        async with storage.index_session():  # released when the first one ended
            pass
    finally:
        await storage.close()


async def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    storage = await PostgresStorage.open(postgres_url)
    await storage.close()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("INSERT INTO archivebot_schema (version, description) VALUES (99, 'from the future')")
    with pytest.raises(IndexMismatchError, match="version 99"):
        await PostgresStorage.open(postgres_url)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://archive:hunter2secret@db/archive",
        "postgresql://archive:hunter2secret@db:99999/archive",
        "postgresql://archive:hunter2secret@db/",
        "postgresql://archive:hunter2secret@db/archive?sslmod=require",
    ],
)
async def test_a_malformed_url_is_refused_before_connecting_without_its_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await PostgresStorage.open(url)
    assert "hunter2secret" not in str(caught.value)
    assert "ARCHIVEBOT_DATABASE_URL" in str(caught.value)


async def test_an_unreachable_server_is_unavailable_not_a_crash(tmp_path) -> None:
    url = f"postgresql://archive:hunter2secret@/archive?host={tmp_path}"
    with pytest.raises(ArchiveUnavailableError) as caught:
        await PostgresStorage.open(url)
    assert "hunter2secret" not in str(caught.value) and "unavailable" in str(caught.value)


async def test_a_wrong_password_is_named(postgres_server, postgres_url: str) -> None:
    if not postgres_server.restartable:
        pytest.skip("needs the private test server (its authentication rules are changed)")
    hba = postgres_server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    postgres_server.execute("CREATE ROLE archive_login LOGIN PASSWORD 'right-password'")
    try:
        hba.write_text("local all archive_login scram-sha-256\n" + original)
        postgres_server.execute("SELECT pg_reload_conf()")
        parts = parse_database_url(postgres_url)
        wrong = parts.conninfo.replace("postgres:@", "archive_login:hunter2secret@")
        with pytest.raises(ConfigurationError, match="refused the password") as caught:
            await PostgresStorage.open(wrong)
        assert "hunter2secret" not in str(caught.value)
    finally:
        hba.write_text(original)
        postgres_server.execute("SELECT pg_reload_conf()")
        postgres_server.execute("DROP ROLE archive_login")


async def test_rows_sent_by_copy_in_batches_become_visible_together_at_commit(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index.storage.postgres import write as write_module

    monkeypatch.setattr(write_module, "FLUSH_PASSAGES", 2)  # several COPY batches inside one write
    storage = await PostgresStorage.open(postgres_url)
    try:
        await _insert(storage, _article("a0", "Bridge approved"))
        bodies = {
            f"b{i}": f"Story {i} about the harbour. Boats left at dawn. Fish prices rose {i} percent." for i in range(3)
        }
        async with storage.index_session() as session, session.write() as write:
            ids: list[int] = []
            for key, body in bodies.items():
                sentences, passages = _rows(body)
                vectors = np.stack(
                    [passage_vector([s.vector for s in sentences[p.first_sentence : p.last_sentence + 1]], None)
                     for p in passages]
                )  # fmt: skip
                ids += await write.insert_article(
                    NewArticleRow(_article(key, f"Harbour {key}", body), fingerprint="f", body_hash=key,
                                  title_vector=None, indexed_at="2024-05-02", sentences=sentences,
                                  passages=passages, passage_vectors=vectors)
                )  # fmt: skip
            assert len(write._pending) < len(bodies)  # batches already sent
            async with storage.reader() as reader:  # another connection: nothing of this write yet
                assert await reader.passages(ids) == {}
            await write.commit_vectors(model="test-model", dimension=8, factory="")
        async with storage.reader() as reader:
            assert set(await reader.passages(ids)) == set(ids)
            found = {pid for pid, _ in await reader.lexical_passages(["harbour"], 20)}
            assert found == set(ids)
            frequencies, _ = await reader.document_frequencies(["harbour"])
            assert frequencies == {"harbour": len(ids)}
    finally:
        await storage.close()


async def test_a_filtered_vector_search_scans_on_until_enough_passages_pass_the_filter(postgres_url: str) -> None:
    """`nearest_passages(..., within=filters)`: the nearest passages of the allowed articles (source contained,
    case-insensitively; dates inclusive), found by the HNSW index scanned iteratively even when every
    passage its first `ef_search` candidates hold is filtered out."""
    storage = await PostgresStorage.open(postgres_url)
    try:
        articles = [
            replace(
                _article(f"c{n}", f"Courier story {n}", f"{BODY} Story number {n} of the Courier."), source="Courier"
            )
            for n in range(60)
        ]
        articles += [
            replace(
                _article(f"g{n}", f"Gazette story {n}", f"{BODY} Gazette {n}."),
                source="Evening Gazette",
                published="2024-06-10",
            )
            for n in range(2)
        ]
        rows: dict[str, list[int]] = {}
        for article in articles:
            rows[article.article_id] = await _insert(storage, article)
        gazette = {pid for article_id, ids in rows.items() if article_id.startswith("g") for pid in ids}
        async with storage.reader() as reader:
            vectors = await reader.passage_vectors([pid for ids in rows.values() for pid in ids])
            query = vectors[rows["c0"][0]].astype(np.float32)
            cosine = {
                pid: float(np.dot(v, query) / np.linalg.norm(v) / np.linalg.norm(query)) for pid, v in vectors.items()
            }
            exact = sorted(cosine, key=lambda pid: -cosine[pid])
            assert not set(exact[:10]) & gazette  # the allowed passages are far from the question
            await reader._rows("SELECT set_config('enable_seqscan', 'off', true)")  # the HNSW index: not a scan,
            await reader._rows("SELECT set_config('enable_sort', 'off', true)")  # not an exact sort of 190 rows
            await reader._rows("SELECT set_config('hnsw.ef_search', '10', true)")  # 10 candidates a round
            found = await reader.nearest_passages(query, 10, Filters(source="gazette"))
            by_date = await reader.nearest_passages(query, 10, Filters(after="2024-06-01", before="2024-06-30"))
            neither = await reader.nearest_passages(query, 5, Filters(source="gazette", before="2024-05-31"))
            courier = await reader.nearest_passages(query, 5, Filters(source="COURIER", before="2024-05-01"))
            unfiltered = await reader.nearest_passages(query, 5)

        def distances(ids: list[int]) -> list[float]:  # several passages share a vector here: ties in any order
            return [round(cosine[pid], 3) for pid in ids]

        assert set(found) == gazette and distances(found) == distances([pid for pid in exact if pid in gazette])
        assert by_date == found and neither == []
        assert distances(courier) == distances(exact[:5])
        assert not set(unfiltered) & gazette
    finally:
        await storage.close()


async def test_the_vector_index_holds_one_copy_of_each_text_and_the_next_oldest_when_it_goes(
    postgres_url: str,
) -> None:
    """Syndicated copies (one body, `body_hash`) are one text in the HNSW index: its oldest article's
    passages; the others are found through it (cited as copies). Deleting the oldest puts the next in."""
    storage = await PostgresStorage.open(postgres_url)
    try:
        first = await _insert(storage, _article("c1", "Bridge approved"), body_hash="same-body")
        second = await _insert(storage, _article("c2", "Bridge approved (copy)"), body_hash="same-body")
        other = await _insert(storage, _article("o1", "Weather", "Rain is expected tomorrow. Winds will be strong."))
        async with storage.reader() as reader:
            vectors = await reader.passage_vectors(first + second)
            found = await reader.nearest_passages(vectors[second[0]].astype(np.float32), 10)
            await reader._rows("SELECT set_config('enable_seqscan', 'off', true)")  # 6 rows: a scan is cheaper
            plan = await reader._rows(
                "EXPLAIN SELECT id FROM passages WHERE first_copy ORDER BY embedding <=> %s LIMIT 10",
                (HalfVector(vectors[first[0]]),),
            )
        assert set(found) == set(first) | set(other)  # the copy's passages are not in the index
        assert "passages_embedding" in " ".join(str(row[0]) for row in plan)  # the partial index answers
        async with storage.index_session() as session, session.write() as write:
            (row,) = (await write._fetch("SELECT id FROM articles WHERE article_id = 'c1'"))[0]
            await write.delete_articles([int(row)])
            await write.commit_vectors(model="test-model", dimension=8, factory="")
        async with storage.reader() as reader:
            found = await reader.nearest_passages(vectors[second[0]].astype(np.float32), 10)
        assert set(found) == set(second) | set(other)
        third = await _insert(storage, _article("c3", "Bridge approved (third)"), body_hash="same-body")
        async with storage.reader() as reader:
            found = await reader.nearest_passages(vectors[second[0]].astype(np.float32), 10)
        assert set(found) == set(second) | set(other) and not set(found) & set(third)
    finally:
        await storage.close()
