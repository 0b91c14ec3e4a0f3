"""`python -m bench.copies [--corpus DIR] [--all-pairs]`: syndicated copies in an archive (docs/quality.md).

Parses the archive as the indexer does, runs the indexer's copy detection (`index.indexing.copies`: band keys, LSH
candidates, exact Jaccard at COPY_THRESHOLD, union-find) and prints one JSON document: how many groups, each
group with its articles and the lowest Jaccard inside it, the groups below 0.95 singled out for inspection by
eye, and the near misses (candidate pairs under the threshold) that were kept apart. `--all-pairs` also
compares every pair of articles exactly (quadratic: ~40 s for 2,095 articles on one core) to count the copies
the LSH side missed. `--scale 4,16,53` instead times the indexer's grouping alone (`update_copy_groups` on the
embedded backend's tables, in memory) over the corpus copied N times, in commits of 2,000 articles as
`archivebot index` makes them: seconds, bodies shingled, stored pairs, groups (docs/quality.md).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiosqlite

from index._models import ParsedArticle
from index._settings import MAX_ARTICLE_SENTENCES
from index.indexing import copies as _copies
from index.indexing.copies import (
    COPY_THRESHOLD,
    article_band_keys,
    candidate_pairs,
    confirmed_pairs,
    group_rows,
    jaccard,
    shingles,
)
from index.indexing.embed import body_hash
from index.reading.files import discover
from index.reading.parse import parse_file
from index.storage.sqlite.copies import SqliteCopies
from index.storage.sqlite.schema import COPIES_SCHEMA, SCHEMA

from ._common import CORPUS, log

INSPECT_BELOW = 0.95  # groups whose weakest pair is below this are listed for reading side by side
NEAR_MISS = 0.5  # candidate pairs at or above this but under the threshold are listed too
COMMIT_ARTICLES = 2000  # archivebot index's default ARCHIVEBOT_INDEX_CHUNK_ARTICLES: it groups once per commit


def parse_archive(root: Path) -> list[ParsedArticle]:
    files, _ = discover([root])
    articles: list[ParsedArticle] = []
    for file in files:
        parsed, _ = parse_file(file, 5_000_000, max_sentences=MAX_ARTICLE_SENTENCES)
        articles.extend(parsed)
    return articles


def _describe(article: ParsedArticle) -> dict[str, Any]:
    return {"id": article.article_id, "title": article.title, "location": article.location}


def measure(articles: list[ParsedArticle], all_pairs: bool) -> dict[str, Any]:
    bodies = {row: article.body for row, article in enumerate(articles)}
    buckets: dict[int, list[int]] = {}
    for row, body in bodies.items():
        for key in article_band_keys(body):
            buckets.setdefault(key, []).append(row)
    candidates = candidate_pairs(bucket for bucket in buckets.values() if len(bucket) > 1)
    scored = confirmed_pairs(candidates, bodies, threshold=0.0)
    confirmed = [(first, second, value) for first, second, value in scored if value >= COPY_THRESHOLD]
    weakest: dict[tuple[int, ...], float] = {}
    groups = group_rows((first, second) for first, second, _ in confirmed)
    for group in groups:
        inside = [value for first, second, value in confirmed if first in group and second in group]
        weakest[tuple(group)] = min(inside)
    report: dict[str, Any] = {
        "articles": len(articles),
        "threshold": COPY_THRESHOLD,
        "candidate_pairs": len(candidates),
        "groups": len(groups),
        "articles_in_groups": sum(len(group) for group in groups),
        "identical_groups": sum(1 for group in groups if weakest[tuple(group)] == 1.0),
        "to_inspect": [
            {"min_jaccard": round(weakest[tuple(group)], 3), "articles": [_describe(articles[row]) for row in group]}
            for group in sorted(groups, key=lambda group: weakest[tuple(group)])
            if weakest[tuple(group)] < INSPECT_BELOW
        ],
        "near_misses": [
            {"jaccard": round(value, 3), "articles": [_describe(articles[first]), _describe(articles[second])]}
            for first, second, value in sorted(scored, key=lambda item: -item[2])
            if NEAR_MISS <= value < COPY_THRESHOLD
        ],
        "all_groups": [[articles[row].location for row in group] for group in groups],
    }
    if all_pairs:
        report["missed_by_lsh"] = _missed(bodies, {(first, second) for first, second, _ in confirmed})
    return report


def _missed(bodies: dict[int, str], found: set[tuple[int, int]]) -> int:
    """Pairs at or above the threshold by exact comparison of every pair that the LSH side did not propose."""
    shingled = {row: shingles(body) for row, body in bodies.items()}
    log(f"comparing all {len(bodies) * (len(bodies) - 1) // 2:,} pairs")
    return sum(
        1
        for first, second in itertools.combinations(sorted(shingled), 2)
        if (first, second) not in found and jaccard(shingled[first], shingled[second]) >= COPY_THRESHOLD
    )


async def grouping_scale(articles: list[ParsedArticle], copies: int) -> dict[str, Any]:
    """The indexer's grouping over `copies` copies of the articles (titles differ, bodies are the same)."""
    shingled = 0
    original = _copies.shingles

    def counted(body: str) -> set[int]:
        nonlocal shingled
        shingled += 1
        return original(body)

    rows = [
        (f"{copy}-{article.article_id}", "x", "x", "x", "x", body_hash(article.body), article.title, article.body, "x")
        for copy in range(copies)
        for article in articles
    ]
    spent, groups = 0.0, 0
    connection = await aiosqlite.connect(":memory:")
    _copies.shingles = counted
    try:
        await connection.executescript(SCHEMA + COPIES_SCHEMA)
        for start in range(0, len(rows), COMMIT_ARTICLES):
            await connection.executemany(
                "INSERT INTO articles (article_id, location, path, fingerprint, content_hash, body_hash, title, body,"
                " indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows[start : start + COMMIT_ARTICLES],
            )
            began = time.perf_counter()
            groups = await _copies.update_copy_groups(SqliteCopies(connection))
            spent += time.perf_counter() - began
        cursor = await connection.execute("SELECT count(*) FROM copy_content_pairs")
        pairs = (await cursor.fetchone() or (0,))[0]
    finally:
        _copies.shingles = original
        await connection.close()
    return {
        "copies": copies,
        "articles": len(rows),
        "grouping_s": round(spent, 1),
        "shingled": shingled,
        "stored_pairs": pairs,
        "groups": groups,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.copies", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--all-pairs", action="store_true", help="also compare every pair exactly (LSH recall)")
    parser.add_argument("--scale", help="time the indexer's grouping over the corpus copied N times, e.g. 4,16,53")
    options = parser.parse_args(argv)
    if not options.corpus.is_dir():
        print(f"no archive at {options.corpus}", file=sys.stderr)
        return 1
    articles = parse_archive(options.corpus)
    log(f"{len(articles):,} articles parsed")
    if options.scale:
        for copies in (int(value) for value in options.scale.split(",")):
            print(json.dumps(asyncio.run(grouping_scale(articles, copies))), flush=True)
        return 0
    print(json.dumps(measure(articles, options.all_pairs), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
