"""The FAISS vector index: which index type an archive gets, and the approximate (IVF) index's recall,
removal, persistence and in-place patching by an incremental reindex. Deterministic; no timing asserts
(speed figures belong to `python -m bench`)."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from index import HashEmbedder, Settings
from index.storage.faiss_vectors import (
    FLAT_LIMIT,
    SQ8_LIMIT,
    SearchParameters,
    VectorIndex,
    default_factory,
    default_nprobe,
    ivf_lists,
)

# ---- index selection ------------------------------------------------------------------------------------


def test_default_factory_is_flat_then_ivf_sq8() -> None:
    assert default_factory(0) == "Flat"
    assert default_factory(FLAT_LIMIT) == "Flat"
    big = default_factory(FLAT_LIMIT + 1)
    assert big.startswith("IVF") and big.endswith(",Flat")
    assert default_factory(SQ8_LIMIT + 1).endswith(",SQ8")
    assert default_factory(1_000_000) == "IVF2048,SQ8"
    for n in (FLAT_LIMIT + 1, 100_000, 1_000_000, 10_000_000):
        lists = ivf_lists(n)
        assert lists & (lists - 1) == 0 and n / lists >= 39  # a power of two, enough training points per list


def test_default_factory_keeps_the_current_ivf_while_the_archive_grows() -> None:
    assert default_factory(1_400_000, "IVF2048,SQ8") == "IVF2048,SQ8"  # no rebuild at every growth step
    assert default_factory(1_000_000, "IVF256,SQ8") == "IVF2048,SQ8"  # far off: rebuilt
    assert default_factory(1_000_000, "HNSW32") == "IVF2048,SQ8"
    assert default_factory(1_000_000, "IVF2048,Flat") == "IVF2048,SQ8"  # grew past SQ8_LIMIT
    assert default_factory(10_000, "IVF2048,SQ8") == "Flat"


def test_nprobe_default_and_override() -> None:
    assert default_nprobe(2048) == 32 and default_nprobe(512) == 16 and default_nprobe(8) == 8
    settings = Settings.from_env({"ARCHIVEBOT_FAISS_NPROBE": "64"}, load_dotenv=False)
    assert default_nprobe(2048, settings.faiss_nprobe) == 64
    parameters = SearchParameters(settings.faiss_nprobe, settings.faiss_ef_search)
    index = VectorIndex.create(16, "IVF128,Flat", parameters=parameters)
    assert faiss.downcast_index(index.index).nprobe == 64  # the setting reaches the loaded index
    assert faiss.downcast_index(VectorIndex.create(16, "IVF128,Flat").index).nprobe == 16


# ---- the approximate index ------------------------------------------------------------------------------


def _clustered(count: int, dimension: int = 64, seed: int = 0) -> np.ndarray:
    """Real-ish vectors: topics (cluster centres), near-duplicate stories around them, normalised."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dimension)).astype(np.float32)
    rows = centres[rng.integers(0, 40, count)] + 0.6 * rng.standard_normal((count, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_ivf_sq8_recall_at_10_against_exact_search() -> None:
    data = _clustered(6000)
    queries = _clustered(100, seed=1)
    ids = np.arange(6000, dtype=np.int64) * 7 + 3
    exact = VectorIndex.create(64, "Flat")
    exact.add(ids, data)
    approximate = VectorIndex.create(64, "IVF64,SQ8")
    approximate.train(data)
    approximate.add(ids, data)
    _, truth = exact.search(queries, 10)
    _, found = approximate.search(queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95


def test_one_question_is_searched_on_one_thread_and_the_thread_setting_is_put_back() -> None:
    data = _clustered(2000)
    ids = np.arange(2000, dtype=np.int64)
    index = VectorIndex.create(64, "Flat")
    index.add(ids, data)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        together = index.search(data[:5], 10)  # several queries: FAISS's own threads
        for row in range(5):
            alone = index.search(data[row], 10)  # one query: one thread, the same answer
            assert np.array_equal(alone[1][0], together[1][row])
            assert np.allclose(alone[0][0], together[0][row])
            assert faiss.omp_get_max_threads() == 2  # this thread's setting is what it was
    finally:
        faiss.omp_set_num_threads(before)


def test_ivf_removes_reconstructs_lists_ids_and_survives_save_load_clone(tmp_path: Path) -> None:
    data = _clustered(3000)
    ids = np.arange(3000, dtype=np.int64) * 5 + 11
    index = VectorIndex.create(64, "IVF32,SQ8")
    assert index.needs_training() and index.supports_remove and index.is_ivf
    index.train(data)
    index.add(ids, data)
    assert index.remove(ids[:10]) == 10 and index.size == 2990
    assert sorted(index.ids().tolist()) == sorted(ids[10:].tolist())
    stored = index.reconstruct([int(ids[20]), int(ids[0])])
    assert int(ids[0]) not in stored  # removed
    assert float(stored[int(ids[20])] @ data[20]) > 0.99  # SQ8: approximate, but close
    _, found = index.search(data[20:21], 5)
    assert found[0][0] == ids[20]
    index.save(tmp_path, 3)
    loaded = VectorIndex.load(tmp_path, 3, "IVF32,SQ8")
    assert loaded.size == 2990 and sorted(loaded.ids().tolist()) == sorted(index.ids().tolist())
    copy = loaded.clone()
    copy.remove(ids[10:20])
    copy.add(np.array([1, 2], dtype=np.int64), data[:2])
    assert copy.size == 2982 and loaded.size == 2990  # the clone is independent
    _, found = copy.search(data[:1], 1)
    assert found[0][0] == 1


def test_training_sample_is_bounded_and_deterministic() -> None:
    data = _clustered(5000)
    first = VectorIndex.create(64, "IVF4,Flat")
    second = VectorIndex.create(64, "IVF4,Flat")
    first.train(data)  # 4 lists x 50 = 200 training rows out of 5000
    second.train(data)
    import faiss

    quantizers = [faiss.downcast_index(faiss.downcast_index(ix.index).quantizer) for ix in (first, second)]
    centroids = [quantizer.reconstruct_n(0, 4) for quantizer in quantizers]
    np.testing.assert_array_equal(centroids[0], centroids[1])


async def test_incremental_reindex_patches_an_ivf_index_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an IVF factory the indexer removes and adds vectors in the live index (no rebuild from SQLite),
    and the result agrees with the database (doctor)."""
    from index import Archive, check_index
    from index.storage.sqlite import vectors as _sqlite_vectors

    topics = ["markets", "football", "elections", "weather", "films", "banks", "tennis", "music"]
    archive_dir = tmp_path / "news"
    archive_dir.mkdir()
    for number in range(40):
        topic = topics[number % len(topics)]
        body = " ".join(f"Report {number} sentence {s} says the {topic} story moved on day {s}." for s in range(8))
        (archive_dir / f"story-{number:02d}.txt").write_text(f"The {topic} story number {number}\n\n{body}\n")
    settings = Settings(
        data_dir=tmp_path / "data",
        model="hash:64",
        archive_roots=(archive_dir,),
        faiss_factory="IVF4,SQ8",
        min_confidence=0.0,
    )  # SQ8: the harder case
    archive = await Archive.open(settings, embedder=HashEmbedder(64))
    try:
        await archive.reindex([archive_dir])
        stats = await archive.stats()
        assert (await check_index(settings.data_dir)).ok

        def no_rebuild(*args: object, **kwargs: object) -> None:
            raise AssertionError("an IVF index must be patched, not rebuilt")

        monkeypatch.setattr(_sqlite_vectors, "rebuild_vectors", no_rebuild)
        (archive_dir / "story-03.txt").write_text("The zeppelin story\n\nA zeppelin landed in the harbour on Friday.\n")
        (archive_dir / "story-04.txt").unlink()
        summary = await archive.reindex([archive_dir])
        assert (summary.updated, summary.removed) == (1, 1)
        report = await check_index(settings.data_dir)
        assert report.ok, report.problems
        hits = await archive.search("zeppelin harbour", limit=3)
        assert hits and hits[0].title == "The zeppelin story"
        assert (await archive.stats()).articles == stats.articles - 1
    finally:
        await archive.close()


async def _filtered_archive(tmp_path: Path) -> Settings:
    """Twelve one-passage stories in a JSONL file: even ones from the Gazette, odd ones from the Herald, one a
    month through 2005."""
    from index import Archive

    archive_dir = tmp_path / "news"
    archive_dir.mkdir()
    lines = []
    for number in range(12):
        body = " ".join(f"Report {number} sentence {s} says the story moved on day {s}." for s in range(3))
        source = "The Gazette" if number % 2 == 0 else "Herald"
        record = {
            "title": f"Story number {number}",
            "text": body,
            "source": source,
            "date": f"2005-{number + 1:02d}-15",
        }
        lines.append(json.dumps(record))
    (archive_dir / "stories.jsonl").write_text("\n".join(lines) + "\n")
    settings = Settings(data_dir=tmp_path / "data", model="hash:64", archive_roots=(archive_dir,))
    archive = await Archive.open(settings, embedder=HashEmbedder(64))
    try:
        await archive.reindex([archive_dir])
    finally:
        await archive.close()
    return settings


async def test_with_a_narrow_filter_the_embedded_vector_search_searches_inside_it(tmp_path: Path) -> None:
    """A source or date filter that allows few passages is searched inside (an id selector over FAISS): the
    nearest allowed passages, exactly, however far the nearest of all are."""
    from index import Filters
    from index.storage import open_storage

    settings = await _filtered_archive(tmp_path)
    storage = await open_storage(settings, create=False)
    try:
        async with storage.reader() as reader:
            query = HashEmbedder(64).embed(["the story moved"])[0]
            everything = await reader.nearest_passages(query, 12)
            rows = await reader.passages(everything)
            articles = await reader.articles_by_rows([row.article_row for row in rows.values()])
            source_of = {pid: articles[rows[pid].article_row].source for pid in everything}
            date_of = {pid: articles[rows[pid].article_row].published for pid in everything}
            gazette = await reader.nearest_passages(query, 3, Filters(source="GAZETTE"))
            spring = await reader.nearest_passages(query, 2, Filters(after="2005-03-01", before="2005-05-31"))
            nothing = await reader.nearest_passages(query, 3, Filters(source="Times"))
    finally:
        await storage.close()
    assert len(everything) == 12
    assert gazette == [pid for pid in everything if source_of[pid] == "The Gazette"][:3]  # in distance order
    assert spring == [pid for pid in everything if "2005-03-01" <= date_of[pid] <= "2005-05-31"][:2]
    assert nothing == []


async def test_with_a_broad_filter_the_embedded_vector_search_proposes_more_for_the_engine_to_filter(
    tmp_path: Path, monkeypatch
) -> None:
    """Above WITHIN_LIMIT allowed passages the reader returns FILTERED_WIDENING times as many of the nearest
    passages of all, for the engine to filter (most of them pass a broad filter)."""
    from index import Filters
    from index.storage import open_storage
    from index.storage.common import FILTERED_WIDENING
    from index.storage.sqlite import read

    settings = await _filtered_archive(tmp_path)
    monkeypatch.setattr(read, "WITHIN_LIMIT", 5)  # the Gazette's 6 passages are "broad" now
    storage = await open_storage(settings, create=False)
    try:
        async with storage.reader() as reader:
            query = HashEmbedder(64).embed(["the story moved"])[0]
            plain = await reader.nearest_passages(query, 1)
            filtered = await reader.nearest_passages(query, 1, Filters(source="gazette"))
    finally:
        await storage.close()
    assert len(plain) == 1 and len(filtered) == FILTERED_WIDENING and filtered[:1] == plain  # of 12 passages


async def test_a_filtered_question_sees_a_source_written_after_the_sources_were_read(
    tmp_path: Path, monkeypatch
) -> None:
    """The distinct sources are read once per database version: unchanged, a second filtered question does not
    read them again; after another connection adds an article from a new source, the filter finds it."""
    from index import Archive, Filters
    from index.storage import open_storage
    from index.storage.sqlite import sources

    settings = await _filtered_archive(tmp_path)
    reads: list[str] = []
    original = sources.fetch

    async def counting(db, sql, params=()):
        reads.append(sql)
        return await original(db, sql, params)

    monkeypatch.setattr(sources, "fetch", counting)
    query = HashEmbedder(64).embed(["the story moved"])[0]
    storage = await open_storage(settings, create=False)
    try:
        async with storage.reader() as reader:
            before = await reader.nearest_passages(query, 3, Filters(source="times"))
        async with storage.reader() as reader:
            assert await reader.nearest_passages(query, 3, Filters(source="gazette"))
        assert len(reads) == 1  # the second question used the sources read for the first
        news = settings.archive_roots[0]
        (news / "times.jsonl").write_text(
            json.dumps({"title": "A Times story", "text": "The story moved on in the Times.", "source": "The Times"})
            + "\n"
        )
        writer = await Archive.open(settings, embedder=HashEmbedder(64))
        try:
            await writer.reindex([news])
        finally:
            await writer.close()
        async with storage.reader() as reader:
            after = await reader.nearest_passages(query, 3, Filters(source="times"))
            rows = await reader.passages(after)
            articles = await reader.articles_by_rows([row.article_row for row in rows.values()])
    finally:
        await storage.close()
    assert before == []
    assert len(reads) == 2
    assert after and {article.source for article in articles.values()} == {"The Times"}
