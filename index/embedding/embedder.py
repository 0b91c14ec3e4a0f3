"""Embedders: what one is (`Embedder`), and the factory that builds the one the settings name.

An embedder turns texts into L2-normalised float32 vectors; cosine similarity is then a dot product. The
implementations live beside this module, one job each:

- `_embed_hash`: a deterministic fake for tests (`ARCHIVEBOT_MODEL=hash`);
- `_onnx_runtime` (the default backend) over the graph `_onnx_export` makes once per model;
- `_embed_torch`: sentence-transformers on torch (`ARCHIVEBOT_EMBED_BACKEND=torch`);
- `_embed_pool`: worker processes for large jobs (indexing), wrapping any of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from index._errors import ConfigurationError
from index._settings import HASH_MODEL, Settings
from index.embedding.hash_embedder import HashEmbedder
from index.embedding.model_files import resolve_model_path
from index.embedding.onnx_runtime import OnnxEmbedder, onnx_available
from index.embedding.pool import ParallelEmbedder, default_workers
from index.embedding.torch_embedder import SentenceTransformerEmbedder

logger = logging.getLogger(__name__)

BACKENDS = ("onnx", "torch")


@runtime_checkable
class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


async def mean_vector(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """The texts' mean vector, unit length, encoded in a thread (a question, or a follow-up with its history)."""
    vectors = await asyncio.to_thread(embedder.embed, list(texts))
    vector: np.ndarray = vectors.mean(axis=0)
    return vector / (float(np.linalg.norm(vector)) or 1.0)


def settle(encoding: asyncio.Future[np.ndarray]) -> None:
    """`mean_vector`'s task once its caller is done with it: cancelled if it was never needed (retrieval
    failed first), and a failure of its own marked as seen (the caller's error is the one reported)."""
    if not encoding.done():
        encoding.cancel()
    elif not encoding.cancelled():
        encoding.exception()


def resolve_backend(settings: Settings) -> str:
    """`auto` means ONNX Runtime when it is installed and the model folder has a `tokenizer.json` (the bundled
    model has), else sentence-transformers on torch. Any other name than auto, onnx or torch is refused."""
    if settings.embed_backend != "auto":
        if settings.embed_backend not in BACKENDS:
            raise ConfigurationError(f"unknown embedding backend {settings.embed_backend!r} (auto, onnx or torch)")
        return settings.embed_backend
    if settings.precision == "bf16" or not onnx_available():
        return "torch"
    try:
        path = Path(resolve_model_path(settings.model))
    except ConfigurationError:
        return "torch"  # let the torch loader report the missing model
    return "onnx" if (path / "tokenizer.json").exists() else "torch"


def _hash_dimension(settings: Settings) -> int | None:
    """The fake embedder's dimension when the settings name it (`hash` or `hash:DIM`), else None."""
    if settings.model != HASH_MODEL and not settings.model.startswith(HASH_MODEL + ":"):
        return None
    _, _, dimension = settings.model.partition(":")
    try:
        return int(dimension) if dimension else 256
    except ValueError as error:
        raise ConfigurationError(f"ARCHIVEBOT_MODEL=hash:DIM needs a whole number, got {settings.model!r}") from error


def _effective_precision(settings: Settings, indexed_with: str | None) -> str:
    if settings.precision == "auto" and indexed_with == settings.model:  # an fp32 index: keep its vector space
        return "fp32"
    return settings.precision


def embedder_name(settings: Settings, indexed_with: str | None = None) -> str:
    """The model name `make_embedder(settings, indexed_with)` will record in an index, without loading it
    (barring a fallback to torch when the ONNX export fails, which is logged)."""
    dimension = _hash_dimension(settings)
    if dimension is not None:
        return f"{HASH_MODEL}:{dimension}"
    precision = _effective_precision(settings, indexed_with)
    if resolve_backend(settings) == "onnx" and precision in {"auto", "int8"}:
        return f"{settings.model}#int8"
    return settings.model


def make_embedder(settings: Settings, indexed_with: str | None = None) -> Embedder:
    """The embedder the settings name: `hash[:DIM]` for the fake, otherwise the model on the configured backend
    (ONNX Runtime by default, sentence-transformers on torch otherwise). Large jobs go to worker processes when
    `embed_workers` >= 2 (default: 2 for the onnx backend on a machine with 2+ cores, in-process for torch).
    With `embed_backend=auto`, a model that can't be exported to ONNX falls back to torch with a warning.

    `indexed_with` is the model name an existing index records. With `precision=auto`, an index of fp32 vectors
    (built by torch, or by an earlier version) stays fp32 on ONNX Runtime (the same vectors, still ~2x faster
    than torch to query) instead of being re-embedded in int8 wholesale; new indexes get int8."""
    dimension = _hash_dimension(settings)
    if dimension is not None:
        return HashEmbedder(dimension)
    precision = _effective_precision(settings, indexed_with)
    built: tuple[Embedder, dict[str, Any]] | None = None
    onnx_error: ConfigurationError | None = None
    if resolve_backend(settings) == "onnx":
        try:
            built = _onnx_embedder(settings, precision)
        except ConfigurationError as error:
            if settings.embed_backend == "onnx":
                raise
            onnx_error = error
    if built is None:
        built = _torch_embedder(settings, precision)  # when this fails too, its one-line error is the one shown
        if onnx_error is not None:
            logger.warning("ONNX Runtime backend unavailable (%s); using sentence-transformers on torch", onnx_error)
    local, spec = built
    # Measured on 2 cores: ONNX Runtime int8 embeds ~1.8x faster as 2 processes x 1 thread than as 1 x 2;
    # torch fp32 gained nothing measurable (and each worker holds another ~0.5 GB), so it stays in-process.
    workers = settings.embed_workers or (default_workers() if spec["kind"] == "onnx" else 1)
    if workers < 2:
        return local
    return ParallelEmbedder(local, spec, workers)


def _onnx_embedder(settings: Settings, precision: str) -> tuple[Embedder, dict[str, Any]]:
    """The in-process ONNX Runtime embedder and the spec its worker processes build theirs from."""
    cache_dir = settings.model_cache()
    local = OnnxEmbedder(
        settings.model,
        precision=precision,
        batch_size=settings.batch_size,
        threads=settings.onnx_threads,
        cache_dir=cache_dir,
    )
    spec = {
        "kind": "onnx",
        "model": settings.model,
        "precision": local.precision,
        "batch_size": local.batch_size,
        "threads": 1,
        "cache_dir": str(cache_dir),
    }
    return local, spec


def _torch_embedder(settings: Settings, precision: str) -> tuple[Embedder, dict[str, Any]]:
    """The in-process sentence-transformers embedder and its worker spec."""
    precision = "auto" if precision == "int8" else precision  # int8 exists only on ONNX Runtime
    local = SentenceTransformerEmbedder(
        settings.model, precision=precision, batch_size=settings.batch_size or 64, threads=settings.torch_threads
    )
    spec = {
        "kind": "torch",
        "model": settings.model,
        "precision": local.precision,
        "batch_size": local.batch_size,
        "threads": 1,
    }
    return local, spec
