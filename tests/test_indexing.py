"""Storage and incremental reindexing: rows, offsets, FTS and FAISS agree; only changed articles are embedded."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_FILE
from storage_queries import archive_rows

from index import Archive, ArticleNotFoundError, HashEmbedder, IndexNotBuiltError, Progress, Settings
from index.reading.text import build_passages, split_sentences
from index.storage import open_storage
from index.storage.faiss_vectors import SearchParameters, VectorIndex
from index.storage.layout import DATABASE_FILE
from index.storage.sqlite import schema
from index.storage.sqlite.read import SqliteReader
from index.storage.sqlite.vectors import ServedVectors

SUMMARY_KEYS = {"added", "updated", "removed", "unchanged", "skipped", "passages_embedded", "seconds"}

ARTICLES = {
    "business/rates.txt": (
        "Bank holds interest rates\n\n"
        "The Bank of England kept interest rates at 4.75% on Thursday. Economists had expected the decision.\n\n"
        "The central bank said inflation remained close to its target. Mortgage lenders welcomed the news."
    ),
    "sport/marathon.txt": (
        "Runner wins city marathon\n\n"
        "Kenyan runner Paul Tergat won the city marathon in two hours and five minutes. He broke the course record.\n\n"
        "Thousands of spectators lined the route along the river. Organisers praised the volunteers."
    ),
    "tech/phones.txt": (
        "Phone sales climb again\n\n"
        "Sales of mobile phones with cameras rose sharply last year, a survey found. "
        "Nokia remained the market leader.\n\n"
        "Analysts said cheaper handsets drove the growth in Asia. Battery life is still the main complaint."
    ),
    "entertainment/film.txt": (
        "Fantasy film tops box office\n\n"
        "The wizard fantasy film took $40m in its opening weekend at the North American box office.\n\n"
        "The studio said a sequel was already being filmed in New Zealand. Critics gave it mixed reviews."
    ),
}


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    """A small writable archive: four BBC-shaped articles and the seed."""
    root = tmp_path / "archive"
    for relative, text in ARTICLES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    (root / "seeds").mkdir()
    shutil.copy(SEED_FILE, root / "seeds" / SEED_FILE.name)
    return root


@pytest.fixture
async def indexed(archive: Archive, archive_dir: Path) -> Archive:
    await archive.reindex([archive_dir])
    return archive


async def consistency(settings: Settings) -> dict:
    """Open the data directory independently and check that SQLite, FTS and FAISS agree. Returns figures."""
    storage = await open_storage(settings, create=False)
    try:
        async with storage.check() as check:
            meta = check.meta
            passage_ids = sorted(await check.passage_ids())
            full_text = await check.full_text()
        assert not full_text.missing and not full_text.orphan, "FTS rows are not the passage rows"
        vectors = VectorIndex.load(settings.data_dir, int(meta["generation"]), meta.get("index_factory", "Flat"))
        faiss_ids = sorted(int(i) for i in vectors.ids())
        assert faiss_ids == passage_ids, "FAISS ids are not the passage row ids"
        assert vectors.dimension == int(meta["dimension"])
        rows = [row for (row,) in archive_rows(settings.data_dir, "SELECT id FROM articles")]
        async with storage.reader() as reader:
            articles = await reader.articles_by_rows(rows)
            sentences = await reader.sentences_of(rows)
            passages = await reader.passages(passage_ids)
        for row, article in articles.items():
            spans = sentences.get(row, [])
            assert spans, f"article {article.article_id} has no sentences"
            assert [s.ordinal for s in spans] == list(range(len(spans)))
            expected = split_sentences(article.body)
            assert [(s.start, s.end) for s in spans] == [(e.start, e.end) for e in expected]
            for sentence in spans:
                text = article.body[sentence.start : sentence.end]
                assert text and text == text.strip()
        for passage in passages.values():
            article = articles[passage.article_row]
            spans = sentences[passage.article_row]
            assert passage.start == spans[passage.first_sentence].start
            assert passage.end == spans[passage.last_sentence].end
        texts = archive_rows(  # the passage text as SQLite cuts it out of the body (what the FTS rows hold)
            settings.data_dir,
            "SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
            " JOIN articles a ON a.id = p.article_row",
        )
        for passage_id, title, text in texts:
            passage = passages[passage_id]
            assert text == articles[passage.article_row].body[passage.start : passage.end]
            assert title == articles[passage.article_row].title
        return {
            "meta": meta,
            "articles": {a.article_id: a for a in articles.values()},
            "passages_by_article": {
                articles[row].article_id: sorted(pid for pid, p in passages.items() if p.article_row == row)
                for row in rows
            },
            "faiss": vectors,
        }
    finally:
        await storage.close()


async def fts_hits(settings: Settings, word: str) -> list[int]:
    """The passages whose full-text row matches `word`, read with plain sqlite3: an error fails the test
    (the store's own search answers [] on any FTS error, which would make "not found" mean nothing)."""
    uri = (settings.data_dir / DATABASE_FILE).as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        rows = connection.execute("SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?", (f'"{word}"',))
        return sorted(row for (row,) in rows)


# ---- storage -----------------------------------------------------------------------------------------------


async def test_first_index_stores_every_article_consistently(
    archive: Archive, archive_dir: Path, settings: Settings
) -> None:
    summary = await archive.reindex([archive_dir])
    data = summary.to_dict()
    assert set(data) >= SUMMARY_KEYS
    assert (summary.added, summary.updated, summary.removed, summary.unchanged, summary.skipped) == (5, 0, 0, 0, 0)
    state = await consistency(settings)
    assert len(state["articles"]) == 5
    total_passages = sum(len(ids) for ids in state["passages_by_article"].values())
    assert summary.passages_embedded == total_passages > 5
    assert state["meta"]["model"] == "hash:256"
    assert state["meta"]["dimension"] == "256"
    assert "schema_version" in state["meta"]
    stats = await archive.stats()
    assert (stats.articles, stats.passages) == (5, total_passages)
    assert stats.model == "hash:256" and stats.dimension == 256
    assert stats.last_indexed


async def test_reindex_reports_progress_by_phase(archive: Archive, archive_dir: Path) -> None:
    reports = []
    await archive.reindex([archive_dir], progress=reports.append)
    phases = [report.phase for report in reports]
    assert phases[0] == "scan" and phases[-1] == "done"
    assert {"scan", "embed", "commit"} <= set(phases)
    embed = [report for report in reports if report.phase == "embed"]
    assert embed[-1].done == embed[-1].total > 0
    assert all(0 <= report.done <= report.total for report in reports)
    scan = [report for report in reports if report.phase == "scan"]
    assert scan[-1].done == scan[-1].total == 5
    elapsed = [report.elapsed for report in reports]
    assert elapsed == sorted(elapsed)


async def test_a_chunked_run_reports_each_commit_of_the_run(archive: Archive, archive_dir: Path) -> None:
    """Progress of a run in several commits counts the commits (with the run's ETA) and names the chunk of
    every phase report, so a long first build is never a silent string of short phases."""
    archive.settings = dataclasses.replace(archive.settings, index_chunk_articles=2)
    reports = []
    await archive.reindex([archive_dir], progress=reports.append)
    commits = [(r.done, r.total) for r in reports if r.phase == "commit"]
    assert commits == [(0, 3), (1, 3), (1, 3), (2, 3), (2, 3), (3, 3)]  # 5 articles in commits of 2: 3 commits
    assert {r.detail for r in reports if r.phase in {"embed", "commit"}} == {f"chunk {n} of 3" for n in (1, 2, 3)}
    finished = [r for r in reports if r.phase == "commit" and r.done]
    assert all(r.eta is not None for r in finished[:-1]) and finished[-1].eta == 0
    # The share (and so the ETA) counts articles, not chunks: 2 + 2 + 1 articles are 40%, 80%, 100%.
    assert [round(r.share, 2) for r in finished] == [0.4, 0.4, 0.8, 0.8, 1.0]  # each chunk: starting, committed


def test_a_short_last_chunk_is_a_small_share_of_the_run() -> None:
    """2,000 articles then 95: after the first commit 95% is done and the ETA is a twentieth of the time
    spent, not as long again (it said "about 2m 09s left" when about 10 s remained)."""
    from index.indexing.embed import Reporter

    reports: list[Progress] = []
    report = Reporter(reports.append)
    report("commit", 1, 2, "chunk 1 of 2", fraction=2000 / 2095)
    assert reports[-1].share == pytest.approx(0.9547, abs=1e-4)
    assert reports[-1].eta is not None and reports[-1].eta < 0.05 * reports[-1].elapsed + 1e-3


async def test_passages_follow_the_configured_size(archive: Archive, archive_dir: Path, settings: Settings) -> None:
    await archive.reindex([archive_dir])
    state = await consistency(settings)
    seed = next(a for a in state["articles"].values() if a.location.endswith(SEED_FILE.name))
    expected = build_passages(split_sentences(seed.body), settings.passage_sentences)
    assert len(state["passages_by_article"][seed.article_id]) == len(expected)


async def test_fts_and_vectors_find_the_right_passage(indexed: Archive, settings: Settings) -> None:
    state = await consistency(settings)
    marathon = next(a for a in state["articles"].values() if a.title == "Runner wins city marathon")
    hits = await fts_hits(settings, "Tergat")
    assert hits and set(hits) <= set(state["passages_by_article"][marathon.article_id])
    embedder = HashEmbedder(256)
    query = embedder.embed(["Kenyan runner Paul Tergat won the city marathon"])
    _, ids = state["faiss"].search(query, 1)
    assert int(ids[0][0]) in state["passages_by_article"][marathon.article_id]


async def test_passage_vector_sources_take_any_number_of_ids(indexed: Archive, settings: Settings) -> None:
    """The doctor asks for the vectors of every passage missing from FAISS: possibly more than SQLite binds."""
    # A backend-internal query (the doctor's repair reads it on the write's connection): the embedded backend's
    # own connection, with SQLite's usual cap on bound parameters (builds differ: 999, 32766, 250000).
    db = await schema.open_database(settings.data_dir / DATABASE_FILE, create=False)
    try:
        await db._execute(lambda: db._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999))
        everything = [(pid, vectors, title) async for pid, vectors, title in schema.passage_vector_sources(db)]
        ids = [pid for pid, _, _ in everything]
        wanted = list(range(1, 40_001))  # every real id, and many that don't exist
        chosen = [(pid, vectors, title) async for pid, vectors, title in schema.passage_vector_sources(db, wanted)]
        assert chosen == everything
        some = ids[::2]
        assert [pid async for pid, _, _ in schema.passage_vector_sources(db, list(reversed(some)))] == some
        passages = await SqliteReader(db, {}, ServedVectors(settings.data_dir, SearchParameters())).passages(ids)
        for pid, vectors, title in everything:
            assert len(vectors) == passages[pid].last_sentence - passages[pid].first_sentence + 1
            assert title is not None
    finally:
        await db.close()


