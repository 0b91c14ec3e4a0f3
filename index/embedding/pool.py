"""Worker processes for large embedding jobs (indexing): `ParallelEmbedder` and what runs in each worker.

A worker is described by a small picklable spec (`{"kind": "onnx" | "torch" | "hash", ...}`) and builds its
own embedder from it; the factory (`_embed.make_embedder`) writes the spec."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index._errors import ConfigurationError
from index.embedding.hash_embedder import HashEmbedder
from index.embedding.onnx_runtime import OnnxEmbedder
from index.embedding.torch_embedder import SentenceTransformerEmbedder

if TYPE_CHECKING:
    from index.embedding.embedder import Embedder

logger = logging.getLogger(__name__)

_worker_embedder: Embedder | None = None


def build_from_spec(spec: dict[str, Any]) -> Embedder:
    """The embedder a worker spec describes; an unknown kind is a ConfigurationError (never a silent torch)."""
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
    if kind == "torch":
        return SentenceTransformerEmbedder(
            spec["model"], precision=spec["precision"], batch_size=spec["batch_size"], threads=spec["threads"]
        )
    raise ConfigurationError(f"unknown embedder kind {kind!r} (expected hash, onnx or torch)")


def _watch_parent(parent: int) -> None:
    while True:  # a SIGKILLed indexer must not leave its workers behind
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1.0)


def _worker_init(spec: dict[str, Any], parent: int) -> None:
    global _worker_embedder
    os.environ["OMP_NUM_THREADS"] = str(spec.get("threads", 1))
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _worker_embedder = build_from_spec(spec)


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
        self.precision: str = getattr(local, "precision", "fp32")
        self.workers = workers
        self.min_parallel = min_parallel
        self.idle_seconds = idle_seconds
        self._spec = spec
        self._pool: ProcessPoolExecutor | None = None
        self._ready: list[Future[tuple[str, int]]] = []
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
        if len(texts) < self.min_parallel or self.workers < 2:
            return self.local.embed(texts)
        if self._failed:
            return self._embed_shares_here(list(texts))
        with self._lock:
            self._cancel_timer()
            try:
                if self._pool is None:
                    self.start()
                if not self.ready():
                    return self._embed_shares_here(list(texts))
                return self._embed_parallel(list(texts))
            finally:
                self._arm_timer()

    def _shares(self, texts: list[str]) -> list[list[int]]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [order[w :: self.workers] for w in range(self.workers)]  # interleaved: equal work per worker

    def _embed_shares_here(self, texts: list[str]) -> np.ndarray:
        """While the workers start, the same shares embedded in this process: int8 ONNX Runtime quantises each
        call's activations as a whole, so a text's vector depends on the texts embedded with it. Embedding the
        workers' shares here keeps an index's vectors the same whichever process computed them (a build's
        vectors changed with how soon the workers were ready, i.e. with the machine's load)."""
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        for share in self._shares(texts):
            if share:
                result[share] = self.local.embed([texts[i] for i in share])
        return result

    def _embed_parallel(self, texts: list[str]) -> np.ndarray:
        shares = self._shares(texts)
        try:
            assert self._pool is not None
            futures = [self._pool.submit(_worker_embed, [texts[i] for i in share]) for share in shares if share]
            parts = [future.result() for future in futures]
        except Exception as error:
            logger.warning("embedding workers failed (%s); embedding in-process", error)
            self._failed = True
            self.close()
            return self._embed_shares_here(texts)
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        for share, part in zip(shares, parts, strict=False):  # empty shares were not submitted
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
    """Worker processes by default: one per core available to this process, at most 2."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))
