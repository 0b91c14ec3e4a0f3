"""A real archive of a million passages, end to end (`--parts million`, issue 12 part 3).

The BBC corpus copied N times (each copy's headlines carry the copy number, so every article is distinct; the
bodies repeat, so identical sentences are embedded once and only the headlines are new texts) is indexed by
`archivebot index` with the shipped settings and the real model, as its own process (wall time, and peak RSS
from the kernel's `wait4`). Then, on the same archive: an unchanged re-run, a re-run after 10 articles changed,
and in a fresh serving process warm `ask` latency over the dev and held-out questions, and recall@10 of the
vector index against exact search over the same passage vectors (recomputed from the stored sentence vectors,
float32, brute force). The whole run is repeated on PostgreSQL + pgvector (a private server started here, or
the disposable database named by ARCHIVEBOT_BENCH_DATABASE_URL).

`variation="near"` (`--million-variation near`) makes the copies near, not exact: copy 0 is the corpus as it
is, and every other copy of an article is a Markdown file with its own source and date in front matter (a
different publication and day per copy), a few % of its lowercase words dropped, and in some paragraphs two
adjacent sentences swapped: the twins of a story then share most words but no sentence-for-sentence text, so
each is embedded anew and none is grouped as an exact copy. `exact` (the default, as measured before) is the
worst case for the vector index. Both are deterministic (`near` from `seed`).

Recall is reported twice. Every passage here has N - 1 near-identical twins (same sentences; only the title
nudge differs), so the exact top 10 is often 10 of a passage's twins, separated by less than the index's own
rounding: `recall_at_10` counts ids, `recall_at_10_by_score` counts a found passage whose exact score is within
SCORE_TIE of the exact 10th score as a hit. The exact search runs over the passages the index holds: every
passage embedded; on PostgreSQL (schema 5) the first copy of each body, the twins being cited through it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import random
import re
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    DEV_QUESTIONS,
    HELD_OUT_QUESTIONS,
    index_process,
    log,
    peak_rss_mb,
    percentiles,
    questions,
    rss_mb,
)
from .updates import edit_ten

VARIATIONS = ("exact", "near")
WORD_DROPOUT = 0.03  # near copies: share of droppable words (lowercase, not first or last in their sentence) dropped
SWAP_SHARE = 0.3  # near copies: share of paragraphs (of 2+ sentences) with two adjacent sentences swapped
_CITIES = ("Northern", "Southern", "Eastern", "Western", "Midland", "Coastal", "Highland", "Valley")
_PAPERS = ("Courier", "Gazette", "Herald", "Chronicle", "Observer", "Post", "Wire")
_FIRST_DAY = date(2004, 1, 1)
_SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’']))\s+(?=[\"“‘']?[A-Z0-9])")
_DROPPABLE = re.compile(r"[a-z]+")
SCORE_TIE = 1e-3  # cosine; the title nudge separates twins by ~1e-4-1e-3, SQ8/halfvec rounding by ~1e-3
DATABASE_URL = "ARCHIVEBOT_BENCH_DATABASE_URL"


def _questions() -> list[str]:
    return questions(DEV_QUESTIONS, HELD_OUT_QUESTIONS)


async def _serve(environment: dict[str, str], rounds: int) -> dict[str, Any]:
    """In a fresh process: open the archive as the bot does, warm it up, and time `ask`; then recall."""
    from index import Archive, Settings

    settings = Settings.from_env(environment, load_dotenv=False)
    before = rss_mb()
    started = time.perf_counter()
    archive = await Archive.open(settings)
    await archive.warm_up()
    warm_s = time.perf_counter() - started
    asked = _questions()
    for question in asked[:5]:  # first queries touch cold pages
        await archive.ask(question)
    stages: dict[str, list[float]] = {"encode": [], "retrieve": [], "select": [], "total": []}
    wall: list[float] = []
    quoted = 0
    for _ in range(rounds):
        for question in asked:
            started = time.perf_counter()
            answer = await archive.ask(question)
            wall.append((time.perf_counter() - started) * 1000)
            quoted += bool(answer.quotes)
            for key, values in stages.items():
                values.append(answer.timings_ms.get(key, 0.0))
    result: dict[str, Any] = {
        "questions": len(asked),
        "rounds": rounds,
        "answered_share": round(quoted / max(len(wall), 1), 3),
        "open_and_warm_up_s": round(warm_s, 2),
        "ask_wall_ms": percentiles(wall),
        **{f"{key}_ms": percentiles(values) for key, values in stages.items()},
        "serving_rss_mb": rss_mb(),
        "serving_rss_mb_before_open": before,
    }
    result["recall"] = await _recall(archive, asked)
    await archive.close()
    return result


async def _exact_vectors(storage: Any, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Every passage's float32 vector, recomputed from its stored sentence and title vectors."""
    from index.storage import passage_vector_from_blobs

    ids: list[int] = []
    matrix = np.empty((1 << 16, dimension), dtype=np.float32)
    async with storage.check() as check:
        async for passage_id, sentence_blobs, title_blob in check.passage_vector_sources():
            if len(ids) == len(matrix):
                matrix = np.resize(matrix, (len(matrix) * 2, dimension))
            matrix[len(ids)] = passage_vector_from_blobs(sentence_blobs, title_blob)
            ids.append(passage_id)
    return np.asarray(ids, dtype=np.int64), matrix[: len(ids)]


