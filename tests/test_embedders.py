"""The encoders: worker-process embedding, the backend and precision settings, the ONNX Runtime backend
(int8 against fp32 and torch) and the model name an index records. Deterministic; no timing asserts (speed
figures belong to `python -m bench`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import HashEmbedder, Settings
from index._errors import ConfigurationError
from index._settings import Settings as _Settings
from index.embedding.embedder import make_embedder
from index.embedding.onnx_runtime import onnx_available
from index.embedding.pool import ParallelEmbedder

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
    from index.embedding import embedder as _embed

    assert _embed.resolve_backend(Settings()) == ("onnx" if onnx_available() else "torch")
    assert _embed.resolve_backend(Settings(embed_backend="torch")) == "torch"
    assert _embed.resolve_backend(Settings(precision="bf16")) == "torch"  # bf16 autocast exists only on torch
    monkeypatch.setattr(_embed, "onnx_available", lambda: False)
    assert _embed.resolve_backend(Settings()) == "torch"


def test_auto_backend_falls_back_to_torch_when_the_onnx_export_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from index.embedding import embedder as _embed

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


# ---- ONNX Runtime against torch ------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed")
def test_onnx_int8_agrees_with_fp32(tmp_path: Path, torch_embedder) -> None:
    from index.embedding.onnx_runtime import OnnxEmbedder

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
    from index.embedding.onnx_runtime import OnnxEmbedder

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


def test_the_recorded_model_name_is_predicted_without_loading_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from index import BUNDLED_MODEL
    from index.embedding import embedder as _embed

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


async def test_closing_an_archive_stops_the_embedding_workers_it_started(tmp_path: Path, monkeypatch) -> None:
    """A process that embedded a large batch and closed its archive must not wait for the workers' idle timer
    (2 minutes) at exit: the archive stops the workers of an embedder it loaded itself."""
    import index._archive as engine
    from index import Archive

    parallel = ParallelEmbedder(HashEmbedder(32), {"kind": "hash", "dimension": 32}, workers=2, min_parallel=8)
    monkeypatch.setattr(engine, "make_embedder", lambda settings, indexed_with: parallel)
    archive = await Archive.open(_Settings(data_dir=tmp_path / "data", model="hash:32"))
    embedder = await archive.embedder()
    parallel.start()
    assert parallel.ready(timeout=120)
    embedder.embed(TEXTS)
    pool = parallel._pool
    assert pool is not None
    await archive.close()
    assert parallel._pool is None
    with pytest.raises(RuntimeError):  # shut down: takes no more work
        pool.submit(print)


async def test_an_archive_leaves_an_embedder_it_was_given_running(tmp_path: Path) -> None:
    from index import Archive

    parallel = ParallelEmbedder(HashEmbedder(32), {"kind": "hash", "dimension": 32}, workers=2, min_parallel=8)
    try:
        archive = await Archive.open(_Settings(data_dir=tmp_path / "data", model="hash:32"), embedder=parallel)
        parallel.start()
        await archive.close()
        assert parallel._pool is not None  # the caller's: it closes it
    finally:
        parallel.close()


def test_large_calls_embed_the_same_shares_whether_or_not_the_workers_are_ready() -> None:
    """int8 ONNX Runtime quantises a call's activations together, so a vector depends on the texts embedded
    with it: before the workers are ready (or after they failed) this process embeds exactly the shares the
    workers would have, so an index's vectors do not depend on how soon the workers started."""
    from index.embedding.pool import ParallelEmbedder

    class Recording(HashEmbedder):
        def __init__(self) -> None:
            super().__init__(16)
            self.batches: list[list[str]] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.batches.append(list(texts))
            return super().embed(texts)

    texts = [f"sentence number {n} " + "word " * (n % 7) for n in range(100)]
    local = Recording()
    embedder = ParallelEmbedder(local, {}, workers=2, min_parallel=64)
    embedder.start = lambda: None  # type: ignore[method-assign]  # no processes: the workers are never ready
    vectors = embedder.embed(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    assert local.batches == [[texts[i] for i in order[0::2]], [texts[i] for i in order[1::2]]]
    assert np.allclose(vectors, HashEmbedder(16).embed(texts))  # each row is its own text's vector
    embedder._failed = True  # workers that failed: the same shares again
    local.batches.clear()
    embedder.embed(texts)
    assert len(local.batches) == 2 and sorted(map(len, local.batches)) == [50, 50]
