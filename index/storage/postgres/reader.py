"""A read snapshot of the PostgreSQL archive: the `ArchiveReader` the question path uses.

One `REPEATABLE READ READ ONLY` transaction: rows, vectors and full-text data all come from the same
committed state, so a question never sees half a reindex. Lexical ranking is BM25 (`meta.lexical` names the
path, see index.storage.postgres.lexical: a pg_textsearch index, or the best postings of each stem by stored
weight; every posting aggregated, `_BM25`, for a snapshot without the key) with the
same formula, parameters (k1 1.2, b 0.75) and title weight (2x) as SQLite FTS5's `bm25()`, so both backends
rank passages alike; matching uses English Snowball stems (FTS5 uses Porter's). A question word that is
several stems ("company's") matches passages holding all of them, where FTS5 asks for the phrase.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg import sql
from psycopg.rows import TupleRow

from index._rows import ArticleRow, CopyRef, Filters, PassageRow, SentenceRow, blob_to_vector
from index.storage.common import UNFINISHED_BUILD
from index.storage.postgres.codec import HalfVector
from index.storage.postgres.connect import Connection
from index.storage.postgres.extras import copies_of
from index.storage.postgres.lexical import (
    BM25_INDEX_QUERY,
    BM25_WRITE_LOCK,
    PG_TEXTSEARCH,
    POSTINGS,
    TEXT_SEARCH_CONFIG,
    TOP_POSTINGS_QUERY,
    TRY_BM25_READ,
)
from index.storage.postgres.schema import TITLE_SEARCH_CONFIG
from index.storage.postgres.search_indexes import HNSW_EF_SEARCH
from index.storage.sql import ARTICLE_BY_ID, ARTICLE_COLUMNS, LATEST_ARTICLES, article_row, postgres

BM25_K1 = 1.2
BM25_B = 0.75

# Per query stem: its document frequency and BM25 idf as FTS5 computes them; then every passage holding any of
# them is scored from the postings alone (an index-only scan: stem, passage, frequency, length).
_BM25 = f"""
WITH stat AS MATERIALIZED (
    SELECT l.lexeme, greatest(ln((%(total)s - f.hits + 0.5) / (f.hits + 0.5)), 1e-6) AS idf
    FROM (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', %(text)s)) AS t) l,
    LATERAL (SELECT count(*)::float8 AS hits FROM postings WHERE lexeme = l.lexeme) f
)
SELECT o.passage_id, sum(
    s.idf * o.frequency * ({BM25_K1} + 1)
    / (o.frequency + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * o.length / %(average)s))
) AS score
FROM stat s JOIN postings o ON o.lexeme = s.lexeme
GROUP BY o.passage_id
ORDER BY score DESC, o.passage_id
LIMIT %(limit)s
"""


def _nearest_within(within: Filters) -> tuple[sql.Composed, list[str]]:
    """The nearest passages of the articles `within` allows (as `Filters.allows` reads them: the source
    contains the text, case-insensitively; published within the dates, inclusive), by the HNSW index scanned
    iteratively (pgvector's `hnsw.iterative_scan`: it keeps scanning until LIMIT rows pass the filter,
    instead of filtering the first `ef_search` and returning fewer), re-sorted since `relaxed_order` may
    return them slightly out of order. Only the conditions given are written, so the planner sees each."""
    conditions, params = [sql.SQL("p.first_copy")], []
    if within.source:
        conditions.append(sql.SQL("strpos(lower(coalesce(a.source, '')), lower(%s)) > 0"))
        params.append(within.source)
    if within.after:
        conditions.append(sql.SQL("a.published >= %s"))
        params.append(within.after)
    if within.before:
        conditions.append(sql.SQL("a.published <= %s"))
        params.append(within.before)
    query = sql.SQL(
        "WITH nearest AS MATERIALIZED (SELECT p.id, p.embedding <=> %s AS distance"
        " FROM passages p JOIN articles a ON a.id = p.article_row WHERE {} ORDER BY distance LIMIT %s)"
        " SELECT id FROM nearest ORDER BY distance"
    ).format(sql.SQL(" AND ").join(conditions))
    return query, params


# Passages holding a question word: its stem's document frequency from `lexeme_passages`. A word of several
# stems ("Chelsea's") is estimated from its stems' frequencies as if they occurred independently, instead of
# intersecting their postings, which took 225-455 ms for one word on the 1M-passage archive (53 copies per
# story). On the BBC archive (a one-off query) the estimate is close to the intersection it replaces
# ("chelsea" + "s": 113 against 119 passages; "bbc" + "s": 437 against 563), where the rarest stem's count
# alone (245) cost the development set one first quote.
_FREQUENCIES = f"""
SELECT t.term, (
    SELECT coalesce(array_agg(coalesce(f.passages, 0)), '{{}}') FROM (
        SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', t.term)) u
    ) l LEFT JOIN lexeme_passages f ON f.lexeme = l.lexeme
)
FROM unnest(%s::text[]) AS t(term)
"""


def estimated_frequency(stem_frequencies: Sequence[int], total: int) -> int:
    """Passages holding every stem of a word, from each stem's count, as if independent (none: 0)."""
    if not stem_frequencies:
        return 0
    estimate = float(stem_frequencies[0])
    for frequency in stem_frequencies[1:]:
        estimate *= frequency / total if total else 0.0
    return round(estimate)


def or_query(terms: Sequence[str]) -> str:
    """Terms joined for `websearch_to_tsquery` as alternatives (it never raises on odd input)."""
    return " or ".join(term.replace('"', " ").replace("-", " ") for term in terms)


