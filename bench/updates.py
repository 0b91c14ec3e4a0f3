"""Incremental reindex cost at archive scale: 10 changed articles in a 100,000-article archive.

The archive is the BBC corpus copied into numbered folders until it holds `articles` files (each copy's
text gets its copy number in the headline, so every article is distinct). It is indexed once with the
deterministic fake embedder (what is measured here is the pipeline around the encoder: scanning 100k files,
SQLite, FTS5 and the IVF index; a real encoder adds the embedding of the changed articles' sentences, ~0.1 s
for 10 articles with the default), then: an unchanged re-run, and a re-run after editing 10 articles.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import CORPUS, Progress, log, rss_mb


def _build_archive(target: Path, articles: int) -> int:
    files = sorted(p for p in CORPUS.rglob("*.txt") if p.is_file())
    written = 0
    copy = 0
    while written < articles:
        for file in files:
            if written >= articles:
                break
            destination = target / f"copy{copy:03d}" / file.relative_to(CORPUS)
            destination.parent.mkdir(parents=True, exist_ok=True)
            headline, _, rest = file.read_text(errors="ignore").partition("\n")
            destination.write_text(f"{headline} (edition {copy})\n{rest}")
            written += 1
        copy += 1
    return written


def edit_ten(archive_dir: Path) -> list[Path]:
    """Append a correction to 10 articles spread over the archive (a re-run then updates exactly those)."""
    files = sorted(archive_dir.rglob("*.txt"))
    changed = files[:: max(1, len(files) // 10)][:10]
    for number, file in enumerate(changed):
        file.write_text(file.read_text() + f"\n\nCorrection number {number}: an earlier version misstated a figure.\n")
    return changed


async def _measure(archive_dir: Path, data_dir: Path) -> dict[str, Any]:
    from index import Archive, HashEmbedder, Settings

    settings = Settings(data_dir=data_dir, archive_roots=(archive_dir,), model="hash:384")
    archive = await Archive.open(settings, embedder=HashEmbedder(384))
    bars: dict[str, Progress] = {}

    def progress(p: Any) -> None:
        if p.phase in {"scan", "embed"} and p.total:
            bars.setdefault(p.phase, Progress(f"updates {p.phase}", p.total, every=15.0))(p.done)

    log(f"updates: full index of {archive_dir} (fake embedder)")
    started = time.perf_counter()
    full = await archive.reindex([archive_dir], progress=progress)
    result: dict[str, Any] = {
        "articles": full.added,
        "passages": full.passages_embedded,
        "full_index_s": round(time.perf_counter() - started, 1),
    }
    stats = await archive.stats()
    result["index_type"] = stats.index_type
    started = time.perf_counter()
    unchanged = await archive.reindex([archive_dir])
    result["unchanged_reindex_s"] = round(time.perf_counter() - started, 2)
    assert unchanged.sentences_embedded == 0 and unchanged.unchanged == full.added, unchanged
    changed = edit_ten(archive_dir)
    started = time.perf_counter()
    update = await archive.reindex([archive_dir])
    result["ten_changed_reindex_s"] = round(time.perf_counter() - started, 2)
    result["ten_changed"] = {"updated": update.updated, "texts_embedded": update.sentences_embedded}
    assert update.updated == len(changed), update
    import resource

    result["rss_mb"] = rss_mb()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    await archive.close()
    return result


def run(articles: int = 100_000) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-updates-"))
    try:
        log(f"updates: writing a {articles:,}-article archive")
        count = _build_archive(work / "archive", articles)
        out = asyncio.run(_measure(work / "archive", work / "data"))
        out["requested_articles"] = count
        log(
            f"updates: {count:,} articles: unchanged re-run {out['unchanged_reindex_s']} s, "
            f"10 changed {out['ten_changed_reindex_s']} s"
        )
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
