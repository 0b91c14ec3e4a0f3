"""`python -m bench.stages DATA_DIR [--rounds 2] [--onnx-threads 2] [--model M] [--full-text E]`: where a warm
question's time goes on an indexed embedded archive — `Archive.ask`'s own `timings_ms` (encode, retrieve, select,
total) and each read the question makes through the SQLite reader (vector search, document frequencies, full-text
search, row reads), over the dev and held-out questions after 3 warm-up questions; then one question's FAISS search on
one OpenMP thread against two. Prints JSON (p50 / p95 ms). Run it from two checkouts in turn on the same
DATA_DIR for a before / after (bench/HISTORY.md, 2026-12-07 late). `--model`: an archive indexed with another
model than the bundled one (e.g. `hash:384`, the fake embedder, for full-text timings at a size the real
model would take an hour to index). `--full-text`: which passage search the embedded reader uses (the setting
`ARCHIVEBOT_FULL_TEXT`; `auto` is tantivy from 200,000 passages), for FTS5 against tantivy on one archive."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._common import DEV_QUESTIONS, HELD_OUT_QUESTIONS, percentiles, questions

READS = (
    "nearest_passages",
    "document_frequencies",
    "lexical_passages",
    "passage_vectors",
    "passages",
    "articles_by_rows",
    "copies_of",
    "sentences_of",
)


def _timed(method: Callable[..., Any], name: str, spent: dict[str, list[float]]) -> Callable[..., Any]:
    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(self, *args, **kwargs)
        finally:
            spent.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    return timed


async def _stages(
    data_dir: Path, rounds: int, onnx_threads: int, model: str | None = None, full_text: str = "auto"
) -> dict[str, Any]:
    import faiss
    import numpy as np

    from index import Archive, Settings
    from index.storage.sqlite.read import SqliteReader

    spent: dict[str, list[float]] = {}
    originals = {name: getattr(SqliteReader, name) for name in READS}
    for name, method in originals.items():
        setattr(SqliteReader, name, _timed(method, name, spent))
    settings = Settings(data_dir=data_dir, onnx_threads=onnx_threads, full_text=full_text)
    archive = await Archive.open(replace(settings, model=model) if model else settings)
    try:
        await archive.warm_up()
        asked = questions(DEV_QUESTIONS, HELD_OUT_QUESTIONS)
        for question in asked[:3]:
            await archive.ask(question)
        spent.clear()
        for _ in range(rounds):
            for question in asked:
                answer = await archive.ask(question)
                for stage, milliseconds in answer.timings_ms.items():
                    spent.setdefault(f"ask.{stage}", []).append(milliseconds)
        async with archive._storage.reader() as reader:
            vectors = await reader.vectors()
            searched = "tantivy" if await reader.text_index() is not None else "fts5"
    finally:
        await archive.close()
        for name, method in originals.items():
            setattr(SqliteReader, name, method)
    one = np.random.default_rng(0).standard_normal((1, vectors.dimension)).astype(np.float32)
    one /= np.linalg.norm(one)
    threads: dict[str, Any] = {}
    before = faiss.omp_get_max_threads()
    for count in (1, 2, 1, 2):
        faiss.omp_set_num_threads(count)
        started = time.perf_counter()
        for _ in range(200):
            vectors.index.search(one, 64)  # the raw index: VectorIndex.search pins one question to one thread
        threads.setdefault(f"faiss_one_query_k64_{count}_threads_ms", []).append(
            round((time.perf_counter() - started) / 200 * 1000, 3)
        )
    faiss.omp_set_num_threads(before)
    return {
        "data_dir": str(data_dir),
        "questions": len(asked),
        "rounds": rounds,
        "onnx_threads": onnx_threads,
        "factory": vectors.factory,
        "full_text": searched,
        **{name: percentiles(values) for name, values in spent.items()},
        **threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="an embedded archive's data directory (indexed)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--onnx-threads", type=int, default=2)
    parser.add_argument("--model", help="the model the archive was indexed with, if not the bundled one (hash:384)")
    parser.add_argument("--full-text", choices=("auto", "tantivy", "fts5"), default="auto")
    args = parser.parse_args()
    print(
        json.dumps(
            asyncio.run(_stages(args.data_dir, args.rounds, args.onnx_threads, args.model, args.full_text)), indent=1
        )
    )


if __name__ == "__main__":
    main()
