"""tantivy against the project's FTS5 BM25 path, measured inside the project (`--parts lexical-engines`, issue 20).

Since 2026-12-08 the tantivy side is the shipped index (`index/storage/sqlite/tantivy_text.py`, which the embedded
reader searches from 200,000 passages); the runs before measured a first design with two fields (`title`, `text`,
the title boosted by `--tantivy-title-boost`), whose figures are in bench/HISTORY.md.

The passages of a built embedded archive are read through the public storage boundary (`open_storage` with
`create=False`, `ArchiveCheck.passage_ids`, `ArchiveReader.passages` and `articles_by_rows`: a passage's text is
its article's body between its offsets, its title the article's, exactly the rows the SQLite backend puts in
`passages_fts`) and indexed into a tantivy generation as the backend builds it (one field: the title twice, then the
passage; Snowball English stems, where FTS5 here is `porter unicode61 remove_diacritics 2`). One commit.

Per question of the dev and held-out sets, the query terms are those the engine's retrieval sends
(`content_terms`, then `lexical_terms` over FTS5's document frequencies: above 200k passages the terms in more
than 1% of passages are left out), and the same terms go to both engines:
- **search only**: FTS5 via `ArchiveReader.lexical_passages(terms, 64)` (`-bm25(passages_fts, 2.0, 1.0)`), and
  `TextIndex.search` (an OR of term queries, a phrase for a term of several words; the 64 ids read from the fast
  field); p50/p95 ms;
- **as shipped**: the document frequencies included (FTS5 `document_frequencies`, as `retrieve` calls it;
  `TextIndex.frequencies`, and its own `lexical_terms`);
- the overlap of the two top-10s and top-64s (shared passage ids over the longer of the two lists);
- **candidate answer recall**: the share of answerable questions (those naming an article) for which some passage of
  the top 64 (and of the top 10) holds an expected answer (case-insensitive substring), per engine;
- tantivy's build seconds and size on disk, and an incremental update: 1,000 passages deleted and re-added,
  committed, timed.

On the real-model BBC archive (`--bbc-data`, else the prebuilt one, else built here with `archivebot index`), the
whole answering pipeline also runs with tantivy plugged in, nothing in index/ changed: the bench wraps the
archive's storage so its reader's `document_frequencies` and `lexical_passages` are tantivy's (everything else,
the dense side included, is the project's), and reports `ask` p50/p95 and answer_in_top_quote / answer_in_quote
for both engines.

The larger archives (`--lexical-sizes 200000,...`) are near copies of the BBC corpus (`bench/million.py`,
`variation="near"`) built with the fast fake embedder: the lexical figures do not depend on the vectors, and a
real-model build of 200k passages costs ~20 minutes of both cores.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ._common import DEV_QUESTIONS, HELD_OUT_QUESTIONS, PREBUILT, REPO, log, percentiles

TOP_K = 64
UPDATE_BATCH = 1_000
FTS5_SQL = (  # the SQLite backend's passage search (index/storage/sqlite/fulltext.py `fts_passages`)
    "SELECT rowid, -bm25(passages_fts, 2.0, 1.0) AS score FROM passages_fts"
    " WHERE passages_fts MATCH ? ORDER BY score DESC LIMIT ?"
)


def _eval_items() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in (DEV_QUESTIONS, HELD_OUT_QUESTIONS):
        if path.exists():
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def _holds(text: str, answers: Sequence[str]) -> bool:
    lowered = text.lower()
    return any(answer.lower() in lowered for answer in answers)


async def read_passages(data_dir: Path) -> list[tuple[int, str, str]]:
    """(passage id, article title, passage text) of every passage, through the storage boundary."""
    from index import Settings
    from index.storage import open_storage

    storage = await open_storage(Settings(data_dir=data_dir), create=False)
    try:
        async with storage.check() as check:
            ids = sorted(await check.passage_ids())
        rows: list[tuple[int, str, str]] = []
        async with storage.reader() as reader:
            for start in range(0, len(ids), 5_000):
                passages = await reader.passages(ids[start : start + 5_000])
                articles = await reader.articles_by_rows(list({p.article_row for p in passages.values()}))
                for pid in ids[start : start + 5_000]:
                    passage = passages[pid]
                    article = articles[passage.article_row]
                    rows.append((pid, article.title, article.body[passage.start : passage.end]))
        return rows
    finally:
        await storage.close()


class Tantivy:
    """The shipped tantivy passage index (`index/storage/sqlite/tantivy_text.py`: one field, the title twice and
    the passage, Snowball stems), built and updated as the embedded backend's writes do, outside a transaction."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.generation = 0
        self.index: Any = None

    def _next(self, rows: Sequence[tuple[int, str, str]], *, replace: bool) -> float:
        from index.storage.sqlite.tantivy_text import GenerationBuilder, TextChanges, TextIndex, path_for

        started = time.perf_counter()
        builder = GenerationBuilder(self.path, self.generation if replace else None, self.generation + 1)
        changes = TextChanges()
        if replace:
            changes.deleted([pid for pid, _, _ in rows])
        changes.added(rows)
        builder.apply(changes)
        builder.commit()
        builder.finish()
        self.generation += 1
        self.index = TextIndex(path_for(self.path, self.generation), self.generation)
        return time.perf_counter() - started

    def add(self, rows: Sequence[tuple[int, str, str]]) -> float:
        return self._next(rows, replace=False)

    def replace(self, rows: Sequence[tuple[int, str, str]]) -> float:
        """Delete these passages and add them again, in one generation (an incremental update)."""
        return self._next(rows, replace=True)

    def size_mb(self) -> float:
        from index.storage.sqlite.tantivy_text import path_for

        files = path_for(self.path, self.generation).rglob("*")
        return round(sum(p.stat().st_size for p in files if p.is_file()) / 2**20, 1)

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        return list(self.index.search(terms, k))

    def frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return self.index.frequencies(terms), int(self.index.size)


