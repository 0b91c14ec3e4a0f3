"""The answer engine: one `Archive` object serves every front end (CLI, console, Discord)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from ._answer import (
    Candidate,
    QuestionAnalysis,
    Scored,
    confidence,
    idf_weights,
    near_duplicate,
    needs_predecessor,
    score_candidates,
)
from ._config import Settings
from ._dates import DateRange, parse_question
from ._embed import Embedder, make_embedder
from ._errors import (
    ArticleNotFoundError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotBuiltError,
    QuestionError,
)
from ._indexer import DATABASE_FILE, ProgressCallback, index_lock, prepare_data_dir, reindex
from ._lexical import clean_text, content_terms, fts_query, lexical_terms
from ._models import Answer, Article, ArticleHit, IndexSummary, Quote, Stats
from ._store import SCHEMA_VERSION, ArticleRow, FeedbackStore, PassageRow, Store
from ._vectors import VectorIndex

logger = logging.getLogger(__name__)

DENSE_K = 64
LEXICAL_K = 64
TITLE_RANK_K = 60  # search: an article whose title matches gets 1 / (TITLE_RANK_K + rank) on top of its best passage
CANDIDATE_PASSAGES = 16
DENSE_WEIGHT = 0.5
FOLLOWING_QUOTE_SHARE = 0.8
SAME_ARTICLE_PENALTY = 0.03  # a second or third quote must score at least this share of the best
LEXICAL_WEIGHT = 0.5


@dataclass(frozen=True)
class Filters:
    """Optional restrictions on what may be quoted or listed."""

    source: str | None = None
    after: str | None = None  # ISO date, inclusive
    before: str | None = None  # ISO date, inclusive

    def __bool__(self) -> bool:
        return bool(self.source or self.after or self.before)

    def allows(self, article: ArticleRow) -> bool:
        if self.source and self.source.lower() not in (article.source or "").lower():
            return False
        if self.after and (not article.published or article.published < self.after):
            return False
        if self.before and (not article.published or article.published > self.before):
            return False
        return True

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("source", self.source), ("after", self.after), ("before", self.before)) if v}


@dataclass(frozen=True)
class _Retrieval:
    ranked: list[tuple[int, float]]  # passage id, blended score; best first
    passages: dict[int, PassageRow]
    articles: dict[int, ArticleRow]  # by article row
    terms: list[str]
    frequencies: dict[str, int]  # passages containing each term
    total: int  # passages in the index


def _iso(value: str | date | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    from ._parse import parse_date

    parsed = parse_date(value) or (
        parse_date(f"{value}-01-01") if str(value).isdigit() and len(str(value)) == 4 else None
    )
    if parsed is None:
        raise QuestionError(f"{name} must be a date like 2009-12-19, got {value!r}")
    return parsed


class Archive:
    """An indexed news archive: ask questions, search articles, look one up, reindex.

    Create with `await Archive.open(settings)`; close with `await archive.close()` (or `async with`).
    Blocking work (encoding, FAISS) runs in worker threads, never on the event loop.
    """

    def __init__(self, settings: Settings, store: Store, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._vectors: VectorIndex | None = None
        self._meta: dict[str, str] = {}
        self._read_lock = asyncio.Lock()
        self._reindex_lock = asyncio.Lock()
        self._embedder_lock = asyncio.Lock()
        self._feedback: FeedbackStore | None = None

    # ---- life cycle -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, settings: Settings | None = None, *, embedder: Embedder | None = None) -> Archive:
        """Open (or create) the archive database in `settings.data_dir`. Asking needs a built index."""
        settings = settings or Settings.from_env()
        prepare_data_dir(settings.data_dir)
        store = await Store.open(settings.data_dir / DATABASE_FILE)
        archive = cls(settings, store, embedder)
        archive._meta = await store.get_meta()
        return archive

    async def close(self) -> None:
        await self._store.close()
        if self._feedback is not None:
            await self._feedback.close()

    async def __aenter__(self) -> Archive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def built(self) -> bool:
        return "generation" in self._meta

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    async def embedder(self) -> Embedder:
        """The embedder, loaded on first use (importing torch takes seconds; `article` and `stats` never need it)."""
        if self._embedder is None:
            async with self._embedder_lock:
                if self._embedder is None:
                    indexed_with = (await self._store.get_meta()).get("model")
                    self._embedder = await asyncio.to_thread(make_embedder, self.settings, indexed_with)
        return self._embedder

    async def warm_up(self) -> None:
        """Load the model and the vectors now rather than on the first question."""
        embedder = await self.embedder()
        await asyncio.to_thread(embedder.embed, ["warm up"])
        if self.built:
            async with self._read_lock:
                meta = await self._store.get_meta()
                await self._check_model(meta)  # a foreign-model index fails at start-up, clearly
                await self._ensure_vectors(meta)

    async def _ensure_vectors(self, meta: dict[str, str]) -> VectorIndex:
        """The vector index matching the snapshot's generation (loaded again after another process's reindex)."""
        if "generation" not in meta:
            raise IndexNotBuiltError("the archive has not been indexed yet: run `archivebot index`")
        generation = int(meta["generation"])
        if self._vectors is None or self._vectors.generation != generation:
            try:
                loaded = await asyncio.to_thread(
                    VectorIndex.load, self.settings.data_dir, generation, meta.get("index_factory", "Flat")
                )
            except Exception as error:
                raise IndexCorruptError(
                    f"the vector file for index generation {generation} is missing or unreadable ({error});"
                    " run `archivebot doctor --repair`"
                ) from error
            from ._doctor import verify_loaded

            await verify_loaded(self._store, loaded, meta)  # IndexCorruptError rather than wrong answers
            self._vectors = loaded
            self._meta = meta
        return self._vectors

    async def _check_model(self, meta: dict[str, str]) -> Embedder:
        embedder = await self.embedder()
        if meta.get("model") != embedder.name or int(meta.get("dimension", 0)) != embedder.dimension:
            raise IndexMismatchError(
                f"the index was built with model {meta.get('model')!r} ({meta.get('dimension')} dims) but"
                f" {embedder.name!r} ({embedder.dimension} dims) is configured: run `archivebot index` to re-embed"
            )
        if int(meta.get("schema_version", SCHEMA_VERSION)) != SCHEMA_VERSION:
            raise IndexMismatchError("the index was built by another version of Archivebot: run `archivebot index`")
        return embedder

    # ---- reindex ----------------------------------------------------------------------------------

    async def reindex(
        self, roots: Sequence[Path] | None = None, *, progress: ProgressCallback | None = None
    ) -> IndexSummary:
        """Bring the index in line with the archive folders (default: the last ones indexed, else the settings').

        Questions keep being answered from the previous index until the new one is committed.
        Raises `IndexBusyError` when a reindex is already running (here or in another process).
        """
        from ._errors import IndexBusyError

        if self._reindex_lock.locked():
            raise IndexBusyError("a reindex is already running")
        async with self._reindex_lock:
            if roots is None:
                stored = (await self._store.get_meta()).get("roots")
                roots = [Path(p) for p in stored.split(":")] if stored else list(self.settings.archive_roots)
            embedder = await self.embedder()
            with index_lock(self.settings.data_dir):
                # The indexer writes through its own connection so readers here keep their snapshot.
                writer = await Store.open(self.settings.data_dir / DATABASE_FILE)
                try:
                    summary, vectors = await reindex(
                        writer,
                        self.settings.data_dir,
                        list(roots),
                        embedder,
                        max_file_bytes=self.settings.max_file_bytes,
                        passage_sentences=self.settings.passage_sentences,
                        faiss_factory=self.settings.faiss_factory,
                        progress=progress,
                        current=self._vectors,
                    )
                    meta = await writer.get_meta()
                finally:
                    await writer.close()
            async with self._read_lock:
                if vectors is not None:
                    self._vectors = vectors
                self._meta = meta
            return summary

    # ---- asking -----------------------------------------------------------------------------------

    def _validate(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError("the question must be text")
        if len(question) > self.settings.max_question_chars * 4:
            raise QuestionError(f"the question is too long (limit {self.settings.max_question_chars} characters)")
        cleaned = clean_text(question)
        if not cleaned:
            raise QuestionError("the question is empty")
        if not any(ch.isalnum() for ch in cleaned):
            raise QuestionError("the question has no words to search for")
        if len(cleaned) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is too long ({len(cleaned)} characters; the limit is {self.settings.max_question_chars})"
            )
        return cleaned

    async def ask(
        self,
        question: str,
        *,
        source: str | None = None,
        after: str | date | None = None,
        before: str | date | None = None,
        max_quotes: int = 3,
    ) -> Answer:
        """Answer with verbatim quotes and citations, or say the archive does not hold the answer."""
        options = parse_question(self._validate(question))
        cleaned = options.text
        filters = Filters(
            source or options.source, _iso(after, "after") or options.after, _iso(before, "before") or options.before
        )
        timings: dict[str, float] = {}
        started = time.perf_counter()
        meta = self._meta if self.built else await self._store.get_meta()
        if "generation" not in meta:
            raise IndexNotBuiltError("the archive has not been indexed yet: run `archivebot index`")
        embedder = await self._check_model(meta)
        question_vector = (await asyncio.to_thread(embedder.embed, [cleaned]))[0]
        timings["encode"] = (time.perf_counter() - started) * 1000
        async with self._read_lock, self._store.transaction(write=False):
            snapshot = await self._store.get_meta()
            vectors = await self._ensure_vectors(snapshot)
            mark = time.perf_counter()
            retrieval = await self._retrieve(cleaned, question_vector, vectors, filters, options.period)
            timings["retrieve"] = (time.perf_counter() - mark) * 1000
            mark = time.perf_counter()
            frequencies, total = retrieval.frequencies, retrieval.total
            candidate_rows = [retrieval.passages[pid].article_row for pid, _ in retrieval.ranked[:CANDIDATE_PASSAGES]]
            sentences = await self._store.sentences_of(candidate_rows)
        analysis = QuestionAnalysis(cleaned, idf_weights(frequencies, total, retrieval.terms))
        answer = self._select(analysis, question_vector, retrieval, sentences, max_quotes)
        timings["select"] = (time.perf_counter() - mark) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=cleaned,
            answered=answer[0],
            confidence=answer[1],
            quotes=answer[2],
            closest=answer[3],
            filters=filters.to_dict(),
            timings_ms=timings,
        )

    async def _retrieve(
        self,
        question: str,
        question_vector: np.ndarray,
        vectors: VectorIndex,
        filters: Filters,
        period: DateRange | None = None,
    ) -> _Retrieval:
        """Hybrid retrieval. FAISS and FTS5 each propose passages; every proposed passage then gets both
        scores (its cosine is read back from the index, its BM25 is 0 if FTS did not match it) and the two
        are blended after scaling each to [0, 1]. Returns passages best first with the blended score, the
        articles they belong to (by row) and the question's content terms."""
        terms = content_terms(question)
        widen = 8 if filters else 1
        _, ids = await asyncio.to_thread(vectors.search, question_vector[None, :], DENSE_K * widen)
        dense_ids = [int(i) for i in ids[0] if i >= 0]
        frequencies, total = await self._store.document_frequencies(terms) if terms else ({}, 0)
        searched = lexical_terms(terms, frequencies, total)
        lexical = await self._store.fts_passages(fts_query(searched), LEXICAL_K * widen) if searched else []
        bm25 = dict(lexical)
        proposed = list(dict.fromkeys(dense_ids + [pid for pid, _ in lexical]))
        stored = await asyncio.to_thread(vectors.reconstruct, proposed)
        cosine = {pid: float(np.dot(vector, question_vector)) for pid, vector in stored.items()}
        passages = await self._store.passages(proposed)
        articles = await self._store.articles_by_rows([p.article_row for p in passages.values()])
        if not proposed:
            return _Retrieval([], passages, articles, terms, frequencies, total)
        low = min(cosine.values(), default=0.0)
        high = max(cosine.values(), default=1.0)
        spread = (high - low) or 1.0
        best_bm25 = max(bm25.values(), default=0.0) or 1.0
        fused: dict[int, float] = {}
        for pid in proposed:
            if pid not in passages:
                continue  # a vector whose row is gone (another process's reindex in between): never quoted
            article = articles[passages[pid].article_row]
            if not filters.allows(article):
                continue
            score = (
                DENSE_WEIGHT * (cosine.get(pid, low) - low) / spread + LEXICAL_WEIGHT * bm25.get(pid, 0.0) / best_bm25
            )
            if period is not None:
                inside = period.contains(article.published)
                if inside is not None:
                    score *= 1.15 if inside else 0.6
            fused[pid] = score
        ranked = sorted(fused.items(), key=lambda item: -item[1])
        return _Retrieval(ranked, passages, articles, terms, frequencies, total)

    def _select(
        self,
        analysis: QuestionAnalysis,
        question_vector: np.ndarray,
        retrieval: _Retrieval,
        sentences: dict[int, list],
        max_quotes: int,
    ) -> tuple[bool, float, tuple[Quote, ...], tuple[ArticleHit, ...]]:
        ranked, articles = retrieval.ranked, retrieval.articles
        closest = self._closest(retrieval)
        if not ranked:
            return False, 0.0, (), closest
        best_fused = ranked[0][1]
        candidates: dict[tuple[int, int], Candidate] = {}
        coverage_of: dict[int, float] = {}
        for passage_id, fused in ranked[:CANDIDATE_PASSAGES]:
            passage = retrieval.passages[passage_id]
            article = articles[passage.article_row]
            if passage.article_row not in coverage_of:
                coverage_of[passage.article_row] = analysis.coverage(article.title, article.body)
            article_sentences = sentences.get(passage.article_row, [])
            for sentence in article_sentences[passage.first_sentence : passage.last_sentence + 1]:
                key = (passage.article_row, sentence.ordinal)
                if key in candidates:
                    continue
                previous = article_sentences[sentence.ordinal - 1] if sentence.ordinal > 0 else None
                candidates[key] = Candidate(
                    key=key,
                    text=article.body[sentence.start : sentence.end],
                    vector=sentence.vector,
                    previous_text=article.body[previous.start : previous.end] if previous else "",
                    title=article.title,
                    lede_text=article.body[article_sentences[0].start : article_sentences[0].end]
                    if sentence.ordinal > 1
                    else "",
                    retrieval=fused / best_fused if best_fused > 0 else 0.0,
                    article_coverage=coverage_of[passage.article_row],
                    ordinal=sentence.ordinal,
                )
        scored = score_candidates(analysis, question_vector, list(candidates.values()))
        if not scored:
            return False, 0.0, (), closest
        sure = confidence(scored[0])  # uses the article coverage the candidate already carries
        if sure < self.settings.min_confidence:
            return False, sure, (), closest
        quotes = self._quotes(scored, articles, sentences, max_quotes)
        return True, sure, quotes, closest

    def _quotes(
        self, scored: list[Scored], articles: dict[int, ArticleRow], sentences: dict[int, list], max_quotes: int
    ) -> tuple[Quote, ...]:
        quotes: list[Quote] = []
        used: list[tuple[int, int, int]] = []  # (article row, start, end)
        seen_bodies: dict[str, int] = {}
        best = scored[0].score
        # Later quotes: a small penalty for repeating an article already quoted, so a broad question
        # draws on several articles when they are about as good (maximal marginal relevance, lite).
        ordered = [scored[0]] + sorted(
            scored[1:],
            key=lambda s: (
                -(s.score - (SAME_ARTICLE_PENALTY if s.candidate.key[0] == scored[0].candidate.key[0] else 0.0))
            ),
        )
        for item in ordered:
            if len(quotes) >= max_quotes:
                break
            if quotes and item.score < best * FOLLOWING_QUOTE_SHARE:
                continue
            row, ordinal = item.candidate.key
            article = articles[row]
            if seen_bodies.setdefault(article.body_hash, row) != row:
                continue  # a syndicated copy of an article already quoted
            article_sentences = sentences[row]
            sentence = article_sentences[ordinal]
            start, end = sentence.start, sentence.end
            if ordinal > 0 and needs_predecessor(item.candidate.text):
                start = article_sentences[ordinal - 1].start
            if any(r == row and start < e and s < end for r, s, e in used):
                continue
            text = article.body[start:end]
            if any(near_duplicate(text, quote.text) for quote in quotes):
                continue
            used.append((row, start, end))
            quotes.append(
                Quote(
                    text,
                    article.article_id,
                    article.title,
                    article.source,
                    article.published,
                    start,
                    end,
                    round(item.score, 4),
                )
            )
        return tuple(quotes)

    def _closest(self, retrieval: _Retrieval, limit: int = 5) -> tuple[ArticleHit, ...]:
        articles = retrieval.articles
        hits: list[ArticleHit] = []
        seen_rows: set[int] = set()
        seen_bodies: set[str] = set()
        for passage_id, score in retrieval.ranked:
            row = retrieval.passages[passage_id].article_row
            if row in seen_rows:
                continue
            seen_rows.add(row)
            article = articles[row]
            if article.body_hash in seen_bodies:
                continue
            seen_bodies.add(article.body_hash)
            hits.append(
                ArticleHit(
                    article.article_id, article.title, article.source, article.published, score, article.location
                )
            )
            if len(hits) >= limit:
                break
        return tuple(hits)

    # ---- search and lookup ------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        source: str | None = None,
        after: str | date | None = None,
        before: str | date | None = None,
        limit: int = 10,
    ) -> list[ArticleHit]:
        """Articles ranked for a query (hybrid retrieval, one hit per article, syndicated copies once)."""
        options = parse_question(self._validate(query))
        cleaned = options.text
        filters = Filters(
            source or options.source, _iso(after, "after") or options.after, _iso(before, "before") or options.before
        )
        meta = self._meta if self.built else await self._store.get_meta()
        if "generation" not in meta:
            raise IndexNotBuiltError("the archive has not been indexed yet: run `archivebot index`")
        embedder = await self._check_model(meta)
        question_vector = (await asyncio.to_thread(embedder.embed, [cleaned]))[0]
        async with self._read_lock, self._store.transaction(write=False):
            vectors = await self._ensure_vectors(await self._store.get_meta())
            retrieval = await self._retrieve(cleaned, question_vector, vectors, filters, options.period)
            title_hits = await self._store.fts_titles(fts_query(content_terms(cleaned)), 20)
        # Articles whose title matches get a title-rank bonus, the same reciprocal-rank way.
        by_article: dict[int, float] = {}
        articles = retrieval.articles
        for passage_id, score in retrieval.ranked:
            row = retrieval.passages[passage_id].article_row
            by_article[row] = max(by_article.get(row, 0.0), score)
        rows_by_id = {article.article_id: row for row, article in articles.items()}
        for rank, (article_id, _) in enumerate(title_hits):
            if article_id in rows_by_id:
                row = rows_by_id[article_id]
                by_article[row] = by_article.get(row, 0.0) + 1.0 / (TITLE_RANK_K + rank + 1)
        hits: list[ArticleHit] = []
        seen_bodies: set[str] = set()
        for row, score in sorted(by_article.items(), key=lambda item: -item[1]):
            article = articles[row]
            if article.body_hash in seen_bodies or not filters.allows(article):
                continue
            seen_bodies.add(article.body_hash)
            hits.append(
                ArticleHit(
                    article.article_id, article.title, article.source, article.published, score, article.location
                )
            )
            if len(hits) >= limit:
                break
        return hits

    async def article(self, id_or_title: str) -> Article:
        """One article by its id, or by its exact (else unique partial) title."""
        key = (id_or_title or "").strip()
        if not key:
            raise ArticleNotFoundError("give an article id or title")
        async with self._read_lock:
            row = await self._store.article(key)
            if row is None:
                matches = await self._store.articles_by_title(key, 2)
                exact = [m for m in matches if m.title.lower() == key.lower()]
                if exact or len(matches) == 1:
                    row = (exact or matches)[0]
                elif matches:
                    raise ArticleNotFoundError(f"more than one article matches {key!r}: give its id")
        if row is None:
            raise ArticleNotFoundError(f"no article with id or title {key!r}")
        return Article(
            row.article_id,
            row.location,
            row.path,
            row.title,
            row.title_derived,
            row.source,
            row.published,
            row.dateline,
            row.byline,
            row.url,
            row.body,
            row.content_hash,
            row.indexed_at,
        )

    async def suggest_titles(self, text: str, limit: int = 25) -> list[ArticleHit]:
        """Articles whose title contains the text (for autocomplete); empty text lists the latest ones."""
        async with self._read_lock:
            rows = await self._store.articles_by_title(clean_text(text or ""), limit)
        return [ArticleHit(r.article_id, r.title, r.source, r.published, 1.0, r.location) for r in rows]

    async def stats(self) -> Stats:
        async with self._read_lock:
            counts = await self._store.counts()
            meta = await self._store.get_meta()
        data_dir = self.settings.data_dir
        vector_files = list(data_dir.glob("vectors.*.faiss"))
        database_bytes = sum(p.stat().st_size for p in data_dir.glob(DATABASE_FILE + "*") if p.exists())
        feedback = await (await self.feedback()).counts()
        return Stats(
            articles=counts["articles"],
            passages=counts["passages"],
            sentences=counts["sentences"],
            model=meta.get("model", "(not indexed)"),
            dimension=int(meta.get("dimension", 0)),
            index_type=meta.get("index_factory", "(none)"),
            last_indexed=meta.get("last_indexed"),
            database_bytes=database_bytes,
            vector_bytes=sum(p.stat().st_size for p in vector_files),
            roots=tuple(filter(None, meta.get("roots", "").split(":"))),
            feedback=feedback,
        )

    # ---- feedback ---------------------------------------------------------------------------------

    async def feedback(self) -> FeedbackStore:
        if self._feedback is None:
            self._feedback = await FeedbackStore.open(self.settings.data_dir / "feedback.sqlite3")
        return self._feedback

    async def record_feedback(
        self,
        *,
        answer_key: str,
        user_id: str,
        guild_id: str | None,
        question: str,
        article_ids: Sequence[str],
        helpful: bool,
    ) -> None:
        await (await self.feedback()).record(
            answer_key=answer_key,
            user_id=user_id,
            guild_id=guild_id,
            question=question,
            article_ids=article_ids,
            helpful=helpful,
        )