async def test_a_questions_two_sides_load_the_vector_file_once(
    indexed: Archive, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retrieval asks for the vectors from its dense and lexical sides at once: one load, not two copies.
    import index.storage.sqlite.vectors as served_vectors

    loads: list[object] = []
    original = served_vectors.load_generation

    def counted(*args: object) -> VectorIndex:
        loads.append(args)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(served_vectors, "load_generation", counted)
    served = ServedVectors(settings.data_dir, SearchParameters())
    db = await schema.open_database(settings.data_dir / DATABASE_FILE, create=False)
    try:
        meta = dict(indexed._storage.meta)
        first, second = await asyncio.gather(served.of(db, meta), served.of(db, meta))
        assert first is second and len(loads) == 1
    finally:
        await db.close()


async def test_boilerplate_is_not_indexed(indexed: Archive, archive_dir: Path, settings: Settings) -> None:
    source = (archive_dir / "seeds" / SEED_FILE.name).read_text(encoding="utf-8")
    state = await consistency(settings)
    seed = next(a for a in state["articles"].values() if a.location.endswith(SEED_FILE.name))
    assert await fts_hits(settings, "liaison")  # the seed's own words are found
    for word in ("Copyright", "Spot.im", "reprint", "permission", "Hide"):
        assert word in source, word  # the seed file carries this boilerplate...
        assert word not in seed.body, word  # ...the stored article does not...
        assert await fts_hits(settings, word) == [], word  # ...and neither does the full-text index


async def test_article_lookup_by_id_and_title(indexed: Archive, settings: Settings) -> None:
    state = await consistency(settings)
    for article_id, stored in state["articles"].items():
        article = await indexed.article(article_id)
        assert article.body == stored.body
        assert article.title == stored.title
    assert (await indexed.article("Runner wins city marathon")).title == "Runner wins city marathon"
    with pytest.raises(ArticleNotFoundError):
        await indexed.article("0000000000000000")


async def test_title_lookup_treats_like_wildcards_literally(archive: Archive, tmp_path: Path) -> None:
    root = tmp_path / "titles"
    root.mkdir()
    (root / "a.txt").write_text("Rates rise 50% in a year\n\nRates rose by half over the year.\n")
    (root / "b.txt").write_text("Rates rise 50 points in a year\n\nRates rose by fifty points.\n")
    (root / "c.txt").write_text("snake_case names spread\n\nProgrammers like underscores.\n")
    (root / "d.txt").write_text("snakeXcase names spread\n\nAnother story entirely.\n")
    await archive.reindex([root])
    assert (await archive.article("rise 50%")).title == "Rates rise 50% in a year"
    assert (await archive.article("snake_case")).title == "snake_case names spread"
    assert [hit.title for hit in await archive.suggest_titles("50%")] == ["Rates rise 50% in a year"]
    with pytest.raises(ArticleNotFoundError, match="no article"):
        await archive.article("rise %")  # as a LIKE pattern it would match both "rise 50..." titles


async def test_title_suggestions_with_no_text_list_the_latest_articles(archive: Archive, tmp_path: Path) -> None:
    root = tmp_path / "dated"
    root.mkdir()
    for name, date, title in [
        ("a", "2001-05-01", "Old story"),
        ("b", "2010-01-02", "Newest story"),
        ("c", None, "Undated story"),
        ("d", "2005-03-04", "Middle story"),
    ]:
        front = f"---\ntitle: {title}\n" + (f"date: {date}\n" if date else "") + "---\n\n"
        (root / f"{name}.md").write_text(front + f"The {title.lower()} happened.\n")
    await archive.reindex([root])
    titles = [hit.title for hit in await archive.suggest_titles("")]
    assert titles == ["Newest story", "Middle story", "Old story", "Undated story"]
    assert [hit.title for hit in await archive.suggest_titles("", limit=2)] == ["Newest story", "Middle story"]
    assert [hit.title for hit in await archive.suggest_titles("story", limit=10)][:1] != []


async def test_asking_before_indexing_is_a_typed_error(archive: Archive) -> None:
    with pytest.raises(IndexNotBuiltError):
        await archive.ask("What did Obama propose to North Korea?")
    with pytest.raises(IndexNotBuiltError):
        await archive.search("north korea")


async def test_an_encoder_failure_is_what_ask_and_search_report(
    indexed: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The question is encoded while retrieval's full-text side runs: its failure must still be the error raised.
    class EncoderDown(RuntimeError):
        pass

    async def failing(embedder: object, texts: Sequence[str]) -> np.ndarray:
        await asyncio.sleep(0.01)  # fails after the full-text side has started
        raise EncoderDown("the encoder is down")

    monkeypatch.setattr("index._archive.mean_vector", failing)
    with pytest.raises(EncoderDown):
        await indexed.ask("What did Obama propose to North Korea?")
    with pytest.raises(EncoderDown):
        await indexed.search("north korea")
    monkeypatch.undo()
    assert (await indexed.ask("What did Obama propose to North Korea?")).question  # the archive still answers


async def test_unrelated_question_on_a_one_passage_archive_is_not_answered(archive: Archive, tmp_path: Path) -> None:
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "a.txt").write_text("Bank holds rates\n\nThe Bank of England kept interest rates at 4.75 percent.\n")
    await archive.reindex([root])
    answer = await archive.ask("Who won the football match?")
    assert answer.answered is False and answer.quotes == ()


# ---- incremental reindexing --------------------------------------------------------------------------------


async def test_unchanged_archive_embeds_nothing(
    indexed: Archive, archive_dir: Path, settings: Settings, hash_embedder: HashEmbedder
) -> None:
    before = await consistency(settings)
    texts_before = hash_embedder.texts_embedded
    summary = await indexed.reindex([archive_dir])
    assert hash_embedder.texts_embedded == texts_before
    assert (summary.added, summary.updated, summary.removed, summary.unchanged, summary.passages_embedded) == (
        0,
        0,
        0,
        5,
        0,
    )
    after = await consistency(settings)
    assert after["passages_by_article"] == before["passages_by_article"]
    assert after["meta"]["generation"] == before["meta"]["generation"]


async def test_touched_but_unchanged_file_embeds_nothing(
    indexed: Archive, archive_dir: Path, settings: Settings, hash_embedder: HashEmbedder
) -> None:
    path = archive_dir / "sport" / "marathon.txt"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    texts_before = hash_embedder.texts_embedded
    summary = await indexed.reindex([archive_dir])
    assert hash_embedder.texts_embedded == texts_before
    assert (summary.unchanged, summary.updated, summary.passages_embedded) == (5, 0, 0)
    # The new fingerprint was recorded: the next run does not even read the file.
    assert (await indexed.reindex([archive_dir])).unchanged == 5


async def test_changing_one_file_re_embeds_only_that_article(
    indexed: Archive, archive_dir: Path, settings: Settings, hash_embedder: HashEmbedder
) -> None:
    before = await consistency(settings)
    path = archive_dir / "tech" / "phones.txt"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "Battery life is still the main complaint.", "Screen quality is now the main complaint."
        ),
        encoding="utf-8",
    )
    texts_before = hash_embedder.texts_embedded
    summary = await indexed.reindex([archive_dir])
    embedded = hash_embedder.texts_embedded - texts_before
    after = await consistency(settings)
    phones = next(a for a in after["articles"].values() if a.title == "Phone sales climb again")
    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 1, 0, 4)
    assert summary.passages_embedded == len(after["passages_by_article"][phones.article_id])
    # Only the changed sentence is new text (the title may be embedded again): the other sentences are reused.
    assert 1 <= embedded <= 2
    for article_id, ids in before["passages_by_article"].items():
        if article_id != phones.article_id:
            assert after["passages_by_article"][article_id] == ids  # untouched rows, untouched vectors
    assert not set(after["passages_by_article"][phones.article_id]) & set(
        before["passages_by_article"][phones.article_id]
    )
    assert await fts_hits(settings, "Battery") == []
    assert await fts_hits(settings, "Screen")
    answer = await indexed.ask("What is now the main complaint about phones?")
    assert any("Screen quality" in quote.text for quote in answer.quotes)
    assert not any("Battery" in quote.text for quote in answer.quotes)


