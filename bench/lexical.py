"""The full-text (FTS5/BM25) stage of `ask` at 1M passages, through the engine's own code.

A copy of the prebuilt BBC database gets its passage rows and full-text rows replicated (new ids) until it
holds `size` passages: the same vocabulary at ~50x the frequencies, which is pessimistic for common words
(real archives have more distinct rare words). Per question of the dev and held-out sets it times what
`Archive.ask` runs before ranking: the embedded reader's `document_frequencies` and `fts_passages` of the terms that
`lexical_terms` keeps, against the same with every term searched (what runs below LEXICAL_LIMIT_FROM).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import DEV_QUESTIONS, PREBUILT, REPO, log, percentiles

HELDOUT = REPO / "tests" / "data" / "heldout_questions.jsonl"


def _replicate(database: Path, size: int) -> int:
    with sqlite3.connect(database) as connection:
        last = connection.execute("SELECT MAX(id) FROM passages").fetchone()[0] or 0
        count = connection.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        copies = max(0, -(-size // max(1, count)) - 1)
        for copy in range(1, copies + 1):
            offset = copy * (last + 1)
            connection.execute(
                "INSERT INTO passages_fts(rowid, title, text) SELECT rowid + ?, title, text"
                " FROM passages_fts WHERE rowid <= ?",
                (offset, last),
            )
            connection.execute(
                "INSERT INTO passages (id, article_row, ordinal, start, end, first_sentence,"
                " last_sentence) SELECT id + ?, article_row, ordinal, start, end, first_sentence,"
                " last_sentence FROM passages WHERE id <= ?",
                (offset, last),
            )
            connection.commit()
        connection.execute("INSERT INTO passages_fts(passages_fts) VALUES('optimize')")
        connection.commit()
        return connection.execute("SELECT COUNT(*) FROM passages").fetchone()[0]


async def _measure(database: Path, questions: list[str]) -> dict[str, Any]:
    from index.answering.lexical import content_terms, lexical_terms
    from index.storage.sqlite.fulltext import document_frequencies, fts_passages
    from index.storage.sqlite.schema import fts_match, open_database

    db = await open_database(database, create=False)  # no vector file to go with it: the queries alone
    try:
        limited: list[float] = []
        everything: list[float] = []
        kept_share: list[float] = []
        for question in questions:
            terms = content_terms(question)
            if not terms:
                continue
            started = time.perf_counter()
            frequencies, total = await document_frequencies(db, terms)
            searched = lexical_terms(terms, frequencies, total)
            await fts_passages(db, fts_match(searched), 64)
            limited.append((time.perf_counter() - started) * 1000)
            kept_share.append(len(searched) / len(terms))
            started = time.perf_counter()
            frequencies, total = await document_frequencies(db, terms)
            await fts_passages(db, fts_match(terms), 64)
            everything.append((time.perf_counter() - started) * 1000)
        return {
            "questions": len(limited),
            "passages": total,
            "as_shipped_ms": percentiles(limited),
            "every_term_ms": percentiles(everything),
            "terms_searched_share": round(sum(kept_share) / max(1, len(kept_share)), 3),
        }
    finally:
        await db.close()


def run(size: int = 1_000_000) -> dict[str, Any]:
    if not (PREBUILT / "archive.sqlite3").exists():
        return {"skipped": f"no prebuilt index at {PREBUILT}"}
    questions = [
        json.loads(line)["q"]
        for path in (DEV_QUESTIONS, HELDOUT)
        if path.exists()
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-lexical-"))
    try:
        database = work / "archive.sqlite3"
        shutil.copyfile(PREBUILT / "archive.sqlite3", database)
        out: dict[str, Any] = {"original": asyncio.run(_measure(database, questions))}
        log(f"lexical: replicating the database to {size:,} passages")
        started = time.perf_counter()
        passages = _replicate(database, size)
        out["replicate_s"] = round(time.perf_counter() - started, 1)
        out["replicated"] = asyncio.run(_measure(database, questions))
        log(
            f"lexical: {passages:,} passages: as shipped p50/p95 {out['replicated']['as_shipped_ms']['p50']}/"
            f"{out['replicated']['as_shipped_ms']['p95']} ms, every term {out['replicated']['every_term_ms']['p50']}/"
            f"{out['replicated']['every_term_ms']['p95']} ms"
        )
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