# ---- the engine's pipeline with tantivy plugged in -----------------------------------------------------------


class _TantivyReader:
    def __init__(self, inner: Any, engine: Tantivy) -> None:
        self._inner, self._engine = inner, engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return self._engine.frequencies(terms)

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        return self._engine.search(terms, k)


class _TantivyStorage:
    """The archive's storage with tantivy as its full-text side for passages (titles stay FTS5's)."""

    def __init__(self, inner: Any, engine: Tantivy) -> None:
        self._inner, self._engine = inner, engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Any]:
        async with self._inner.reader() as reader:
            yield _TantivyReader(reader, self._engine)


async def _pipeline(data_dir: Path, engine: Tantivy | None, items: list[dict[str, Any]]) -> dict[str, Any]:
    from index import Archive, Settings

    archive = await Archive.open(Settings(data_dir=data_dir))
    try:
        if engine is not None:
            archive._storage = _TantivyStorage(archive._storage, engine)  # type: ignore[assignment]  # the bench's plug
        await archive.warm_up()
        for item in items[:3]:
            await archive.ask(item["q"])
        wall: list[float] = []
        first = anywhere = answerable = 0
        for item in items:
            started = time.perf_counter()
            answer = await archive.ask(item["q"])
            wall.append((time.perf_counter() - started) * 1000)
            if item.get("article") and item.get("answers"):
                answerable += 1
                first += bool(answer.quotes) and _holds(answer.quotes[0].text, item["answers"])
                anywhere += _holds(" ".join(q.text for q in answer.quotes), item["answers"])
        return {
            "ask_ms": percentiles(wall),
            "answerable": answerable,
            "answer_in_top_quote": round(first / max(1, answerable), 3),
            "answer_in_quote": round(anywhere / max(1, answerable), 3),
        }
    finally:
        await archive.close()


# ---- one archive ----------------------------------------------------------------------------------------------