async def test_deleting_a_file_removes_it_everywhere(indexed: Archive, archive_dir: Path, settings: Settings) -> None:
    before = await consistency(settings)
    seed = next(a for a in before["articles"].values() if a.location.endswith(SEED_FILE.name))
    question = "What did Obama propose to North Korea?"
    assert any(q.article_id == seed.article_id for q in (await indexed.ask(question)).quotes)
    assert seed.article_id in [hit.article_id for hit in await indexed.search("Obama liaison office North Korea")]

    (archive_dir / "seeds" / SEED_FILE.name).unlink()
    summary = await indexed.reindex([archive_dir])
    assert (summary.removed, summary.unchanged, summary.added, summary.passages_embedded) == (1, 4, 0, 0)

    after = await consistency(settings)
    assert seed.article_id not in after["articles"]
    faiss_ids = set(int(i) for i in after["faiss"].ids())
    assert not faiss_ids & set(before["passages_by_article"][seed.article_id])
    assert await fts_hits(settings, "Pyongyang") == []
    answer = await indexed.ask(question)
    assert all(q.article_id != seed.article_id for q in answer.quotes)
    assert all(hit.article_id != seed.article_id for hit in answer.closest)
    assert seed.article_id not in [hit.article_id for hit in await indexed.search("Obama liaison office North Korea")]
    with pytest.raises(ArticleNotFoundError):
        await indexed.article(seed.article_id)


