"""Units of the performance work: worker-process embedding, the ONNX backend switch, FAISS index selection,
and the approximate index's recall, removal and persistence. Deterministic; no timing asserts (speed
figures belong to `python -m bench`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import HashEmbedder, Settings
from index._config import Settings as _Settings
from index._embed import make_embedder
from index._embed_pool import ParallelEmbedder
from index._errors import ConfigurationError
from index._onnx_runtime import onnx_available
from index._vectors import FLAT_LIMIT, SQ8_LIMIT, VectorIndex, default_factory, default_nprobe, ivf_lists

TEXTS = [
    f"Sentence number {i} about {'markets' if i % 3 else 'football'} and {'rates' if i % 5 else 'goals'}."
    + " word" * (i % 17)
    for i in range(150)
]


# ---- worker processes ---------------------------------------------------------------------------------


def test_parallel_embedder_returns_the_same_vectors_in_the_same_order() -> None:
    local = HashEmbedder(64)
    parallel = ParallelEmbedder(local, {"kind": "hash", "dimension": 64}, workers=2, min_parallel=8)
    try:
        parallel.start()
        assert parallel.ready(timeout=120)
        vectors = parallel.embed(TEXTS)
        assert local.calls == 0  # the workers did the work
        np.testing.assert_array_equal(vectors, HashEmbedder(64).embed(TEXTS))
        assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 64)
    finally:
        parallel.close()


def test_parallel_embedder_keeps_small_calls_and_cold_pools_in_process() -> None:
    local = HashEmbedder(32)
    parallel = ParallelEmbedder(local, {"kind": "hash", "dimension": 32}, workers=2, min_parallel=64)
    try:
        np.testing.assert_array_equal(parallel.embed(["one question"]), HashEmbedder(32).embed(["one question"]))
        assert local.calls == 1 and parallel._pool is None  # a question never starts workers
        first = parallel.embed(TEXTS)  # starts the workers, but doesn't wait for them
        np.testing.assert_array_equal(first, HashEmbedder(32).embed(TEXTS))
        assert parallel.name == local.name and parallel.dimension == 32
    finally:
        parallel.close()
    assert parallel._pool is None


def test_parallel_embedder_falls_back_when_workers_fail() -> None:
    local = HashEmbedder(16)
    parallel = ParallelEmbedder(
        local,
        {"kind": "no-such-kind", "model": "/nonexistent/model", "precision": "fp32", "batch_size": 8, "threads": 1},
        workers=2,
        min_parallel=4,
    )
    try:
        parallel.start()
        assert not parallel.ready(timeout=120)  # the model can't load in the workers
        np.testing.assert_array_equal(parallel.embed(TEXTS), HashEmbedder(16).embed(TEXTS))
    finally:
        parallel.close()


def test_hash_model_never_gets_workers() -> None:
    assert isinstance(make_embedder(Settings(model="hash:32", embed_workers=2)), HashEmbedder)


# ---- configuration --------------------------------------------------------------------------------------


def test_backend_and_precision_settings() -> None:
    settings = _Settings.from_env({}, load_dotenv=False)
    assert settings.embed_backend == "auto" and settings.precision == "auto" and settings.embed_workers == 0
    assert settings.batch_size == 0 and settings.model_cache_dir is None
    assert _Settings.from_env({"ARCHIVEBOT_MODEL_CACHE": "/tmp/m"}, load_dotenv=False).model_cache_dir == Path("/tmp/m")
    settings = _Settings.from_env(
        {"ARCHIVEBOT_EMBED_BACKEND": "ONNX", "ARCHIVEBOT_PRECISION": "int8", "ARCHIVEBOT_EMBED_WORKERS": "1"},
        load_dotenv=False,
    )
    assert (settings.embed_backend, settings.precision, settings.embed_workers) == ("onnx", "int8", 1)
    with pytest.raises(ConfigurationError):
        _Settings.from_env({"ARCHIVEBOT_EMBED_BACKEND": "tensorrt"}, load_dotenv=False)
    with pytest.raises(ConfigurationError):  # int8 exists only on ONNX Runtime
        _Settings.from_env({"ARCHIVEBOT_PRECISION": "int8", "ARCHIVEBOT_EMBED_BACKEND": "torch"}, load_dotenv=False)
    with pytest.raises(ConfigurationError):  # and bf16 only on torch
        _Settings.from_env({"ARCHIVEBOT_PRECISION": "bf16", "ARCHIVEBOT_EMBED_BACKEND": "onnx"}, load_dotenv=False)


def test_auto_backend_is_onnx_when_onnxruntime_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from index import _embed

    assert _embed.resolve_backend(Settings()) == ("onnx" if onnx_available() else "torch")
    assert _embed.resolve_backend(Settings(embed_backend="torch")) == "torch"
    assert _embed.resolve_backend(Settings(precision="bf16")) == "torch"  # bf16 autocast exists only on torch
    monkeypatch.setattr(_embed, "onnx_available", lambda: False)
    assert _embed.resolve_backend(Settings()) == "torch"


def test_auto_backend_falls_back_to_torch_when_the_onnx_export_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from index import _embed

    class Failing:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise ConfigurationError("could not export the model to ONNX: disk full")

    class Torch:
        def __init__(self, model: str, *, precision: str, batch_size: int, threads: int) -> None:
            self.name, self.dimension, self.precision, self.batch_size = model, 384, precision, batch_size

    monkeypatch.setattr(_embed, "resolve_backend", lambda settings: "onnx")
    monkeypatch.setattr(_embed, "OnnxEmbedder", Failing)
    monkeypatch.setattr(_embed, "SentenceTransformerEmbedder", Torch)
    with caplog.at_level("WARNING"):
        embedder = make_embedder(Settings(data_dir=tmp_path, precision="int8"))
    assert isinstance(embedder, Torch)  # in-process: the torch default, not the onnx worker default
    assert embedder.precision == "auto" and embedder.batch_size == 64  # int8 is an ONNX-only precision
    assert "disk full" in caplog.text
    with pytest.raises(ConfigurationError, match="disk full"):  # asked for by name: no silent fallback
        make_embedder(Settings(data_dir=tmp_path, embed_backend="onnx"))


@pytest.mark.skipif(onnx_available(), reason="onnxruntime is installed")
def test_onnx_backend_without_onnxruntime_is_a_clear_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="onnx"):
        make_embedder(Settings(data_dir=tmp_path, embed_backend="onnx"))


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


def test_nprobe_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_nprobe(2048) == 32 and default_nprobe(512) == 16 and default_nprobe(8) == 8
    monkeypatch.setenv("ARCHIVEBOT_FAISS_NPROBE", "64")
    assert default_nprobe(2048) == 64


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


@pytest.mark.integration
@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed")
def test_onnx_int8_agrees_with_fp32(tmp_path: Path, torch_embedder) -> None:
    from index._onnx_runtime import OnnxEmbedder

    sentences = [
        "Mr. Obama’s envoy met U.N. officials in Geneva on Tuesday.",
        "Shares in the company fell 5% after the profit warning.",
        "Chelsea's late winner came from a corner in the 89th minute.",
        "The film took $19.1m on Christmas Day.",
    ]
    reference = torch_embedder.embed(sentences)
    int8 = OnnxEmbedder(precision="int8", cache_dir=tmp_path)
    assert int8.name.endswith("#int8")  # an int8 index never mixes with fp32 vectors
    assert np.mean(np.sum(int8.embed(sentences) * reference, axis=1)) >= 0.98
    fp32 = OnnxEmbedder(precision="fp32", cache_dir=tmp_path)
    assert fp32.name == torch_embedder.name
    assert np.min(np.sum(fp32.embed(sentences) * reference, axis=1)) >= 0.9999
    # Equal-length batches: no padding, and fp32 still matches torch for a mixed-length batch of 40 texts.
    mixed = sentences + TEXTS[:36]
    assert np.min(np.sum(fp32.embed(mixed) * torch_embedder.embed(mixed), axis=1)) >= 0.9999


@pytest.mark.integration
@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed")
def test_an_int8_vector_barely_depends_on_what_it_was_batched_with(real_embedder) -> None:
    """Dynamic int8 quantisation scales activations per batch: the same text embedded beside others and alone
    (as a question is) must still be the same point for retrieval, and batch size 1 makes it exact."""
    from index._onnx_runtime import OnnxEmbedder

    if getattr(real_embedder, "precision", None) != "int8":
        pytest.skip("the default embedder is not int8 here")
    texts = [f"Sentence number {i} about markets and rates." for i in range(30)] + TEXTS[:30]
    together = real_embedder.embed(texts)
    alone = np.stack([real_embedder.embed([text])[0] for text in texts])
    similarity = np.sum(together * alone, axis=1)
    assert similarity.mean() >= 0.99 and similarity.min() >= 0.98
    exact = OnnxEmbedder(precision="int8", batch_size=1, cache_dir=real_embedder.cache_dir)
    np.testing.assert_allclose(exact.embed(texts), alone, atol=1e-5)


@pytest.mark.integration
def test_worker_processes_give_the_vectors_of_the_in_process_model(torch_embedder) -> None:
    from index import BUNDLED_MODEL

    parallel = ParallelEmbedder(
        torch_embedder,
        {"kind": "torch", "model": BUNDLED_MODEL, "precision": "fp32", "batch_size": 64, "threads": 1},
        workers=2,
        min_parallel=8,
    )
    try:
        parallel.start()
        assert parallel.ready(timeout=300)
        texts = TEXTS[:40] + ["Mr. Obama’s envoy met U.N. officials.", "Shares fell 5% on Tuesday."]
        vectors = parallel.embed(texts)
        assert parallel._pool is not None and not parallel._failed  # the workers did it
        np.testing.assert_allclose(vectors, torch_embedder.embed(texts), atol=1e-4)
    finally:
        parallel.close()


async def test_incremental_reindex_patches_an_ivf_index_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an IVF factory the indexer removes and adds vectors in the live index (no rebuild from SQLite),
    and the result agrees with the database (doctor)."""
    from index import Archive, _indexer, check_index

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

        monkeypatch.setattr(_indexer, "rebuild_vectors", no_rebuild)
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