async def _compare(data_dir: Path, work: Path, label: str, *, pipeline: bool) -> dict[str, Any]:
    from index import Settings
    from index.answering.lexical import content_terms, lexical_terms
    from index.storage import open_storage
    from index.storage.sqlite.schema import fts_match

    started = time.perf_counter()
    rows = await read_passages(data_dir)
    read_s = time.perf_counter() - started
    texts = {pid: text for pid, _, text in rows}  # an answer must be quotable: the body, not the title
    log(f"lexical-engines/{label}: {len(rows):,} passages read in {read_s:.1f} s; building tantivy")
    engine = Tantivy(work / f"tantivy-{label}")
    build_s = engine.add(rows)
    update_rows = rows[:: max(1, len(rows) // UPDATE_BATCH)][:UPDATE_BATCH]
    update_s = engine.replace(update_rows)
    log(f"lexical-engines/{label}: tantivy built in {build_s:.1f} s ({engine.size_mb()} MB)")

    items = _eval_items()
    storage = await open_storage(Settings(data_dir=data_dir), create=False)
    # FTS5 without aiosqlite's thread hop: the same SQL as the SQLite backend's `fts_passages`, read directly
    # with sqlite3 in this thread (read-only), to tell the engine's cost from the hop's on a loaded machine.
    direct = sqlite3.connect(f"file:{data_dir / 'archive.sqlite3'}?mode=ro", uri=True)
    fts_direct: list[float] = []
    fts_search: list[float] = []
    tantivy_search: list[float] = []
    fts_shipped: list[float] = []
    tantivy_shipped: list[float] = []
    overlap10: list[float] = []
    overlap64: list[float] = []
    recall = {"fts5": {"top10": 0, "top64": 0}, "tantivy": {"top10": 0, "top64": 0}}
    answerable = 0
    try:
        async with storage.reader() as reader:
            for item in items[:3]:  # warm both
                terms = content_terms(item["q"])
                await reader.lexical_passages(terms, TOP_K)
                engine.search(terms, TOP_K)
            for item in items:
                terms = content_terms(item["q"])
                if not terms:
                    continue
                started = time.perf_counter()
                frequencies, total = await reader.document_frequencies(terms)
                searched = lexical_terms(terms, frequencies, total)
                fts = await reader.lexical_passages(searched, TOP_K)
                fts_shipped.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                own, own_total = engine.frequencies(terms)
                engine.search(lexical_terms(terms, own, own_total), TOP_K)
                tantivy_shipped.append((time.perf_counter() - started) * 1000)
                # the same terms for both, search only
                started = time.perf_counter()
                fts = await reader.lexical_passages(searched, TOP_K)
                fts_search.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                found = engine.search(searched, TOP_K)
                tantivy_search.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                direct.execute(FTS5_SQL, (fts_match(searched), TOP_K)).fetchall() if searched else None
                fts_direct.append((time.perf_counter() - started) * 1000)
                a, b = [pid for pid, _ in fts], [pid for pid, _ in found]
                overlap10.append(_overlap(a[:10], b[:10]))
                overlap64.append(_overlap(a, b))
                if item.get("article") and item.get("answers"):
                    answerable += 1
                    for name, ids in (("fts5", a), ("tantivy", b)):
                        recall[name]["top10"] += any(_holds(texts.get(p, ""), item["answers"]) for p in ids[:10])
                        recall[name]["top64"] += any(_holds(texts.get(p, ""), item["answers"]) for p in ids)
    finally:
        await storage.close()
        direct.close()
    out: dict[str, Any] = {
        "passages": len(rows),
        "read_passages_s": round(read_s, 1),
        "questions": len(fts_search),
        "answerable": answerable,
        "tantivy_build_s": round(build_s, 2),
        "tantivy_size_mb": engine.size_mb(),
        "tantivy_replace_1000_s": round(update_s, 3),
        "search_only_ms": {
            "fts5": percentiles(fts_search),
            "fts5_direct_sqlite3": percentiles(fts_direct),
            "tantivy": percentiles(tantivy_search),
        },
        "as_shipped_ms": {"fts5": percentiles(fts_shipped), "tantivy": percentiles(tantivy_shipped)},
        "top10_overlap": round(sum(overlap10) / max(1, len(overlap10)), 3),
        "top64_overlap": round(sum(overlap64) / max(1, len(overlap64)), 3),
        "candidate_answer_recall": {
            name: {k: round(v / max(1, answerable), 3) for k, v in counts.items()} for name, counts in recall.items()
        },
    }
    if pipeline:
        log(f"lexical-engines/{label}: the answering pipeline with FTS5, then with tantivy plugged in")
        out["pipeline"] = {
            "fts5": await _pipeline(data_dir, None, items),
            "tantivy": await _pipeline(data_dir, engine, items),
        }
    for line in table(label, out):
        log(f"lexical-engines: {line}")
    return out


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Shared ids over the longer list (1.0 when both are empty)."""
    longest = max(len(a), len(b))
    return len(set(a) & set(b)) / longest if longest else 1.0


def table(label: str, out: dict[str, Any]) -> list[str]:
    rows = [
        ("search p50 ms (same terms)", out["search_only_ms"]["fts5"]["p50"], out["search_only_ms"]["tantivy"]["p50"]),
        ("search p95 ms (same terms)", out["search_only_ms"]["fts5"]["p95"], out["search_only_ms"]["tantivy"]["p95"]),
        (
            "search p50/p95 ms, sqlite3 direct",
            f"{out['search_only_ms']['fts5_direct_sqlite3'].get('p50')}/{out['search_only_ms']['fts5_direct_sqlite3'].get('p95')}",
            "",
        ),
        ("with doc. frequencies p50 ms", out["as_shipped_ms"]["fts5"]["p50"], out["as_shipped_ms"]["tantivy"]["p50"]),
        ("with doc. frequencies p95 ms", out["as_shipped_ms"]["fts5"]["p95"], out["as_shipped_ms"]["tantivy"]["p95"]),
        *(
            (
                f"answer in top {k[3:]} passages",
                out["candidate_answer_recall"]["fts5"][k],
                out["candidate_answer_recall"]["tantivy"][k],
            )
            for k in ("top10", "top64")
        ),
    ]
    pipeline = out.get("pipeline")
    if pipeline:
        rows += [
            ("ask p50 ms", pipeline["fts5"]["ask_ms"]["p50"], pipeline["tantivy"]["ask_ms"]["p50"]),
            ("ask p95 ms", pipeline["fts5"]["ask_ms"]["p95"], pipeline["tantivy"]["ask_ms"]["p95"]),
            (
                "answer in top quote",
                pipeline["fts5"]["answer_in_top_quote"],
                pipeline["tantivy"]["answer_in_top_quote"],
            ),
            ("answer in a quote", pipeline["fts5"]["answer_in_quote"], pipeline["tantivy"]["answer_in_quote"]),
        ]
    lines = [
        f"{label} ({out['passages']:,} passages)  top-10 overlap {out['top10_overlap']}",
        f"{'':32} {'FTS5':>8} {'tantivy':>8}",
    ]
    lines += [f"{name:32} {a:>8} {b:>8}" for name, a, b in rows]
    return lines


def _near_archive(work: Path, passages: int, bbc_passages: int, seed: int) -> Path:
    """An archive of near copies of the BBC corpus holding about `passages` passages, indexed with the fake
    embedder; its data directory."""
    from index import Archive, HashEmbedder, Settings

    from .million import build_archive

    copies = max(1, -(-passages // max(1, bbc_passages)))
    archive_dir = work / f"near-{passages}"
    log(f"lexical-engines: writing {copies} near copies of the corpus (seed {seed})")
    build_archive(archive_dir, copies, variation="near", seed=seed)
    data_dir = work / f"data-near-{passages}"

    async def index() -> None:
        settings = Settings(data_dir=data_dir, archive_roots=(archive_dir,), model="hash:384")
        archive = await Archive.open(settings, embedder=HashEmbedder(384))
        try:
            await archive.reindex([archive_dir])
        finally:
            await archive.close()

    started = time.perf_counter()
    asyncio.run(index())
    log(f"lexical-engines: {copies} near copies indexed (fake embedder) in {time.perf_counter() - started:.0f} s")
    shutil.rmtree(archive_dir, ignore_errors=True)
    return data_dir


def _bbc_data(bbc_data: Path | None, work: Path) -> Path:
    for candidate in (bbc_data, PREBUILT):
        if candidate is not None and (candidate / "archive.sqlite3").exists():
            copy = work / "data-bbc"
            shutil.copytree(candidate, copy, ignore=shutil.ignore_patterns("index.lock", "*.tmp"))
            return copy
    from ._common import CORPUS
    from .indexing import _index_process

    log("lexical-engines: no built BBC archive: archivebot index of the BBC corpus + the seed (real model)")
    _index_process([CORPUS, REPO / "seeds"], work / "data-bbc", work)
    return work / "data-bbc"


def run(
    sizes: Sequence[str] = ("bbc", "200000"),
    *,
    bbc_data: Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    from importlib.metadata import version

    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-lexical-engines-"))
    try:
        out: dict[str, Any] = {"tantivy": version("tantivy")}
        bbc_passages = 0
        for size in sizes:
            if size == "bbc":
                data_dir = _bbc_data(bbc_data, work)
                out["bbc"] = asyncio.run(_compare(data_dir, work, "bbc", pipeline=True))
                bbc_passages = out["bbc"]["passages"]
            else:
                if not bbc_passages:
                    bbc_passages = 19_000  # about the BBC archive's passages, when it was not measured first
                data_dir = _near_archive(work, int(size), bbc_passages, seed)
                out[size] = asyncio.run(_compare(data_dir, work, f"near-{size}", pipeline=False))
                shutil.rmtree(data_dir, ignore_errors=True)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
