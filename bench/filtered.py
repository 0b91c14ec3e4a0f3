"""`python -m bench.filtered WORK_DIR [--embedded]`: a filtered question's vector search on PostgreSQL, as the
engine did it (the nearest 512 of every passage, then the filter) against what it does now (the HNSW index scanned
iteratively inside the filter, `nearest_passages(..., within=filters)`), on the PostgreSQL archive a
`--parts million --million-work WORK_DIR` run left (its private server is started again and stopped).

That archive has one source and no dates, so inside one transaction that is rolled back at the end every
article is given one of SOURCES sources (by its row, so each source holds 1/SOURCES of the archive) and each
of the dev and held-out questions asks for one of them (`source:"paper NN"`, NN by the question's number;
two digits, so no source's name holds another's).
The truth is brute force over the first copies the index holds, restricted to the source; recall@10 by
score as in `bench/million.py`; "passages proposed" is how many of the 64 the dense side needs pass the filter
(before, the engine asked for 8x as many, 512, and filtered them; now it asks for 64 inside the filter).

`--embedded`: the same on the embedded archive of that run (`WORK_DIR/data-embedded`): FAISS's nearest 512 of
all, filtered (what a filter broader than `WITHIN_LIMIT` passages still gets), against `SqliteReader.
nearest_passages(..., within=filters)`, which finds the filter's passages in SQLite and searches only them (an id
selector over every IVF list). The sources are given inside a write transaction that is rolled back; the truth is
brute force over every passage's exact vector (the stored sentence vectors), restricted to the source."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

from .ef_search import on_kept_postgres
from .million import SCORE_TIE

SOURCES = 50  # each source holds 2% of the archive
WIDENED = 512  # DENSE_K (64) x FILTERED_WIDENING (8): what a filtered question asked the dense side for before
NEEDED = 64


async def _compare(url: str, queries: np.ndarray) -> None:
    import psycopg

    from index._rows import Filters
    from index.storage.postgres.codec import HalfVector, register
    from index.storage.postgres.reader import _nearest_within
    from index.storage.postgres.search_indexes import HNSW_EF_SEARCH

    async with await psycopg.AsyncConnection.connect(url) as connection:
        await register(connection)
        cursor = connection.cursor(binary=True)
        await cursor.execute(
            f"UPDATE articles SET source = 'Paper ' || lpad((id % {SOURCES})::text, 2, '0')"
        )  # rolled back below
        await cursor.execute("SELECT p.id, p.article_row, p.embedding FROM passages p WHERE first_copy ORDER BY p.id")
        rows = await cursor.fetchall()
        ids = np.asarray([int(row[0]) for row in rows])
        source_of = np.asarray([int(row[1]) % SOURCES for row in rows])
        matrix = np.stack([row[2] for row in rows]).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        results: dict[str, dict[str, list[float]]] = {"before": {}, "now": {}}
        for number, query in enumerate(queries):
            source = number % SOURCES
            score_of, tenth = _truth(matrix, ids, source_of == source, query)
            started = time.perf_counter()
            await cursor.execute(f"SET LOCAL hnsw.ef_search = {WIDENED}")  # as the engine set it for k = 512
            await cursor.execute("SET LOCAL hnsw.iterative_scan = off")
            await cursor.execute(
                "SELECT p.id FROM passages p WHERE first_copy ORDER BY embedding <=> %s LIMIT %s",
                (HalfVector(query), WIDENED),
            )
            before = [int(row[0]) for row in await cursor.fetchall()]
            before = [pid for pid in before if pid in score_of][:NEEDED]  # the engine's filter, afterwards
            before_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            await cursor.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")  # k = 64: the engine's default
            await cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            statement, params = _nearest_within(Filters(source=f"paper {source:02d}"))
            await cursor.execute(statement, (HalfVector(query), *params, NEEDED))
            now = [int(row[0]) for row in await cursor.fetchall()]
            now = [pid for pid in now if pid in score_of][:NEEDED]
            now_ms = (time.perf_counter() - started) * 1000
            for name, found, spent in (("before", before, before_ms), ("now", now, now_ms)):
                figures = results[name]
                hits = sum(1 for pid in found[:10] if score_of[pid] >= tenth - SCORE_TIE)
                figures.setdefault("recall", []).append(hits / 10)
                figures.setdefault("allowed", []).append(len(found))
                figures.setdefault("ms", []).append(spent)
        await connection.rollback()
    print(f"{len(queries)} questions, each filtered to one of {SOURCES} sources ({len(ids)} first copies)")
    _print(results)


def _truth(
    matrix: np.ndarray, ids: np.ndarray, inside: np.ndarray, query: np.ndarray
) -> tuple[dict[int, float], float]:
    """Brute force over the passages `inside` the filter: each one's score, and the tenth best score."""
    scores = matrix[inside] @ query
    return dict(zip(ids[inside].tolist(), scores.tolist(), strict=True)), float(np.sort(scores)[-10])


