"""Vector search at scale with synthetic passages made from real ones.

The base vectors are the real passage vectors of the prebuilt BBC index (~19k). Each synthetic passage is a
real one, blended with a second random real passage (weight 0-0.6) and Gaussian noise (norm 0.1-0.5), then
normalised: near-duplicates and mixtures like wire copies and follow-ups, not uniform random vectors (on
which recall figures mean nothing). Queries are blended the same way and are not in the set.

For each size: the index type `default_factory` picks, build time (train + add), single-query search latency
(k=64, what the engine asks for), recall@10 against exact search, an nprobe sweep, the cost of an
incremental update (clone, remove 100 passages, add 100, save: ~10 changed articles), and the RSS of a fresh
process that loads the saved index file and searches it (the serving side of the vector index).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import PREBUILT, log, peak_rss_mb, percentiles, rss_mb

QUERIES = 300
K = 64  # DENSE_K in the engine


def base_vectors() -> np.ndarray:
    import faiss

    files = sorted(PREBUILT.glob("vectors.*.faiss"), key=lambda p: int(p.name.split(".")[1]))
    if not files:
        raise FileNotFoundError(f"no vector file in {PREBUILT}")
    raw = faiss.read_index(str(files[-1]))  # keep the owner alive: a downcast proxy does not own the index
    index = faiss.downcast_index(raw)
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    vectors = inner.reconstruct_n(0, inner.ntotal).astype(np.float32)
    del inner, index, raw
    return vectors


def synthesize(base: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        rows = base[rng.integers(0, len(base), n)]
        rows += rng.uniform(0, 0.6, (n, 1)).astype(np.float32) * base[rng.integers(0, len(base), n)]
        noise = rng.standard_normal((n, base.shape[1]), dtype=np.float32) / np.sqrt(base.shape[1])
        rows += rng.uniform(0.1, 0.5, (n, 1)).astype(np.float32) * noise
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        out[start : start + n] = rows
    return out


def _timed_search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    ids = np.empty((len(queries), k), dtype=np.int64)
    times = []
    for row, query in enumerate(queries):
        started = time.perf_counter()
        _, found = index.search(query[None, :], k)
        times.append((time.perf_counter() - started) * 1000)
        ids[row, : found.shape[1]] = found[0]
    return ids, times


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth, strict=True)]))


def _serve(directory: str, generation: int, factory: str, queries_path: str) -> dict[str, Any]:
    """In a fresh process: load the index file like the engine does and search it."""
    from index.storage.faiss_vectors import VectorIndex

    before = rss_mb()
    started = time.perf_counter()
    index = VectorIndex.load(Path(directory), generation, factory)
    load_s = time.perf_counter() - started
    queries = np.load(queries_path)
    _, times = _timed_search(index, queries, K)
    return {
        "load_s": round(load_s, 2),
        "rss_mb_before_load": before,
        "rss_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "search_ms": percentiles(times),
    }


def run_size(base: np.ndarray, size: int, work: Path, sweep: bool = True) -> dict[str, Any]:
    import faiss

    from index.storage.faiss_vectors import VectorIndex, default_factory

    log(f"scale {size:,}: synthesising vectors")
    data = synthesize(base, size, seed=size)
    queries = synthesize(base, QUERIES, seed=1)
    ids = np.arange(1, size + 1, dtype=np.int64) * 3  # passage ids are not 0..n-1

    log(f"scale {size:,}: exact search (ground truth)")
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(data)
    _, truth_rows = exact.search(queries, 10)
    truth = ids[truth_rows]
    _, flat_times = _timed_search(exact, queries[:100], K)
    del exact

    factory = default_factory(size)
    log(f"scale {size:,}: building {factory}")
    started = time.perf_counter()
    index = VectorIndex.create(base.shape[1], factory)
    if index.needs_training():
        index.train(data)
    train_s = time.perf_counter() - started
    index.add(ids, data)
    build_s = time.perf_counter() - started
    log(f"scale {size:,}: built in {build_s:.1f} s; searching")
    found, times = _timed_search(index, queries, K)
    result: dict[str, Any] = {
        "vectors": size,
        "factory": factory,
        "train_s": round(train_s, 1),
        "build_s": round(build_s, 1),
        "search_ms": percentiles(times),
        "recall_at_10": round(recall_at_10(found, truth), 4),
        "exact_flat_search_ms": percentiles(flat_times),
    }
    inner = faiss.downcast_index(index.index)
    if sweep and isinstance(inner, faiss.IndexIVF):
        default = inner.nprobe
        result["nprobe_default"] = default
        result["nprobe_sweep"] = {}
        for nprobe in (8, 16, 32, 64, 128):
            inner.nprobe = nprobe
            found, times = _timed_search(index, queries, K)
            result["nprobe_sweep"][nprobe] = {
                "recall_at_10": round(recall_at_10(found, truth), 4),
                "p95_ms": percentiles(times)["p95"],
            }
        inner.nprobe = default

    # An incremental update the way the indexer does it: clone the live index, remove ~10 articles'
    # passages, add their new vectors, write the next generation file.
    directory = work / f"n{size}"
    directory.mkdir()
    index.save(directory, 1)
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    patched = index.clone()
    clone_s = time.perf_counter() - started
    removed = patched.remove(rng.choice(ids, 100, replace=False))
    patched.add(np.arange(size + 1, size + 101, dtype=np.int64) * 3, synthesize(base, 100, seed=2))
    patched.save(directory, 2)
    result["update_100_passages_s"] = {
        "total": round(time.perf_counter() - started, 2),
        "clone": round(clone_s, 2),
        "removed": removed,
        "supports_remove": index.supports_remove,
    }
    result["file_mb"] = round((directory / "vectors.2.faiss").stat().st_size / 2**20, 1)
    del patched, data, index

    np.save(work / "queries.npy", queries)
    log(f"scale {size:,}: serving RSS in a fresh process")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result["serving"] = pool.submit(_serve, str(directory), 2, factory, str(work / "queries.npy")).result()
    shutil.rmtree(directory, ignore_errors=True)
    log(
        f"scale {size:,}: recall@10 {result['recall_at_10']}, p95 {result['search_ms']['p95']} ms,"
        f" serving RSS {result['serving']['rss_mb']} MB"
    )
    return result


def run(sizes: tuple[int, ...] = (100_000, 1_000_000)) -> dict[str, Any]:
    try:
        base = base_vectors()
    except Exception as error:
        return {"skipped": f"no base vectors: {error}"}
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-scale-"))
    try:
        out: dict[str, Any] = {"base_vectors": int(len(base)), "queries": QUERIES, "k": K}
        for size in sizes:
            out[str(size)] = run_size(base, size, work)
        out["bench_peak_rss_mb"] = peak_rss_mb()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