async def test_a_second_archive_object_sees_the_deletion(
    indexed: Archive, archive_dir: Path, settings: Settings
) -> None:
    """Another process (here: another Archive on the same data directory) answers from the new state."""
    other = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        question = "Who won the city marathon?"
        assert any("Tergat" in q.text for q in (await other.ask(question)).quotes)
        (archive_dir / "sport" / "marathon.txt").unlink()
        await indexed.reindex([archive_dir])
        answer = await other.ask(question)
        assert not any("Tergat" in q.text for q in answer.quotes)
        assert all(hit.title != "Runner wins city marathon" for hit in await other.search("marathon runner"))
    finally:
        await other.close()


async def test_adding_and_renaming_files(
    indexed: Archive, archive_dir: Path, settings: Settings, hash_embedder: HashEmbedder
) -> None:
    (archive_dir / "sport" / "marathon.txt").rename(archive_dir / "sport" / "marathon-2005.txt")
    new = archive_dir / "politics" / "vote.txt"
    new.parent.mkdir()
    new.write_text("Parliament passes budget\n\nParliament passed the budget by 320 votes to 200 on Monday.\n")
    texts_before = hash_embedder.texts_embedded
    summary = await indexed.reindex([archive_dir])
    assert (summary.added, summary.removed, summary.unchanged) == (2, 1, 4)
    # The renamed file's sentences were embedded before: only the new article's title and sentence, and at
    # most the renamed article's title, are embedded (re-embedding the renamed article would be 7 texts).
    assert 2 <= hash_embedder.texts_embedded - texts_before <= 3
    state = await consistency(settings)
    assert {a.location.split("/", 1)[1] for a in state["articles"].values()} >= {
        "sport/marathon-2005.txt",
        "politics/vote.txt",
    }
    assert any("320 votes" in q.text for q in (await indexed.ask("How many votes did the budget get?")).quotes)