def _recall(found: list[int], score_of: dict[int, float], tenth: float) -> float:
    return sum(1 for pid in found[:10] if score_of[pid] >= tenth - SCORE_TIE) / 10


async def _compare_embedded(data_dir: Path, queries: np.ndarray) -> None:
    from index._rows import Filters
    from index._settings import Settings
    from index.storage import open_storage
    from index.storage.faiss_vectors import SearchParameters
    from index.storage.layout import DATABASE_FILE
    from index.storage.sqlite.read import SqliteReader
    from index.storage.sqlite.schema import fetch, get_meta, open_database
    from index.storage.sqlite.vectors import ServedVectors

    from .million import _exact_vectors

    storage = await open_storage(Settings(data_dir=data_dir), create=False)
    try:
        ids, matrix = await _exact_vectors(storage, queries.shape[1])
    finally:
        await storage.close()
    db = await open_database(data_dir / DATABASE_FILE)  # creates the source index of this version if missing
    try:
        await db.execute("BEGIN IMMEDIATE")
        await db.execute(f"UPDATE articles SET source = 'Paper ' || printf('%02d', id % {SOURCES})")  # rolled back
        row_of = dict(await fetch(db, "SELECT id, article_row FROM passages"))
        source_of = np.asarray([int(row_of[int(pid)]) % SOURCES for pid in ids])
        reader = SqliteReader(db, await get_meta(db), ServedVectors(data_dir, SearchParameters()))
        vectors = await reader.vectors()
        results: dict[str, dict[str, list[float]]] = {"before": {}, "now": {}}
        for number, query in enumerate(queries):
            source = number % SOURCES
            score_of, tenth = _truth(matrix, ids, source_of == source, query)
            started = time.perf_counter()
            _, nearest = await asyncio.to_thread(vectors.search, query[None, :], WIDENED)
            before = [int(pid) for pid in nearest[0] if int(pid) in score_of][:NEEDED]
            before_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            now = await reader.nearest_passages(query, NEEDED, Filters(source=f"paper {source:02d}"))
            now_ms = (time.perf_counter() - started) * 1000
            now = [pid for pid in now if pid in score_of][:NEEDED]
            for name, found, spent in (("before", before, before_ms), ("now", now, now_ms)):
                figures = results[name]
                figures.setdefault("recall", []).append(_recall(found, score_of, tenth))
                figures.setdefault("allowed", []).append(len(found))
                figures.setdefault("ms", []).append(spent)
        await db.execute("ROLLBACK")
    finally:
        await db.close()
    print(
        f"{len(queries)} questions, each filtered to one of {SOURCES} sources ({len(ids)} passages, {vectors.factory})"
    )
    _print(results)


def _print(results: dict[str, dict[str, list[float]]]) -> None:
    for name, figures in results.items():
        print(
            f"{name}: recall@10 by score {np.mean(figures['recall']):.3f}, passages proposed (of {NEEDED})"
            f" mean {np.mean(figures['allowed']):.1f} min {min(figures['allowed']):.0f},"
            f" p50 {np.percentile(figures['ms'], 50):.1f} ms, p95 {np.percentile(figures['ms'], 95):.1f} ms",
            flush=True,
        )


def _on_embedded(work: Path) -> None:
    from index._settings import Settings, use_offline_defaults
    from index.embedding.embedder import make_embedder

    from ._common import DEV_QUESTIONS, HELD_OUT_QUESTIONS, questions

    use_offline_defaults()
    embedder = make_embedder(Settings(data_dir=work / "data-embedded", embed_workers=1), None)
    queries = np.asarray(embedder.embed(questions(DEV_QUESTIONS, HELD_OUT_QUESTIONS)), dtype=np.float32)
    asyncio.run(_compare_embedded(work / "data-embedded", queries))


if __name__ == "__main__":
    if "--embedded" in sys.argv[2:]:
        _on_embedded(Path(sys.argv[1]))
    else:
        on_kept_postgres(Path(sys.argv[1]), _compare)
