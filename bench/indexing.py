"""Indexing throughput: the full pipeline (`Archive.reindex`) vs plain sentence-transformers `encode()`.

Both run in this process, in the same run, over the same articles: the baseline encodes the text of every
passage the pipeline built, with sentence-transformers' defaults (`SentenceTransformer(path).encode(texts)`).
The pipeline's own overhead is the share of its wall time spent outside `embed()` (scanning, parsing,
splitting, SQLite, FAISS, staging). The worker processes are started before the clock starts, like the
model load of the baseline.

`e2e` (in `--backends`) times what a user waits for instead: a fresh `archivebot index` of the BBC archive and
the seed, as a new process with a new data directory (start-up, imports, model load and workers included) on a
machine whose ONNX export is already cached, against plain `encode()` over the passages that index holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import CORPUS, DEV_QUESTIONS, REPO, Progress, log, rss_mb


class TimedEmbedder:
    """Wraps an embedder and adds up the wall time spent inside `embed()`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.seconds = 0.0
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.texts += len(texts)


def copy_corpus(target: Path, articles: int | None) -> int:
    files = sorted(p for p in CORPUS.rglob("*.txt") if p.is_file())
    if articles and articles < len(files):
        step = len(files) / articles
        files = [files[int(i * step)] for i in range(articles)]  # every k-th: all categories represented
    for file in files:
        destination = target / file.relative_to(CORPUS)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, destination)
    return len(files)


def passage_texts(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT substr(a.body, p.start + 1, p.end - p.start)"
            " FROM passages p JOIN articles a ON a.id = p.article_row ORDER BY p.id"
        ).fetchall()
    return [row[0] for row in rows]


def sentence_vectors(database: Path) -> dict[str, np.ndarray]:
    from index._rows import blob_to_vector

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT text_hash, vector FROM sentences").fetchall()
    return {key: blob_to_vector(blob) for key, blob in rows}