def test_large_archives_leave_very_common_terms_out_of_the_full_text_search() -> None:
    from index._lexical import LEXICAL_LIMIT_FROM, lexical_terms

    terms = ["government", "said", "tuition", "fees"]
    small = {"government": 900, "said": 9_000, "tuition": 12, "fees": 40}
    assert lexical_terms(terms, small, 19_000) == terms  # below the limit every term is searched
    total = 1_000_000
    large = {"government": 40_000, "said": 600_000, "tuition": 600, "fees": 2_000}
    assert total > LEXICAL_LIMIT_FROM
    assert lexical_terms(terms, large, total) == ["tuition", "fees"]  # question order kept
    common = {"government": 40_000, "said": 600_000, "tuition": 30_000, "fees": 20_000}
    assert lexical_terms(terms, common, total) == ["tuition", "fees"]  # at least the two rarest
    assert lexical_terms(["said"], common, total) == ["said"]
    assert lexical_terms([], common, total) == []


def test_the_recorded_model_name_is_predicted_without_loading_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from index import BUNDLED_MODEL, _embed

    monkeypatch.setattr(_embed, "resolve_backend", lambda settings: settings.embed_backend.replace("auto", "onnx"))
    assert _embed.embedder_name(Settings()) == BUNDLED_MODEL + "#int8"  # a new index: int8
    assert _embed.embedder_name(Settings(), BUNDLED_MODEL + "#int8") == BUNDLED_MODEL + "#int8"
    assert _embed.embedder_name(Settings(), BUNDLED_MODEL) == BUNDLED_MODEL  # an fp32 index stays fp32
    assert _embed.embedder_name(Settings(precision="int8"), BUNDLED_MODEL) == BUNDLED_MODEL + "#int8"  # asked for
    assert _embed.embedder_name(Settings(embed_backend="torch")) == BUNDLED_MODEL
    assert _embed.embedder_name(Settings(precision="fp32")) == BUNDLED_MODEL
    assert _embed.embedder_name(Settings(model="hash")) == "hash:256"


@pytest.mark.integration
@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed")
def test_an_fp32_index_keeps_fp32_vectors_under_the_int8_default(real_embedder, torch_embedder) -> None:
    """An index built by torch (or an earlier version) is not re-embedded wholesale when the default becomes
    int8: its questions are encoded by ONNX Runtime in fp32, the same vectors as torch's."""
    from index import BUNDLED_MODEL

    if getattr(real_embedder, "precision", None) != "int8":
        pytest.skip("the default embedder is not int8 here")
    settings = Settings(model_cache_dir=real_embedder.cache_dir, embed_workers=1)
    embedder = make_embedder(settings, indexed_with=BUNDLED_MODEL)
    assert embedder.name == BUNDLED_MODEL and embedder.precision == "fp32"
    texts = ["Shares fell 5% on Tuesday.", "Chelsea's late winner came from a corner."]
    assert np.min(np.sum(embedder.embed(texts) * torch_embedder.embed(texts), axis=1)) >= 0.9999
    assert make_embedder(settings, indexed_with=BUNDLED_MODEL + "#int8").name == BUNDLED_MODEL + "#int8"
