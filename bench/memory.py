"""Peak memory of `archivebot index` as the archive grows (issue 12): a first build of the BBC corpus copied
N times (each copy's headlines carry the copy number, so every article is distinct), at two or more sizes,
with the deterministic fake embedder (`ARCHIVEBOT_MODEL=hash:384`, the real model's dimension): what is
measured is the pipeline around the encoder. Each build runs as its own `python -m bot.cli index` process;
its peak RSS is the kernel's (`wait4` ru_maxrss). Indexing is chunked (`ARCHIVEBOT_INDEX_CHUNK_ARTICLES`),
so the peak should grow only by the vector index the embedded backend keeps in memory.
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

from ._common import CORPUS, REPO, index_process, log
from .updates import _build_archive


def _index(archive_dir: Path, data_dir: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    env = {"ARCHIVEBOT_DATA_DIR": str(data_dir), "ARCHIVEBOT_MODEL": "hash:384", **extra_env}
    summary = index_process(archive_dir, env)
    stats_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVEBOT_")} | env
    stats = subprocess.run(
        [sys.executable, "-m", "bot.cli", "stats", "--json"], env=stats_env, cwd=REPO, capture_output=True, text=True
    )
    info = json.loads(stats.stdout)
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


def run(copies: tuple[int, ...] = (4, 16), chunk_articles: int | None = None) -> dict[str, Any]:
    per_copy = sum(1 for p in CORPUS.rglob("*.txt") if p.is_file())
    if not per_copy:
        raise RuntimeError(f"no corpus at {CORPUS} (set ARCHIVEBOT_SHARED or ARCHIVEBOT_BENCH_CORPUS)")
    extra = {"ARCHIVEBOT_INDEX_CHUNK_ARTICLES": str(chunk_articles)} if chunk_articles else {}
    result: dict[str, Any] = {"corpus_articles": per_copy, "chunk_articles": chunk_articles or "default", "sizes": {}}
    for count in copies:
        work = Path(tempfile.mkdtemp(prefix="archivebot-bench-memory-"))
        try:
            log(f"memory: writing {count} copies of the corpus ({count * per_copy:,} articles)")
            _build_archive(work / "archive", count * per_copy)
            log(f"memory: archivebot index of {count} copies (fake embedder)")
            figures = _index(work / "archive", work / "data", extra)
            log(f"memory: {count} copies: {figures}")
            result["sizes"][f"{count}x"] = figures
        finally:
            shutil.rmtree(work, ignore_errors=True)
    sizes = list(result["sizes"].values())
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        result["peak_growth_mb"] = round(large["peak_rss_mb"] - small["peak_rss_mb"], 1)
        result["vector_file_growth_mb"] = round(large["vector_file_mb"] - small["vector_file_mb"], 1)
        result["peak_per_million_passages_mb"] = round(
            (large["peak_rss_mb"] - small["peak_rss_mb"]) / max(large["passages"] - small["passages"], 1) * 1e6, 1
        )
    return result
