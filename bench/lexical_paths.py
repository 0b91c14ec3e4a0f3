"""`python -m bench.lexical_paths URL QUESTIONS.jsonl...`: the PostgreSQL lexical paths side by side on one
archive (schema 4): every posting aggregated (the query before schema 4), the stored-weight top-k (`postings`) and the
pg_textsearch index, each run on the same snapshot with the engine's own query terms (`content_terms`, then
`lexical_terms` with the stored document frequencies), top-64, the second of two passes. Prints p50 / p95 and
each path's top-10 / top-64 agreement with every posting aggregated."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np


async def _measure(url: str, questions: list[str]) -> None:
    from index.answering.lexical import content_terms, lexical_terms
    from index.storage.postgres import lexical
    from index.storage.postgres import reader as reader_module
    from index.storage.postgres.storage import PostgresStorage

    storage = await PostgresStorage.open(url, create=False)
    try:
        async with storage.reader() as reader:
            total = int(reader.meta["passage_count"])
            average = float(reader.meta["token_total"]) / total
            chosen = []
            for question in questions:
                terms = content_terms(question)
                frequencies, count = await reader.document_frequencies(terms)
                chosen.append(lexical_terms(terms, frequencies, count))
            paths = {
                "every posting aggregated (before schema 4)": reader_module._BM25,
                "postings top-1024 by stored weight": lexical.TOP_POSTINGS_QUERY,
                "pg_textsearch": lexical.BM25_INDEX_QUERY,
            }
            found: dict[str, list[list[int]]] = {}
            latency: dict[str, list[float]] = {}
            for _ in range(2):  # the first pass warms the caches
                for name, query in paths.items():
                    found[name], latency[name] = [], []
                    for terms in chosen:
                        params = {"text": " ".join(terms), "total": total, "average": average, "limit": 64}
                        start = time.perf_counter()
                        rows = await reader._rows(query, params) if terms else []
                        latency[name].append((time.perf_counter() - start) * 1000)
                        found[name].append([int(row[0]) for row in rows if row[1] > 0])
            exact = found["every posting aggregated (before schema 4)"]
            for name in paths:
                at10 = [
                    len(set(a[:10]) & set(b[:10])) / min(10, len(b))
                    for a, b in zip(found[name], exact, strict=True)
                    if b
                ]
                at64 = [len(set(a) & set(b)) / len(b) for a, b in zip(found[name], exact, strict=True) if b]
                p50, p95 = np.percentile(latency[name], [50, 95])
                print(
                    f"{name}: p50 / p95 {p50:.1f} / {p95:.1f} ms; agreement top-10 {np.mean(at10):.3f},"
                    f" top-64 {np.mean(at64):.3f}"
                )
            print(f"{len(questions)} questions, {total} passages, the archive's path: {reader.meta.get('lexical')}")
    finally:
        await storage.close()


def main() -> None:
    url, files = sys.argv[1], sys.argv[2:]
    questions = [
        json.loads(line)["q"] for name in files for line in Path(name).read_text().splitlines() if line.strip()
    ]
    asyncio.run(_measure(url, questions))


if __name__ == "__main__":
    main()