async def _indexed_passages(storage: Any) -> set[int] | None:
    """The passages the vector index holds: on PostgreSQL one copy of each body (`passages.first_copy`, schema
    5); the embedded FAISS index holds every passage (None)."""
    if not hasattr(storage, "_connection"):
        return None
    async with storage._connection() as connection:
        cursor = await connection.execute("SELECT id FROM passages WHERE first_copy")
        return {int(row[0]) for row in await cursor.fetchall()}


async def _recall(archive: Any, questions: list[str]) -> dict[str, Any]:
    """The archive's vector search (as the engine calls it) against brute force over the same vectors."""
    storage = archive._storage  # the bench looks inside: what the engine's vector search is given
    embedder = await archive.embedder()
    queries = np.asarray(await asyncio.to_thread(embedder.embed, questions), dtype=np.float32)
    started = time.perf_counter()
    ids, matrix = await _exact_vectors(storage, queries.shape[1])
    log(f"million: {len(ids):,} exact passage vectors recomputed in {time.perf_counter() - started:.0f} s")
    indexed = await _indexed_passages(storage)
    if indexed is not None:  # the truth is exact search over what the index holds, as the engine asks it
        keep = np.isin(ids, np.fromiter(indexed, dtype=np.int64, count=len(indexed)))
        ids, matrix = ids[keep], matrix[keep]
    by_id = {int(passage_id): row for row, passage_id in enumerate(ids)}
    strict, by_score, search_ms = [], [], []
    for query in queries:
        scores = matrix @ query
        top = np.argpartition(-scores, 10)[:10]
        truth = set(ids[top].tolist())
        tenth = float(np.sort(scores[top])[0])
        async with storage.reader() as reader:
            started = time.perf_counter()
            found = (await reader.nearest_passages(query, 64))[:10]
            search_ms.append((time.perf_counter() - started) * 1000)
        strict.append(len(truth & set(found)) / 10)
        by_score.append(sum(1 for p in found if p in by_id and scores[by_id[p]] >= tenth - SCORE_TIE) / 10)
    return {
        "queries": len(queries),
        "passages": len(ids),
        "recall_at_10": round(float(np.mean(strict)), 4),
        "recall_at_10_by_score": round(float(np.mean(by_score)), 4),
        "vector_search_k64_ms": percentiles(search_ms),
    }


def _serve_process(environment: dict[str, str], rounds: int) -> dict[str, Any]:
    from index._settings import use_offline_defaults

    use_offline_defaults()
    out = asyncio.run(_serve(environment, rounds))
    out["serving_peak_rss_mb_with_recall"] = peak_rss_mb()
    return out


def _first_build(archive_dir: Path, environment: dict[str, str], label: str) -> dict[str, Any]:
    log(f"million/{label}: first build (archivebot index, real model)")
    first = index_process(archive_dir, environment, echo=True)
    log(f"million/{label}: first build {first}")
    result: dict[str, Any] = {"first_build": first}
    result["unchanged_rerun"] = index_process(archive_dir, environment)
    log(f"million/{label}: unchanged re-run {result['unchanged_rerun']}")
    return result


def _changed_run(archive_dir: Path, environment: dict[str, str], label: str) -> dict[str, Any]:
    log(f"million/{label}: re-run after 10 changed articles")
    out = index_process(archive_dir, environment)
    log(f"million/{label}: 10 changed {out}")
    return out


def _ask(environment: dict[str, str], rounds: int, label: str) -> dict[str, Any]:
    log(f"million/{label}: ask latency and recall in a fresh process")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = pool.submit(_serve_process, environment, rounds).result()
    log(f"million/{label}: ask {out['total_ms']}, recall {out['recall']}")
    return out


def _postgres_url(work: Path) -> tuple[str, Any]:
    url = os.environ.get(DATABASE_URL, "").strip()
    if url:
        return url, None
    import pgserver

    work.chmod(0o755)  # as root, the server runs as the `pgserver` user: it must reach its data directory
    fresh = not (work / "pgdata").exists()
    server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
    if fresh:
        server.psql("CREATE DATABASE million;")
    return server.get_uri("million"), server


STAGES = ("build", "changed", "ask")