async def test_moving_the_archive_folder_keeps_every_article(
    indexed: Archive, archive_dir: Path, settings: Settings, tmp_path: Path, hash_embedder: HashEmbedder
) -> None:
    before = await consistency(settings)
    moved = tmp_path / "moved" / archive_dir.name  # same folder name, so the same article ids
    moved.parent.mkdir()
    shutil.move(str(archive_dir), str(moved))
    sentences_before = hash_embedder.texts_embedded
    summary = await indexed.reindex([moved])
    assert summary.removed == 0 and summary.added == 0
    assert summary.updated + summary.unchanged == 5
    assert hash_embedder.texts_embedded - sentences_before <= 5  # at most the titles: sentence vectors are reused
    after = await consistency(settings)
    assert set(after["articles"]) == set(before["articles"])
    assert all(a.path.startswith(str(moved)) for a in after["articles"].values())
    assert (await indexed.stats()).articles == 5
    assert any("Tergat" in q.text for q in (await indexed.ask("Who won the city marathon?")).quotes)
    again = await indexed.reindex([moved])
    assert (again.unchanged, again.passages_embedded) == (5, 0)


async def test_a_file_that_becomes_empty_is_removed(indexed: Archive, archive_dir: Path, settings: Settings) -> None:
    (archive_dir / "entertainment" / "film.txt").write_text("")
    summary = await indexed.reindex([archive_dir])
    assert summary.skipped == 1
    state = await consistency(settings)
    assert "Fantasy film tops box office" not in {a.title for a in state["articles"].values()}
    assert len(state["articles"]) == 4