class PostgresReader:
    """The question path's view of one snapshot (see `ArchiveReader`)."""

    def __init__(self, connection: Connection, meta: dict[str, str], *, bm25_index: bool = True) -> None:
        self._connection = connection
        self.meta = meta
        self._bm25_index = bm25_index  # False on a streaming replica: pg_textsearch's index is not replicated

    async def _rows(self, query: str | sql.Composed, params: Any = None, *, binary: bool = False) -> list[TupleRow]:
        cursor = self._connection.cursor(binary=binary)
        await cursor.execute(query, params)
        return await cursor.fetchall()

    @property
    def _total(self) -> int:
        return int(self.meta.get("passage_count", "0") or 0)

    async def nearest_passages(self, vector: np.ndarray, k: int, within: Filters | None = None) -> list[int]:
        if k <= 0:
            return []
        if k > HNSW_EF_SEARCH:  # HNSW returns at most ef_search rows (the engine asks for 64; benches for more)
            await self._rows("SELECT set_config('hnsw.ef_search', %s, true)", (str(k),))
        if within:
            query, params = _nearest_within(within)
            await self._rows("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            rows = await self._rows(query, (HalfVector(vector), *params, k), binary=True)
            return [int(row[0]) for row in rows]
        rows = await self._rows(
            "SELECT id FROM passages WHERE first_copy ORDER BY embedding <=> %s LIMIT %s",
            (HalfVector(vector), k),
            binary=True,
        )
        return [int(row[0]) for row in rows]

    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not passage_ids:
            return {}
        rows = await self._rows(
            "SELECT id, embedding FROM passages WHERE id = ANY(%s::bigint[])", (list(passage_ids),), binary=True
        )
        return {int(row[0]): row[1] for row in rows}

    async def keeps_common_terms(self) -> bool:
        # Both lexical paths are top-k: pg_textsearch's Block-Max WAND skips what cannot rank, the postings path
        # reads at most TOP_POSTINGS per stem. At 1M passages every term cost 40.3-40.6 / 56.7-60.2 ->
        # 48.9-57.8 / 71.4-84.2 ms p50 / p95 a question (p95 target 100) and put the answer first for 0.773 of
        # the development questions against 0.682, as the embedded backend does (bench/HISTORY.md, 2026-12-08 night).
        return True

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        if not terms:
            return {}, self._total
        rows = await self._rows(_FREQUENCIES, (list(terms),))
        return {str(term): estimated_frequency(counts, self._total) for term, counts in rows}, self._total

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        if not terms or k <= 0 or not self._total:
            return []
        average = float(self.meta.get("token_total", "0") or 0) / self._total or 1.0
        params = {"text": " ".join(terms), "total": self._total, "average": average, "limit": k}
        mode = self.meta.get("lexical")
        if mode == PG_TEXTSEARCH and (not self._bm25_index or UNFINISHED_BUILD in self.meta):
            mode = POSTINGS  # a replica (the index is not replicated) or a first build's chunks (not built yet)
        if mode == PG_TEXTSEARCH:  # unless an index commit is under way (see lexical.BM25_WRITE_LOCK)
            (free,) = await self._rows(TRY_BM25_READ, (BM25_WRITE_LOCK,))
            mode = PG_TEXTSEARCH if free[0] else POSTINGS
        query = BM25_INDEX_QUERY if mode == PG_TEXTSEARCH else TOP_POSTINGS_QUERY if mode == POSTINGS else _BM25
        rows = await self._rows(query, params)
        return [(int(passage_id), float(score)) for passage_id, score in rows if score > 0]

    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]:
        if not terms or k <= 0:
            return []
        rows = await self._rows(
            f"SELECT a.article_id, ts_rank(a.title_lexemes, q, 1) AS score FROM articles a,"
            f" websearch_to_tsquery('{TITLE_SEARCH_CONFIG}', %s) AS q WHERE a.title_lexemes @@ q"
            " ORDER BY score DESC, a.id LIMIT %s",
            (or_query(terms), k),
        )
        return [(str(article_id), float(score)) for article_id, score in rows]

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        if not passage_ids:
            return {}
        rows = await self._rows(
            'SELECT id, article_row, start, "end", first_sentence, last_sentence FROM passages'
            " WHERE id = ANY(%s::bigint[])",
            (list(passage_ids),),
        )
        return {int(row[0]): PassageRow(*row) for row in rows}

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]:
        if not rows:
            return {}
        found = await self._rows(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = ANY(%s::bigint[])", (list(set(rows)),)
        )
        return {int(row[0]): article_row(row) for row in found}

    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        found: dict[int, list[SentenceRow]] = {}
        if not rows:
            return found
        for sentence_id, row, ordinal, start, end, vector in await self._rows(
            'SELECT id, article_row, ordinal, start, "end", vector FROM sentences'
            " WHERE article_row = ANY(%s::bigint[]) ORDER BY article_row, ordinal",
            (list(set(rows)),),
        ):
            found.setdefault(row, []).append(SentenceRow(sentence_id, row, ordinal, start, end, blob_to_vector(vector)))
        return found

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        return await copies_of(self._connection, rows)

    async def article(self, article_id: str) -> ArticleRow | None:
        rows = await self._rows(postgres(ARTICLE_BY_ID), (article_id,))
        return article_row(rows[0]) if rows else None

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        """Titles containing `text` (case-insensitive), exact then prefix matches first, then shortest; empty
        text: the latest articles (as the embedded backend orders them)."""
        if not text.strip():
            rows = await self._rows(postgres(LATEST_ARTICLES), (limit,))
        else:
            pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = await self._rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.title ILIKE %s ORDER BY lower(a.title) = lower(%s)"
                " DESC, a.title ILIKE %s DESC, length(a.title), a.title LIMIT %s",
                (f"%{pattern}%", text, f"{pattern}%", limit),
            )
        return [article_row(row) for row in rows]