def run(
    copies: int = 53,
    backends: tuple[str, ...] = ("embedded", "postgres"),
    rounds: int = 2,
    *,
    work: Path | None = None,
    stages: tuple[str, ...] = STAGES,
    variation: str = "exact",
    seed: int = 0,
) -> dict[str, Any]:
    """Every stage on each backend in turn (the 10 edits are made after every first build). With `work`, the
    archive, the data and the server stay there, so later stages can run in another invocation (e.g. `ask` on
    a quiet machine after builds that ran side by side)."""
    keep = work is not None
    work = work or Path(tempfile.mkdtemp(prefix="archivebot-bench-million-"))
    work.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        archive_dir = work / "archive"
        if not archive_dir.exists():
            build_archive(archive_dir, copies, variation=variation, seed=seed)
        articles = sum(1 for p in archive_dir.rglob("*") if p.suffix in {".txt", ".md"})
        out: dict[str, Any] = {
            "copies": copies,
            "variation": variation,
            "seed": seed if variation == "near" else None,
            "articles": articles,
            "backends": {},
        }
        environments: dict[str, dict[str, str]] = {}
        for label in backends:
            environment = {"ARCHIVEBOT_DATA_DIR": str(work / f"data-{label}")}
            if label == "postgres":
                url, server = _postgres_url(work)
                environment["ARCHIVEBOT_DATABASE_URL"] = url
            environments[label] = environment
            out["backends"][label] = _first_build(archive_dir, environment, label) if "build" in stages else {}
        if "changed" in stages:
            out["changed_articles"] = len(edit_ten(archive_dir))
        for label in backends:
            if "changed" in stages:
                out["backends"][label]["ten_changed"] = _changed_run(archive_dir, environments[label], label)
            if "ask" in stages:
                out["backends"][label]["ask"] = _ask(environments[label], rounds, label)
        return out
    finally:
        if server is not None:
            server._cleanup()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _corpus_files(corpus: Path | None = None) -> list[Path]:
    from ._common import CORPUS

    corpus = corpus or CORPUS
    files = sorted(p for p in corpus.rglob("*.txt") if p.is_file())
    if not files:
        raise RuntimeError(f"no corpus at {corpus} (set ARCHIVEBOT_SHARED or ARCHIVEBOT_BENCH_CORPUS)")
    return files


def copy_source(copy: int) -> str:
    """A publication name per copy (56 distinct ones, then they repeat)."""
    return f"The {_CITIES[copy % len(_CITIES)]} {_PAPERS[copy // len(_CITIES) % len(_PAPERS)]}"


def copy_date(copy: int, rng: random.Random) -> date:
    """A day in the copy's own week (copy 1 in the first week of 2004, copy 2 in the second, ...)."""
    return _FIRST_DAY + timedelta(days=7 * copy + rng.randrange(7))


def sentences_of(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE_BREAK.split(paragraph) if s]


def vary_paragraph(paragraph: str, rng: random.Random, dropout: float = WORD_DROPOUT) -> str:
    """Words dropped (lowercase ones only, never a sentence's first or last: names, numbers and punctuation
    stay, so the text stays readable and its facts stay quotable) and perhaps two adjacent sentences swapped."""
    sentences = sentences_of(paragraph)
    if len(sentences) >= 2 and rng.random() < SWAP_SHARE:
        i = rng.randrange(len(sentences) - 1)
        sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
    varied = []
    for sentence in sentences:
        tokens = sentence.split()
        kept = [
            token
            for n, token in enumerate(tokens)
            if not (0 < n < len(tokens) - 1 and _DROPPABLE.fullmatch(token) and rng.random() < dropout)
        ]
        varied.append(" ".join(kept))
    return " ".join(varied)


def near_copy(text: str, copy: int, key: str, seed: int = 0, dropout: float = WORD_DROPOUT) -> str:
    """A near twin of a BBC-shaped article (headline line, blank line, paragraphs) as Markdown with front
    matter: the same headline, the copy's source and date, the paragraphs varied. Deterministic in
    (seed, copy, key)."""
    rng = random.Random(f"{seed}/{copy}/{key}")
    headline, _, rest = text.strip().partition("\n")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", rest) if p.strip()]
    body = "\n\n".join(vary_paragraph(" ".join(p.split()), rng, dropout) for p in paragraphs)
    front = (
        f"---\ntitle: {headline.strip()}\nsource: {copy_source(copy)}\ndate: {copy_date(copy, rng).isoformat()}\n---\n"
    )
    return f"{front}\n{body}\n"


def build_archive(
    target: Path, copies: int, *, variation: str = "exact", seed: int = 0, corpus: Path | None = None
) -> int:
    """`copies` copies of the corpus under `target` (see the module's docstring); the number of files written."""
    if variation not in VARIATIONS:
        raise ValueError(f"variation must be one of {VARIATIONS}, not {variation!r}")
    from ._common import CORPUS

    root = corpus or CORPUS
    files = _corpus_files(root)
    written = 0
    for copy in range(copies):
        for file in files:
            relative = file.relative_to(root)
            text = file.read_text(errors="ignore")
            if variation == "exact":  # as updates._build_archive has always written them
                destination = target / f"copy{copy:03d}" / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                headline, _, rest = text.partition("\n")
                destination.write_text(f"{headline} (edition {copy})\n{rest}")
            elif copy == 0:
                destination = target / f"copy{copy:03d}" / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_text(text)
            else:
                destination = (target / f"copy{copy:03d}" / relative).with_suffix(".md")
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_text(near_copy(text, copy, relative.as_posix(), seed))
            written += 1
    return written
