"""Hybrid retrieval: which passages (and, for search, which articles) a query should draw on.

The dense side (nearest passage vectors) and the lexical side (full-text search over the query's
content terms) each propose passages; every proposed passage then gets both scores and the two are
blended after scaling each to [0, 1]. Everything here reads the archive through one `ArchiveReader`
snapshot; building the backend's query syntax (FTS5 MATCH, tsquery) is the backend's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TypeVar

import numpy as np

from index._models import ArticleHit, Copy
from index._rows import ArticleRow, CopyRef, PassageRow, SentenceRow
from index.answering.conversation import PRIOR_ARTICLE_BOOST
from index.answering.lexical import content_terms, lexical_terms
from index.answering.query import Query
from index.storage import ArchiveReader
from index.storage.common import FILTERED_WIDENING

A = TypeVar("A")
B = TypeVar("B")

DENSE_K = 64  # passages the vector side proposes
LEXICAL_K = 64  # passages the full-text side proposes
DENSE_WEIGHT = 0.5
LEXICAL_WEIGHT = 0.5
IN_PERIOD_BOOST = 1.15  # a passage from the period the question names ("in March 2005") ranks higher…
OUT_OF_PERIOD_FACTOR = 0.6  # …and one dated outside it lower (undated passages are left as they are)
RECENCY_BOOST = 0.5  # "the latest…": a passage from the archive's newest day ranks up to this much higher…
RECENCY_HALF_LIFE_DAYS = 60  # …and one this many days older half as much
CANDIDATE_PASSAGES = 16  # the best passages whose sentences selection chooses quotes from
TITLE_HITS = 20  # search: articles whose title matches the query, asked of the full-text side
TITLE_RANK_K = 60  # search: an article whose title matches gets 1 / (TITLE_RANK_K + rank) on top of its best passage


@dataclass(frozen=True)
class Retrieval:
    """Passages for one query, best first, with what selection needs to read them."""

    ranked: list[tuple[int, float]]  # passage id, blended score; best first; filtered
    passages: dict[int, PassageRow]
    articles: dict[int, ArticleRow]  # by article row
    terms: list[str]  # the query's content terms
    frequencies: dict[str, int]  # passages containing each term
    total: int  # passages in the index
    sentences: dict[int, list[SentenceRow]] = field(default_factory=dict)  # of the candidates' articles, by row
    copies: dict[int, list[CopyRef]] = field(default_factory=dict)  # each ranked article's other copies, by row

    @property
    def candidates(self) -> list[tuple[int, float]]:
        """The best CANDIDATE_PASSAGES passages, one of each passage of a story: a syndicated copy's passage (the
        same text at the same place in another copy) is left out, so a story held in many copies does not fill
        every slot with one passage (at 53 copies per story the 16 slots held one or two distinct passages)."""
        chosen: list[tuple[int, float]] = []
        seen: set[tuple[str, int, int]] = set()
        for passage_id, score in self.ranked:
            passage = self.passages[passage_id]
            key = (self.story(passage.article_row), passage.start, passage.end)
            if key not in seen:
                seen.add(key)
                chosen.append((passage_id, score))
                if len(chosen) == CANDIDATE_PASSAGES:
                    break
        return chosen

    def story(self, row: int) -> str:
        """The same key for every copy of a story: its group's first row, else the body's hash (an exact
        duplicate of an article indexed before copies were grouped)."""
        copies = self.copies.get(row)
        return f"copies:{min(row, *(copy.row for copy in copies))}" if copies else self.articles[row].body_hash

    def also_in(self, row: int) -> tuple[Copy, ...]:
        return tuple(Copy(c.article_id, c.title, c.source, c.date) for c in self.copies.get(row, ()))


async def retrieve(
    reader: ArchiveReader,
    query: Query,
    *,
    with_sentences: bool = False,
    encoding: Awaitable[np.ndarray] | None = None,
) -> Retrieval:
    """The query's passages best first; `with_sentences` also reads the sentences of the candidates'
    articles (in the same snapshot), for choosing quotes. `encoding`: the query's vector while it is still
    being computed (the lexical side starts meanwhile); without it, `query.vector`."""
    terms = list(dict.fromkeys([*content_terms(query.text), *query.context.terms]))
    widen = FILTERED_WIDENING if query.filters else 1

    async def lexical_side() -> tuple[dict[str, int], int, list[tuple[int, float]]]:
        frequencies, total = await reader.document_frequencies(terms) if terms else ({}, 0)
        searched = terms if await reader.keeps_common_terms() else lexical_terms(terms, frequencies, total)
        return frequencies, total, await reader.lexical_passages(searched, LEXICAL_K * widen) if searched else []

    async def dense_side() -> tuple[np.ndarray, list[int]]:
        vector = query.vector if encoding is None else await encoding
        return vector, await reader.nearest_passages(vector, DENSE_K, query.filters or None)  # widened if need be

    # The two sides at once: on the embedded backend the encoding and the vector search run in threads beside
    # SQLite's (PostgreSQL's connection takes the statements in turn); on the BBC archive the encoding was 5 ms
    # p50 and the vector search 2.2 ms of a 25 ms question (dev + held-out questions).
    (vector, dense_ids), (frequencies, total, lexical) = await _together(dense_side(), lexical_side())
    query = replace(query, vector=vector)
    proposed = list(dict.fromkeys(dense_ids + [pid for pid, _ in lexical]))
    stored, passages = await _together(reader.passage_vectors(proposed), reader.passages(proposed))
    articles = await reader.articles_by_rows([p.article_row for p in passages.values()])
    ranked = _fuse(query, proposed, stored, dict(lexical), passages, articles) if proposed else []
    copies = await reader.copies_of(list(dict.fromkeys(passages[pid].article_row for pid, _ in ranked)))
    retrieval = Retrieval(ranked, passages, articles, terms, frequencies, total, {}, copies)
    if not with_sentences:
        return retrieval
    sentences = await reader.sentences_of([passages[pid].article_row for pid, _ in retrieval.candidates])
    return replace(retrieval, sentences=sentences)


async def _together(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results; when one side fails the other is cancelled and waited for before the error is raised, so
    nothing of the question still runs on the reader once the caller has let go of its snapshot."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and (error := task.exception()):
                raise error
        return tasks[0].result(), tasks[1].result()
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _fuse(
    query: Query,
    proposed: list[int],
    stored: dict[int, np.ndarray],
    bm25: dict[int, float],
    passages: dict[int, PassageRow],
    articles: dict[int, ArticleRow],
) -> list[tuple[int, float]]:
    """Blend each proposed passage's cosine (read back from its stored vector) and its BM25 (0 where the
    full-text side did not match it), each scaled to [0, 1]; filter; apply the period boost."""
    cosine = {pid: float(np.dot(vector, query.vector)) for pid, vector in stored.items()}
    low = min(cosine.values(), default=0.0)
    high = max(cosine.values(), default=1.0)
    spread = (high - low) or 1.0
    best_bm25 = max(bm25.values(), default=0.0) or 1.0
    fused: dict[int, float] = {}
    for pid in proposed:
        if pid not in passages:
            continue  # a vector whose row is gone (another process's reindex in between): never quoted
        article = articles[passages[pid].article_row]
        if not query.filters.allows(article):
            continue
        score = DENSE_WEIGHT * (cosine.get(pid, low) - low) / spread + LEXICAL_WEIGHT * bm25.get(pid, 0.0) / best_bm25
        score *= recency_factor(query, article.published)
        if article.article_id in query.context.article_ids:
            score *= PRIOR_ARTICLE_BOOST  # a follow-up: the articles the earlier turns cited
        score *= period_factor(query, article.published, reward_inside=True)
        fused[pid] = score
    return sorted(fused.items(), key=lambda item: -item[1])


def recency_factor(query: Query, published: str | None, *, at_most_one: bool = False) -> float:
    """For "the latest…": 1 + RECENCY_BOOST for an article of the archive's newest day, the boost halving
    every RECENCY_HALF_LIFE_DAYS (divided by 1 + RECENCY_BOOST when `at_most_one`: selection only ever lowers
    a probability); 1 when the question does not ask for the latest or the article is undated."""
    if not (query.recent and query.newest and published):
        return 1.0
    factor = 1.0 + RECENCY_BOOST * freshness(published, query.newest)
    return factor / (1.0 + RECENCY_BOOST) if at_most_one else factor


def period_factor(query: Query, published: str | None, *, reward_inside: bool) -> float:
    """A period the question names: OUT_OF_PERIOD_FACTOR for an article dated outside it, IN_PERIOD_BOOST
    inside it when `reward_inside` (retrieval ranks passages with both; selection only lowers sentences from
    outside, its scores being probabilities), 1 for an undated article or a question that names no period."""
    if query.period is None:
        return 1.0
    inside = query.period.contains(published)
    if inside is None:
        return 1.0
    if inside:
        return IN_PERIOD_BOOST if reward_inside else 1.0
    return OUT_OF_PERIOD_FACTOR


def freshness(published: str, newest: str) -> float:
    """1 for the archive's newest date, halving every RECENCY_HALF_LIFE_DAYS before it."""
    try:
        age = (date.fromisoformat(newest[:10]) - date.fromisoformat(published[:10])).days
    except ValueError:
        return 0.0
    return float(0.5 ** (max(age, 0) / RECENCY_HALF_LIFE_DAYS))