class OtherModel(HashEmbedder):
    """Another model with the same dimension: same texts, different vectors."""

    def __init__(self) -> None:
        super().__init__(256)
        self.name = "other-model"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return -super().embed(texts)[:, ::-1].copy()


@pytest.mark.parametrize("make_other", [lambda: HashEmbedder(128), OtherModel], ids=["new-dimension", "same-dimension"])
async def test_a_new_model_re_embeds_everything(
    indexed: Archive, archive_dir: Path, settings: Settings, hash_embedder: HashEmbedder, make_other
) -> None:
    first_run_texts = hash_embedder.texts_embedded
    other_embedder = make_other()
    other = await Archive.open(settings, embedder=other_embedder)
    try:
        summary = await other.reindex([archive_dir])
        assert summary.updated == 5 and summary.unchanged == 0
        assert other_embedder.texts_embedded == first_run_texts  # every text again, none reused from the old model
        state = await consistency(settings)
        assert state["meta"]["model"] == other_embedder.name
        assert state["faiss"].dimension == other_embedder.dimension
        storage = await open_storage(settings, create=False)
        try:
            rows = [row for (row,) in archive_rows(settings.data_dir, "SELECT id FROM articles")]
            async with storage.reader() as reader:
                articles = await reader.articles_by_rows(rows)
                stored_sentences = await reader.sentences_of(rows)
            for row, sentences in stored_sentences.items():
                body = articles[row].body
                texts = [body[s.start : s.end] for s in sentences]
                expected = other_embedder.embed(texts)
                stored = np.stack([s.vector for s in sentences])
                assert np.allclose(stored, expected, atol=1e-2)
        finally:
            await storage.close()
        assert any("Tergat" in q.text for q in (await other.ask("Who won the city marathon?")).quotes)
    finally:
        await other.close()


