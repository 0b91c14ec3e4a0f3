"""The embedded backend's full-text side of a question (FTS5): document frequencies, remembered per database
version, and the BM25 passage search, split in two at scale.

Where a question's full-text time went at 1M passages (the 53-copy archive of `python -m bench --parts million`,
119 dev and held-out questions, 2026-12-07; the numbers are in bench/HISTORY.md): FTS5's bm25() costs about
1 µs for every passage the OR-query matches (not verified inside SQLite, likely its per-row read of the row's
length), against ~0.03 µs to merely count one; a `count(*)` per term costs that ~0.03 µs per passage of the
term, so the common words of a question ("year", in 200k passages: 6 ms) made the document frequencies. Hence:

- `TermFrequencies`: each term's count is kept for the database version it was counted in (SQLite's
  `data_version` of this connection, read inside the snapshot, and the connection's own changes), so a common word
  is counted once per commit, not once per question. The counts are the same numbers, only not recounted.
- `split_passages`: above SPLIT_FROM passages, the terms are split into the rarest (whose passages add up to at
  most ESSENTIAL_SHARE of the archive) and the rest. One query ranks the passages holding a rare term by the rare
  terms, a second scores, by every term, only the passages that hold both a rare and a common term, and a third
  (the passages holding common terms only) runs only when a bound says one of them could rank: the OR-query's
  top k either way (see the function; all 119 questions' top 64 identical at 1M). Below SPLIT_FROM the one
  OR-query runs, as always.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence

import aiosqlite

from index.storage.sqlite.schema import fetch, fetch_one, fts_match

SPLIT_FROM = 200_000  # passages; the engine's stop terms also start here (index/answering/lexical.py)
ESSENTIAL_SHARE = 0.01  # the rare terms' passages add up to at most this share (the rarest counts anyway)
REMEMBERED_TERMS = 100_000  # a version's counts are dropped wholesale beyond this many terms (a few MB)

_COUNT = "(SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?)"
_BM25 = "SELECT rowid, -bm25(passages_fts, 2.0, 1.0) AS score FROM passages_fts WHERE passages_fts MATCH ?"


async def document_frequencies(
    db: aiosqlite.Connection, terms: Sequence[str], passages: int | None = None
) -> tuple[dict[str, int], int]:
    """How many passages contain each term (FTS5 applies its own stemmer to the term), and the passage
    count (counted here unless the caller knows it), in one round trip."""
    parts = ["(SELECT count(*) FROM passages)" if passages is None else str(int(passages))]
    parts += [_COUNT] * len(terms)
    try:
        total, *counts = await fetch_one(db, "SELECT " + ", ".join(parts), [fts_match([term]) for term in terms])
    except sqlite3.OperationalError:
        return {term: 0 for term in terms}, 0
    return {term: int(count) for term, count in zip(terms, counts, strict=True)}, int(total)


class TermFrequencies:
    """Document frequencies of one connection's snapshots, kept while the database is unchanged. Its readers
    take turns (the storage's read lock), so it needs no lock of its own."""

    def __init__(self) -> None:
        self._version: tuple[int, int] | None = None
        self._counts: dict[str, int] = {}

    async def of(self, db: aiosqlite.Connection, terms: Sequence[str], passages: int) -> tuple[dict[str, int], int]:
        """As `document_frequencies` with `passages` known, inside the caller's read transaction: the terms not
        counted at this version are counted, with the version, in one statement (a second when the version
        changed and some terms were remembered from the one before)."""
        terms = list(dict.fromkeys(terms))
        try:
            version, counted = await self._count(db, [term for term in terms if term not in self._counts])
            if version != self._version:
                self._version, self._counts = version, {}
                stale = [term for term in terms if term not in counted]
                if stale:
                    counted |= (await self._count(db, stale))[1]
        except sqlite3.OperationalError:
            return {term: 0 for term in terms}, 0
        found = {term: counted[term] if term in counted else self._counts[term] for term in terms}
        if len(self._counts) + len(counted) > REMEMBERED_TERMS:
            self._counts = {}
        self._counts |= counted
        return found, passages

    @staticmethod
    async def _count(db: aiosqlite.Connection, terms: list[str]) -> tuple[tuple[int, int], dict[str, int]]:
        # data_version changes when another connection commits, and is read from this snapshot; total_changes()
        # counts this connection's own writes (the storage's read connection makes none after opening, but a
        # count must never outlive a change).
        columns = ", ".join(["data_version", "total_changes()", *[_COUNT] * len(terms)])
        row = await fetch_one(db, f"SELECT {columns} FROM pragma_data_version", [fts_match([term]) for term in terms])
        version, changes, *counts = row
        return (int(version), int(changes)), {term: int(count) for term, count in zip(terms, counts, strict=True)}


async def fts_passages(db: aiosqlite.Connection, match: str, limit: int) -> list[tuple[int, float]]:
    """Passages matching an FTS5 expression, best first, with a positive BM25 score (title weighs 2x)."""
    try:
        rows = await fetch(db, f"{_BM25} ORDER BY score DESC LIMIT ?", (match, limit))
    except sqlite3.OperationalError:
        return []
    return [(int(row), float(score)) for row, score in rows]


def split_terms(terms: Sequence[str], frequencies: dict[str, int], total: int) -> tuple[list[str], list[str]]:
    """The rarest terms whose passages add up to at most ESSENTIAL_SHARE of `total` (the rarest at least), and
    the others; both in the order given."""
    essential: set[str] = set()
    used = 0
    for term in sorted(terms, key=lambda term: frequencies.get(term, 0)):
        if essential and used + frequencies.get(term, 0) > ESSENTIAL_SHARE * total:
            break
        essential.add(term)
        used += frequencies.get(term, 0)
    return [term for term in terms if term in essential], [term for term in terms if term not in essential]


async def split_passages(
    db: aiosqlite.Connection, terms: Sequence[str], frequencies: dict[str, int], total: int, limit: int
) -> list[tuple[int, float]]:
    """The BM25 top `limit` of an OR-query of `terms` (what `fts_passages` returns for it), scoring fewer passages.

    With R the rare terms and C the common ones (`split_terms`): (1) the top `limit` of `R1 OR R2 …`, scored by
    the rare terms only, and (2) every passage of `(R…) AND (C…)`, scored by all terms (FTS5's bm25() sums over
    the phrases of the expression, each once, with each phrase's IDF over the whole archive: the OR-query's
    score). A passage holding rare terms only has its full score in (1); one holding both, in (2). A passage
    outside (1)'s top `limit` and not in (2) scores no more than the `limit` passages of (1), whose full scores
    are at least their scores in (1): the merged top `limit` is the OR-query's among the passages holding a rare
    term. A passage holding common terms only scores less than `common_bound`; only when the merged `limit`-th
    score is not above that bound (or fewer than `limit` passages hold a rare term) does (3), the best of
    `(C…) NOT (R…)`, run (exactly scored too: the rare terms add nothing to them). The result is the OR-query's
    top `limit` either way; passages of equal score at the cut may differ."""
    rare, common = split_terms(terms, frequencies, total)
    if not common:
        return await fts_passages(db, fts_match(rare), limit)
    either, both = fts_match(rare), f"({fts_match(rare)}) AND ({fts_match(common)})"
    try:
        rows = await fetch(
            db,
            f"SELECT * FROM ({_BM25} ORDER BY score DESC LIMIT ?) UNION ALL {_BM25}",
            (either, limit, both),
        )
    except sqlite3.OperationalError:
        return []
    scores: dict[int, float] = {}
    for passage_id, score in rows:
        scores[int(passage_id)] = max(scores.get(int(passage_id), 0.0), float(score))  # (2)'s: the full score
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if len(ranked) < limit or ranked[limit - 1][1] <= common_bound(common, frequencies, total):
        for passage_id, score in await fts_passages(db, f"({fts_match(common)}) NOT ({fts_match(rare)})", limit):
            scores.setdefault(passage_id, score)
        ranked = sorted(scores.items(), key=lambda item: -item[1])
    return ranked[:limit]


BM25_K1 = 1.2  # FTS5's bm25() constants (fts5_aux.c)
BOUND_MARGIN = 1.01  # FTS5 counts its own rows for the IDF; ours come from the vector index: keep a margin


def common_bound(common: Sequence[str], frequencies: dict[str, int], total: int) -> float:
    """More than any passage can score by `common` terms alone: FTS5's bm25() adds, per phrase,
    IDF * f * (k1 + 1) / (f + k1 * (1 - b + b * length / average)), which is below IDF * (k1 + 1) for any
    weighted frequency f and length; IDF = ln((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
    rows = max(total, *(frequencies.get(term, 0) for term in common)) * BOUND_MARGIN + 1
    idf = [math.log((rows - frequencies.get(term, 0) + 0.5) / (frequencies.get(term, 0) + 0.5)) for term in common]
    return (BM25_K1 + 1) * sum(max(1e-6, value) for value in idf) * BOUND_MARGIN