async def _pipeline(label: str, settings_kwargs: dict[str, Any], archive_dir: Path, work: Path) -> dict[str, Any]:
    from index import Archive, Settings
    from index.embedding.embedder import make_embedder
    from index.embedding.pool import ParallelEmbedder

    data_dir = work / f"data-{label}"
    settings = Settings(data_dir=data_dir, archive_roots=(archive_dir,), **settings_kwargs)
    started = time.perf_counter()
    embedder = make_embedder(settings)
    if isinstance(embedder, ParallelEmbedder):
        embedder.start()
        embedder.ready(timeout=300)
    embedder.embed(["warm up"])
    load_seconds = time.perf_counter() - started
    timed = TimedEmbedder(embedder)
    archive = await Archive.open(settings, embedder=timed)
    bars: dict[str, Progress] = {}

    def progress(p: Any) -> None:
        if p.phase in {"scan", "embed"} and p.total:
            bar = bars.setdefault(p.phase, Progress(f"{label} {p.phase}", p.total))
            bar(p.done)

    log(f"{label}: full index of {archive_dir}")
    started = time.perf_counter()
    summary = await archive.reindex([archive_dir], progress=progress)
    total = time.perf_counter() - started
    embed_seconds, texts = timed.seconds, timed.texts
    result: dict[str, Any] = {
        "embedder": embedder.name,
        "precision": getattr(embedder, "precision", None),
        "workers": getattr(embedder, "workers", 1),
        "model_load_s": round(load_seconds, 2),
        "articles": summary.added,
        "passages": summary.passages_embedded,
        "texts_embedded": texts,
        "seconds": round(total, 2),
        "embed_seconds": round(embed_seconds, 2),
        "passages_per_s": round(summary.passages_embedded / total, 1),
        "overhead_share": round(1 - embed_seconds / total, 3),
        "rss_mb_main": rss_mb(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    log(f"{label}: {result['passages_per_s']} passages/s, overhead {result['overhead_share']:.1%}")

    started = time.perf_counter()
    unchanged = await archive.reindex([archive_dir])
    result["unchanged_reindex_s"] = round(time.perf_counter() - started, 3)
    assert unchanged.sentences_embedded == 0, unchanged

    changed = sorted(archive_dir.rglob("*.txt"))[:10]
    for number, file in enumerate(changed):
        file.write_text(
            file.read_text(errors="ignore").rstrip() + f"\n\nBenchmark correction number {number} was added.\n"
        )
    started = time.perf_counter()
    update = await archive.reindex([archive_dir])
    result["ten_changed_reindex_s"] = round(time.perf_counter() - started, 3)
    result["ten_changed_texts_embedded"] = update.sentences_embedded

    result["search_hits"] = await _dev_searches(archive)
    await archive.close()
    if isinstance(embedder, ParallelEmbedder):
        embedder.close()
    return result


async def _dev_searches(archive: Any) -> list[list[str]]:
    import json

    hits = []
    for line in DEV_QUESTIONS.read_text().splitlines():
        if line.strip():
            found = await archive.search(json.loads(line)["q"], limit=10)
            hits.append([h.title for h in found])  # titles: article ids differ between the two archive copies
    return hits


def _passages_of(roots: Sequence[Path], work: Path) -> list[str]:
    """The passages the pipeline builds from `roots` (indexed with the fast fake embedder: passages depend on
    parsing and splitting only)."""
    from index import Archive, HashEmbedder, Settings

    data_dir = Path(tempfile.mkdtemp(prefix="data-passages-", dir=work))

    async def build() -> None:
        settings = Settings(data_dir=data_dir, archive_roots=tuple(roots), model="hash:8")
        archive = await Archive.open(settings, embedder=HashEmbedder(8))
        await archive.reindex(list(roots))
        await archive.close()

    asyncio.run(build())
    return passage_texts(data_dir / "archive.sqlite3")


def _baseline(texts: list[str]) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    from index.embedding.model_files import resolve_model_path

    model = SentenceTransformer(resolve_model_path("bundled:all-MiniLM-L6-v2"), device="cpu")
    model.encode(["warm up"])
    log(f"baseline: plain encode() of {len(texts)} passages (sentence-transformers defaults)")
    started = time.perf_counter()
    model.encode(texts)
    seconds = time.perf_counter() - started
    return {
        "passages": len(texts),
        "seconds": round(seconds, 2),
        "passages_per_s": round(len(texts) / seconds, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(articles: int | None = None, backends: Sequence[str] = ("torch1", "torch", "onnx")) -> dict[str, Any]:
    from index.embedding.onnx_runtime import onnx_available

    configurations: dict[str, dict[str, Any]] = {}
    for backend in backends:
        if backend in {"onnx", "onnx_fp32", "default", "e2e"} and not onnx_available():
            log(f"onnxruntime is not installed: skipping {backend}")
            continue
        configurations.update(
            {
                "default": {"default": {}},  # whatever Settings() resolves to: onnx int8, 2 workers
                "torch1": {"torch_fp32_1proc": {"embed_backend": "torch", "precision": "fp32", "embed_workers": 1}},
                "torch": {"torch_fp32_2proc": {"embed_backend": "torch", "precision": "fp32", "embed_workers": 2}},
                "onnx_fp32": {"onnx_fp32_2proc": {"embed_backend": "onnx", "precision": "fp32", "embed_workers": 2}},
                "onnx": {"onnx_int8_2proc": {"embed_backend": "onnx", "precision": "int8", "embed_workers": 2}},
            }.get(backend, {})
        )
    out: dict[str, Any] = {"corpus": str(CORPUS)}
    if configurations:
        out.update(_pipelines(articles, configurations))
    if "e2e" in backends and onnx_available():
        out["end_to_end"] = end_to_end(articles)
    return out


def _pipelines(articles: int | None, configurations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each configuration's `Archive.reindex` in this process against plain `encode()`, in one run."""
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-index-"))
    try:
        results: dict[str, Any] = {}
        # The baseline runs before and after the pipelines (on this shared machine the load drifts by 2x
        # within minutes); the ratio uses the mean of the two. Its passages: those the pipeline builds.
        count = copy_corpus(work / "archive-baseline", articles)
        texts = _passages_of([work / "archive-baseline"], work)
        baselines = [_baseline(texts)]
        for label, kwargs in configurations.items():
            archive_dir = work / f"archive-{label}"
            count = copy_corpus(archive_dir, articles)
            results[label] = asyncio.run(_pipeline(label, kwargs, archive_dir, work))
        baselines.append(_baseline(texts))
        rate = float(np.mean([b["passages_per_s"] for b in baselines]))
        baseline = {"passages": len(texts), "passages_per_s": round(rate, 1), "runs": baselines}
        out: dict[str, Any] = {"articles": count, "baseline_encode": baseline}
        for result in results.values():
            result["speedup_vs_baseline"] = round(result["passages_per_s"] / rate, 2)
        fp32_label = next((label for label, r in results.items() if r["precision"] == "fp32"), None)
        int8_label = next((label for label, r in results.items() if r["precision"] == "int8"), None)
        if fp32_label and int8_label:
            out["int8_fidelity"] = {
                "fp32": fp32_label,
                "int8": int8_label,
                **_fidelity(
                    work / f"data-{fp32_label}", work / f"data-{int8_label}", results[fp32_label], results[int8_label]
                ),
            }
        for result in results.values():
            result.pop("search_hits", None)
        out["pipelines"] = results
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fidelity(fp32_dir: Path, int8_dir: Path, fp32: dict[str, Any], int8: dict[str, Any]) -> dict[str, Any]:
    reference = sentence_vectors(fp32_dir / "archive.sqlite3")
    other = sentence_vectors(int8_dir / "archive.sqlite3")
    common = [key for key in reference if key in other]
    a = np.stack([reference[k] for k in common]).astype(np.float32)
    b = np.stack([other[k] for k in common]).astype(np.float32)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    pairs = list(zip(fp32["search_hits"], int8["search_hits"], strict=True))
    overlaps = [len(set(x) & set(y)) / max(1, len(x)) for x, y in pairs]
    top1 = [bool(x and y and x[0] == y[0]) for x, y in pairs]
    return {
        "sentences_compared": len(common),
        "cosine_mean": round(float(cosine.mean()), 4),
        "cosine_p1": round(float(np.percentile(cosine, 1)), 4),
        "cosine_min": round(float(cosine.min()), 4),
        "dev_search_top10_overlap": round(float(np.mean(overlaps)), 3) if overlaps else None,
        "dev_search_top1_same": round(float(np.mean(top1)), 3) if top1 else None,
    }


# ---- a fresh `archivebot index`, end to end ------------------------------------------------------------


def _index_process(roots: Sequence[Path], data_dir: Path, cwd: Path) -> dict[str, Any]:
    """Run `archivebot index ROOTS --json` as a new process with a new data directory; its wall time from
    exec to exit (interpreter start-up, imports, model load, workers, parsing, embedding, SQLite, FAISS)."""
    environment = {key: value for key, value in os.environ.items() if key != "ARCHIVEBOT_DATA_DIR"}
    environment["ARCHIVEBOT_DATA_DIR"] = str(data_dir)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bot.cli", "index", *map(str, roots), "--json"]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"archivebot index failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return {"seconds": seconds, "summary": json.loads(completed.stdout), "stderr": completed.stderr}


def end_to_end(articles: int | None = None) -> dict[str, Any]:
    """A fresh `archivebot index` of the BBC archive plus the seed (a new process, a new data directory, on a
    machine whose ONNX export is already cached) against plain `SentenceTransformer.encode()` over the
    passages that index holds (3 sentences each), in one run. The baseline runs before and after the index
    (the shared machine's load drifts) and the ratio uses their mean; its model load is not counted, the
    index's start-up is."""
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-e2e-"))
    try:
        archive_dir = work / "bbc"
        count = copy_corpus(archive_dir, articles)
        seeds = REPO / "seeds"
        log("end to end: warming the model cache (an index of the seed in a throwaway data directory)")
        warm = _index_process([seeds], work / "data-warm-up", work)
        exported = "preparing the embedding model" in warm["stderr"]
        texts = _passages_of([archive_dir, seeds], work)
        baselines = [_baseline(texts)]
        log(f"end to end: a fresh `archivebot index` of {count} BBC articles + the seed")
        timed = _index_process([archive_dir, seeds], work / "data-fresh", work)
        baselines.append(_baseline(texts))
        indexed = timed["summary"]["passages_embedded"]
        assert indexed == len(texts), f"the index holds {indexed} passages, the baseline encoded {len(texts)}"
        baseline_seconds = float(np.mean([b["seconds"] for b in baselines]))
        result = {
            "articles": count + len(list(seeds.glob("*.txt"))),
            "passages": len(texts),
            "warm_up_s": round(warm["seconds"], 2),
            "warm_up_exported": exported,
            "index_s": round(timed["seconds"], 2),
            "exported_during_timed_run": "preparing the embedding model" in timed["stderr"],
            "baseline_encode_s": round(baseline_seconds, 2),
            "baseline_runs": baselines,
            "ratio": round(timed["seconds"] / baseline_seconds, 3),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        log(f"end to end: {result['index_s']} s vs plain encode() {result['baseline_encode_s']} s: {result['ratio']}")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
