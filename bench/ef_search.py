"""`python -m bench.ef_search WORK_DIR`: HNSW recall@10 (by score) and latency against `hnsw.ef_search` on the
PostgreSQL archive a `--parts million --million-work WORK_DIR` run left (its private server is started again
and stopped). The dev and held-out questions, brute force over the stored vectors as the truth, as in
`bench/million.py`."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np

from .million import SCORE_TIE, _questions

SETTINGS = ((200, "off"), (400, "off"), (1000, "off"), (200, "relaxed_order"))


async def _sweep(url: str, queries: np.ndarray) -> None:
    import psycopg

    from index.storage.postgres.codec import HalfVector, register

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await register(connection)
        cursor = connection.cursor(binary=True)
        # What the index holds (one copy of each text, schema 5), searched as the engine searches it.
        await cursor.execute("SELECT id, embedding FROM passages WHERE first_copy ORDER BY id")
        rows = await cursor.fetchall()
        position = {int(row[0]): number for number, row in enumerate(rows)}
        matrix = np.stack([row[1] for row in rows]).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        for ef_search, iterative in SETTINGS:
            await connection.execute(f"SET hnsw.ef_search = {ef_search}")
            await connection.execute(f"SET hnsw.iterative_scan = {iterative}")
            recall, times = [], []
            for query in queries:
                scores = matrix @ query
                tenth = float(np.sort(scores[np.argpartition(-scores, 10)[:10]])[0])
                started = time.perf_counter()
                found = await connection.execute(
                    "SELECT id FROM passages WHERE first_copy ORDER BY embedding <=> %s LIMIT 64",
                    (HalfVector(query),),
                )
                ids = [int(row[0]) for row in await found.fetchall()][:10]
                times.append((time.perf_counter() - started) * 1000)
                recall.append(sum(1 for i in ids if scores[position[i]] >= tenth - SCORE_TIE) / 10)
            print(
                f"ef_search {ef_search} iterative_scan {iterative}: recall@10 by score {np.mean(recall):.3f},"
                f" p50 {np.percentile(times, 50):.1f} ms, p95 {np.percentile(times, 95):.1f} ms",
                flush=True,
            )


def on_kept_postgres(work: Path, measure: Callable[[str, np.ndarray], Coroutine[Any, Any, None]]) -> None:
    """Start the private server a `--parts million --million-work WORK` run left, embed the dev and held-out
    questions with the shipped model, `measure(url, question vectors)`, and stop the server."""
    import pgserver

    from index._settings import Settings, use_offline_defaults
    from index.embedding.embedder import make_embedder

    use_offline_defaults()
    server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
    try:
        environment = {"ARCHIVEBOT_DATA_DIR": str(work / "data-postgres"), "ARCHIVEBOT_EMBED_WORKERS": "1"}
        embedder = make_embedder(Settings.from_env(environment, load_dotenv=False), None)
        queries = np.asarray(embedder.embed(_questions()), dtype=np.float32)
        asyncio.run(measure(server.get_uri("million"), queries))
    finally:
        server._cleanup()


if __name__ == "__main__":
    on_kept_postgres(Path(sys.argv[1]), _sweep)