async def test_reindex_without_roots_reuses_the_last_ones(indexed: Archive, archive_dir: Path) -> None:
    (archive_dir / "business" / "rates.txt").unlink()
    summary = await indexed.reindex()
    assert (summary.removed, summary.unchanged) == (1, 4)


# ---- queries during a reindex ------------------------------------------------------------------------------


class GatedEmbedder(HashEmbedder):
    """Blocks reindex batches (more than one text) until released; questions (one text) pass through."""

    def __init__(self) -> None:
        super().__init__(256)
        self.gate_closed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.gate_closed and len(texts) > 1:
            self.entered.set()
            if not self.release.wait(30):
                raise TimeoutError("the test never released the embedder")
        return super().embed(texts)


async def test_questions_are_answered_from_the_old_index_during_a_reindex(
    settings: Settings, archive_dir: Path
) -> None:
    embedder = GatedEmbedder()
    archive = await Archive.open(settings, embedder=embedder)
    try:
        await archive.reindex([archive_dir])
        new = archive_dir / "politics" / "vote.txt"
        new.parent.mkdir()
        new.write_text(
            "Parliament passes budget\n\nParliament passed the budget by 320 votes to 200 on Monday. "
            "The finance minister said taxes would not rise.\n"
        )
        (archive_dir / "sport" / "marathon.txt").unlink()
        embedder.gate_closed = True
        task = asyncio.create_task(archive.reindex([archive_dir]))
        try:
            assert await asyncio.to_thread(embedder.entered.wait, 30)
            assert archive.reindexing
            # The old index still answers, including about the article the reindex is removing.
            answer = await archive.ask("Who won the city marathon?")
            assert any("Tergat" in q.text for q in answer.quotes)
            hits = await archive.search("parliament budget votes")
            assert "Parliament passes budget" not in [hit.title for hit in hits]
            assert (await archive.stats()).articles == 5
        finally:
            embedder.release.set()
            summary = await task
        assert (summary.added, summary.removed) == (1, 1)
        assert any("320 votes" in q.text for q in (await archive.ask("How many votes did the budget get?")).quotes)
        assert not any("Tergat" in q.text for q in (await archive.ask("Who won the city marathon?")).quotes)
        await consistency(settings)
    finally:
        await archive.close()


async def test_a_new_parser_version_reads_every_file_again(
    archive: Archive, seed_archive_dir: Path, settings: Settings, hash_embedder: HashEmbedder
) -> None:
    import os
    import sqlite3

    from index.reading.parse import PARSER_VERSION

    await archive.reindex([seed_archive_dir])
    seed = next(seed_archive_dir.glob("*.txt"))
    stat = seed.stat()
    text = seed.read_text(encoding="utf-8")
    # Same size and modification time, different text: the fingerprint can't see the change.
    seed.write_text(text.replace("Yonhap news agency", "Yonhap News Agency"), encoding="utf-8")
    os.utime(seed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (await archive.reindex([seed_archive_dir])).updated == 0

    with sqlite3.connect(settings.data_dir / "archive.sqlite3") as connection:
        connection.execute("UPDATE meta SET value = '0' WHERE key = 'parser_version'")
    embedded_before = hash_embedder.texts_embedded
    summary = await archive.reindex([seed_archive_dir])
    assert summary.updated == 1
    # Only the edited sentence (and nothing else) needed a new vector.
    assert hash_embedder.texts_embedded - embedded_before == 1
    with sqlite3.connect(settings.data_dir / "archive.sqlite3") as connection:
        (version,) = connection.execute("SELECT value FROM meta WHERE key = 'parser_version'").fetchone()
    assert version == str(PARSER_VERSION)