async def rank_articles(
    reader: ArchiveReader, query: Query, limit: int, *, encoding: Awaitable[np.ndarray] | None = None
) -> list[ArticleHit]:
    """Search: articles ranked by their best passage, plus a reciprocal-rank bonus for a title match;
    one hit per article, syndicated copies (same body) once."""
    retrieval = await retrieve(reader, query, encoding=encoding)
    title_hits = await reader.lexical_titles(retrieval.terms, TITLE_HITS)
    articles = retrieval.articles
    by_article: dict[int, float] = {}
    for passage_id, score in retrieval.ranked:
        row = retrieval.passages[passage_id].article_row
        by_article[row] = max(by_article.get(row, 0.0), score)
    rows_by_id = {article.article_id: row for row, article in articles.items()}
    for rank, (article_id, _) in enumerate(title_hits):
        if article_id in rows_by_id:
            row = rows_by_id[article_id]
            by_article[row] = by_article.get(row, 0.0) + 1.0 / (TITLE_RANK_K + rank + 1)
    hits: list[ArticleHit] = []
    seen_stories: set[str] = set()
    for row, score in sorted(by_article.items(), key=lambda item: -item[1]):
        article = articles[row]
        if retrieval.story(row) in seen_stories or not query.filters.allows(article):
            continue
        seen_stories.add(retrieval.story(row))
        hits.append(article_hit(article, score, retrieval.also_in(row)))
        if len(hits) >= limit:
            break
    return hits


def article_hit(article: ArticleRow, score: float, also_in: tuple[Copy, ...] = ()) -> ArticleHit:
    return ArticleHit(
        article.article_id, article.title, article.source, article.published, score, article.location, also_in
    )
