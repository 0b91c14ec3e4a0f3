"""The embedding model on ONNX Runtime (the default backend): int8 per channel or fp32, from the graph
`_onnx_export` makes once. Needs only onnxruntime and tokenizers at run time, not torch."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index._errors import ConfigurationError
from index._settings import BUNDLED_MODEL, user_cache_dir
from index.embedding.model_files import resolve_model_path
from index.embedding.onnx_export import ensure_onnx_model


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxEmbedder:
    """The bundled model on ONNX Runtime: int8 per-channel (default) or fp32, length-sorted batches.

    int8 vectors differ slightly from fp32 (cosine ~0.99), so an int8 index records its own model name
    (`…#int8`): switching backend re-embeds instead of mixing vector spaces."""

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        *,
        precision: str = "auto",
        batch_size: int = 0,
        threads: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:
            raise ConfigurationError(
                "the onnx embedding backend needs onnxruntime, onnx and tokenizers, which archivebot depends on:"
                f" reinstall it (pip install -e .) or set ARCHIVEBOT_EMBED_BACKEND=torch ({error})"
            ) from error
        if precision == "auto":
            precision = "int8"
        if precision not in {"int8", "fp32"}:
            raise ConfigurationError(f"the onnx backend supports precision int8 or fp32, not {precision!r}")
        path = Path(resolve_model_path(model))
        if not (path / "tokenizer.json").exists():
            raise ConfigurationError(f"the onnx backend needs a model folder with tokenizer.json: {path}")
        self.cache_dir = cache_dir or user_cache_dir()
        onnx_path = ensure_onnx_model(path, self.cache_dir, quantized=precision == "int8")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's pool threads busy-wait after each run by default: in a serving process they then
        # steal the 2 cores from FAISS, SQLite and the scorer (retrieve+select measured ~3x slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(_max_tokens(path))
        self._tokenizer.no_padding()
        self.precision = precision
        self.name = model if precision == "fp32" else f"{model}#int8"
        self.batch_size = batch_size or 32
        self.dimension = int(self._run(["dimension probe"]).shape[1])
        self._lock = threading.Lock()

    def _run(self, texts: list[str]) -> np.ndarray:
        """One padded batch (used for the dimension probe)."""
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        return self._session_run(ids, mask)

    def _session_run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (vectors,) = self._session.run(["embedding"], {k: v for k, v in feed.items() if k in self._inputs})
        return np.asarray(vectors, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Tokenise everything once, then run batches of texts with exactly the same token count: no padding,
        so no work on pad tokens (measured ~1.4x faster than length-sorted padded batches of 32, fp32 and int8).
        With int8, dynamic quantisation scales activations per batch, so a text's vector varies slightly with
        its batch-mates (cosine >= 0.99 to itself embedded alone); `batch_size=1` makes it exact, ~30% slower."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
            groups: dict[int, list[int]] = {}
            for index, encoding in enumerate(encodings):
                groups.setdefault(len(encoding.ids), []).append(index)
            for length in sorted(groups):
                members = groups[length]
                for start in range(0, len(members), self.batch_size):
                    chunk = members[start : start + self.batch_size]
                    ids = np.array([encodings[i].ids for i in chunk], dtype=np.int64)
                    result[chunk] = self._session_run(ids, np.ones_like(ids))
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        normalised: np.ndarray = result / norms
        return normalised


def _max_tokens(model_path: Path) -> int:
    """The model's own truncation length (sentence-transformers' max_seq_length), 256 if it doesn't say."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    return 256
