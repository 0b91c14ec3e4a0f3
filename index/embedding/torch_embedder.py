"""The embedding model on sentence-transformers/torch (`ARCHIVEBOT_EMBED_BACKEND=torch`, and the reference the
ONNX Runtime backend is tested against)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence

import numpy as np

from index._errors import ConfigurationError
from index._settings import BUNDLED_MODEL, use_offline_defaults
from index.embedding.model_files import resolve_model_path

logger = logging.getLogger(__name__)


def bf16_supported() -> bool:
    """True when the CPU has native bfloat16 matrix instructions (without them bf16 is slower than fp32)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = handle.read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


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
        use_offline_defaults()
        import torch
        from sentence_transformers import SentenceTransformer

        try:  # transformers 5 draws a "Loading weights" bar on every load; keep stderr for real messages
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated upstream
        except Exception:  # pragma: no cover - older or newer transformers
            pass

        if threads:
            torch.set_num_threads(threads)
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except Exception as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConfigurationError(
                f"ARCHIVEBOT_MODEL: could not load embedding model {model!r} ({path}): {first_line}"
            ) from error
        self._torch = torch
        self.name = model
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dimension = getter()
        if dimension is None:
            raise ConfigurationError(f"embedding model {model!r} ({path}) does not state its vector dimension")
        self.dimension = int(dimension)
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
