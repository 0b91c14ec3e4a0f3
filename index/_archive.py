"""The answer engine: one `Archive` object serves every front end (CLI, console, Discord)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from index._errors import ArticleNotFoundError, ConfigurationError, IndexMismatchError, IndexNotBuiltError
from index._models import Answer, Article, ArticleHit, GapReport, IndexSummary, Stats
from index._rows import KINDS, AskedQuestion, ReindexStatus
from index._settings import Settings
from index.answering.conversation import Turn, resolve
from index.answering.lexical import clean_text
from index.answering.query import NO_VECTOR, Query, date_note, iso_date, parse_request
from index.answering.retrieval import rank_articles, retrieve
from index.answering.selection import select
from index.embedding.embedder import Embedder, make_embedder, mean_vector, settle
from index.indexing.indexer import ProgressCallback, reindex
from index.operations.gaps import distinct_questions, group_questions
from index.operations.reindex_status import publishing, running_reindex
from index.reading.dates import asks_for_recent
from index.storage import ArchiveReader, FeedbackLog, QuestionLog, StatusBoard, Storage, mismatches, open_storage
from index.storage.faiss_vectors import check_factory

logger = logging.getLogger(__name__)


class Archive:
    """An indexed news archive: ask questions, search articles, look one up, reindex.

    Create with `await Archive.open(settings)`; close with `await archive.close()` (or `async with`).
    Blocking work (encoding, FAISS) runs in worker threads, never on the event loop.
    """

    def __init__(self, settings: Settings, storage: Storage, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._storage = storage
        self._embedder = embedder
        self._owns_embedder = embedder is None  # one it loads itself it also stops (its worker processes)
        self._reindex_lock = asyncio.Lock()
        self._embedder_lock = asyncio.Lock()
        self._status_board: StatusBoard = storage.status_board()  # where other processes see a reindex
        self._newest: tuple[str | None, str | None] | None = None  # (generation, newest publication date)

    # ---- life cycle -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, settings: Settings | None = None, *, embedder: Embedder | None = None) -> Archive:
        """Open (or create) the archive's storage (`settings.data_dir`). Asking needs a built index."""
        settings = settings or Settings.from_env()
        if settings.data_dir.exists() and not settings.data_dir.is_dir():
            raise ConfigurationError(f"ARCHIVEBOT_DATA_DIR must be a folder, but {settings.data_dir} is a file")
        return cls(settings, await open_storage(settings), embedder)

    async def close(self) -> None:
        await self._storage.close()
        close = getattr(self._embedder, "close", None)
        if self._owns_embedder and callable(close):
            # Embedding worker processes otherwise outlive the work until their idle timer (2 minutes), and
            # a process exiting meanwhile waits that long for them in multiprocessing's exit handler.
            close()

    async def __aenter__(self) -> Archive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def built(self) -> bool:
        return "generation" in self._storage.meta

    @property
    def location(self) -> str:
        """Where the archive lives, for reports: its data directory, or its database URL without the password."""
        return self._storage.location

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    async def embedder(self) -> Embedder:
        """The embedder, loaded on first use (importing torch takes seconds; `article` and `stats` never need it)."""
        if self._embedder is None:
            async with self._embedder_lock:
                if self._embedder is None:
                    indexed_with = (await self._storage.refresh_meta()).get("model")
                    self._embedder = await asyncio.to_thread(make_embedder, self.settings, indexed_with)
        return self._embedder

    async def warm_up(self) -> None:
        """Load the model and the vectors now rather than on the first question."""
        embedder = await self.embedder()
        await asyncio.to_thread(embedder.embed, ["warm up"])
        if self.built:
            await self._check_model(await self._storage.refresh_meta())  # a foreign-model index fails at start-up
            await self._storage.warm_up()

    async def _check_model(self, meta: dict[str, str]) -> Embedder:
        embedder = await self.embedder()
        found = mismatches(meta, embedder.name, embedder.dimension)
        if "model" in found or "dimension" in found:
            raise IndexMismatchError(
                f"the index was built with model {meta.get('model')!r} ({meta.get('dimension')} dims) but"
                f" {embedder.name!r} ({embedder.dimension} dims) is configured: run `archivebot index` to re-embed"
            )
        if found:
            raise IndexMismatchError("the index was built by another version of Archivebot: run `archivebot index`")
        return embedder

    # ---- reindex ----------------------------------------------------------------------------------

    async def reindex(
        self,
        roots: Sequence[Path] | None = None,
        *,
        progress: ProgressCallback | None = None,
        allow_removal: bool = False,
    ) -> IndexSummary:
        """Bring the index in line with the archive folders (default: the last ones indexed, else the settings').

        Questions keep being answered from the previous index until the new one is committed.
        Raises `IndexBusyError` when a reindex is already running (here or in another process), and
        `RemovalRefusedError` (changing nothing) when it would remove more than half of the indexed articles
        and `allow_removal` is False.
        """
        from index._errors import IndexBusyError

        if self._reindex_lock.locked():
            raise IndexBusyError("a reindex is already running")
        async with self._reindex_lock:
            if roots is None:
                stored = (await self._storage.refresh_meta()).get("roots")
                roots = [Path(p) for p in stored.split(":")] if stored else list(self.settings.archive_roots)
            embedder = await self.embedder()
            # A FAISS factory string FAISS can't build fails now, not after all the embedding work.
            check_factory(self.settings.faiss_factory, embedder.dimension)
            # The session writes through its own connection, so questions keep their snapshot meanwhile.
            async with self._storage.index_session() as session, publishing(self._status_board, progress) as report:
                return await reindex(
                    session,
                    list(roots),
                    embedder,
                    max_file_bytes=self.settings.max_file_bytes,
                    max_article_sentences=self.settings.max_article_sentences,
                    passage_sentences=self.settings.passage_sentences,
                    allow_removal=allow_removal,
                    faiss_factory=self.settings.faiss_factory,
                    chunk_articles=self.settings.index_chunk_articles,
                    progress=report,
                )

    async def reindex_status(self) -> ReindexStatus | None:
        """The reindex running now in any process sharing this archive (this one included), or None."""
        return await running_reindex(self._status_board)

    # ---- asking and searching: parse -> retrieve -> select -> answer --------------------------------

    async def ask(
        self,
        question: str,
        *,
        source: str | None = None,
        after: str | date | None = None,
        before: str | date | None = None,
        max_quotes: int = 3,
        history: Sequence[str | Turn] = (),
    ) -> Answer:
        """Answer with verbatim quotes and citations, or say the archive does not hold the answer.

        `history`: the conversation's earlier questions, oldest first (a `Turn` also carries the articles its
        answer cited). A follow-up is answered in their context; `Answer.following_up_on` says when."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        query, encoding = await self._query(question, source, after, before, history)
        encoding.add_done_callback(lambda _: timings.__setitem__("encode", (time.perf_counter() - started) * 1000))
        try:
            async with self._reader() as reader:
                mark = time.perf_counter()  # retrieval's lexical side runs while the question is still encoded
                retrieval = await retrieve(reader, query, with_sentences=True, encoding=encoding)
                timings["retrieve"] = (time.perf_counter() - mark) * 1000
        finally:
            settle(encoding)
        query = replace(query, vector=encoding.result())
        mark = time.perf_counter()
        selection = select(query, retrieval, max_quotes=max_quotes, min_confidence=self.settings.min_confidence)
        timings["select"] = (time.perf_counter() - mark) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=query.text,
            answered=selection.answered,
            confidence=selection.confidence,
            quotes=selection.quotes,
            closest=selection.closest,
            filters=query.filters.to_dict(),
            timings_ms=timings,
            following_up_on=query.context.questions,
            date_note=date_note(query),
            caveats=selection.caveats,
            not_found_reason=selection.not_found_reason,
        )

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
        prepared, encoding = await self._query(query, source, after, before, asking=False)
        try:
            async with self._reader() as reader:
                return await rank_articles(reader, prepared, limit, encoding=encoding)
        finally:
            settle(encoding)

    async def _query(
        self,
        question: str,
        source: str | None,
        after: str | date | None,
        before: str | date | None,
        history: Sequence[str | Turn] = (),
        *,
        asking: bool = True,
    ) -> tuple[Query, asyncio.Task[np.ndarray]]:
        """Check and parse the question, check the index was built with this model, and start encoding the
        question (a follow-up: the mean of its own vector and that of the earlier questions with it): the query
        comes back with no vector yet and the task computing it, so retrieval's lexical side can run meanwhile
        (the encoding was 5 of 25 ms p50 of a question on the BBC archive)."""
        newest = await self._newest_published()
        options, filters = parse_request(
            question,
            source=source,
            after=after,
            before=before,
            max_chars=self.settings.max_question_chars,
            today=date.fromisoformat(newest[:10]) if newest else None,
            require_question=asking,
        )
        text, context = resolve(options.text, history)
        meta = self._storage.meta if self.built else await self._storage.refresh_meta()
        if "generation" not in meta:
            raise IndexNotBuiltError("the archive has not been indexed yet: run `archivebot index`")
        embedder = await self._check_model(meta)
        texts = [text, f"{context.text} {text}"] if context else [text]
        encoding = asyncio.ensure_future(mean_vector(embedder, texts))
        return Query(text, NO_VECTOR, filters, options.period, context, asks_for_recent(text), newest), encoding

    async def _newest_published(self) -> str | None:
        """The archive's newest publication date (ISO), once per index generation: relative dates ("this
        year", "the latest") are read against the archive, which may end years before today."""
        generation = self._storage.meta.get("generation")
        if self._newest is None or self._newest[0] != generation:
            async with self._storage.reader() as reader:
                latest = await reader.articles_by_title("", 1)  # empty text: the latest articles first
            self._newest = (generation, latest[0].published if latest and latest[0].published else None)
        return self._newest[1]

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[ArchiveReader]:
        """One read snapshot: rows and the vectors of the same commit (loaded on first use)."""
        async with self._storage.reader() as reader:
            yield reader

    async def article(self, id_or_title: str) -> Article:
        """One article by its id, or by its exact (else unique partial) title."""
        key = (id_or_title or "").strip()
        if not key:
            raise ArticleNotFoundError("give an article id or title")
        async with self._storage.reader() as reader:
            row = await reader.article(key)
            if row is None:
                matches = await reader.articles_by_title(key, 2)
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
        async with self._storage.reader() as reader:
            rows = await reader.articles_by_title(clean_text(text or ""), limit)
        return [ArticleHit(r.article_id, r.title, r.source, r.published, 1.0, r.location) for r in rows]

    async def stats(self) -> Stats:
        stats = await self._storage.stats()
        counts, meta = stats.counts, stats.meta
        feedback = await (await self.feedback()).counts()
        return Stats(
            articles=counts["articles"],
            passages=counts["passages"],
            sentences=counts["sentences"],
            model=meta.get("model", "(not indexed)"),
            dimension=int(meta.get("dimension", 0)),
            index_type=meta.get("index_factory", "(none)"),
            last_indexed=meta.get("last_indexed"),
            database_bytes=stats.database_bytes,
            vector_bytes=stats.vector_bytes,
            search_index_bytes=stats.search_index_bytes,
            roots=tuple(filter(None, meta.get("roots", "").split(":"))),
            feedback=feedback,
        )

    # ---- feedback ---------------------------------------------------------------------------------

    async def feedback(self) -> FeedbackLog:
        return await self._storage.feedback()

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

    # ---- coverage gaps ----------------------------------------------------------------------------

    async def _question_log(self) -> QuestionLog:
        """The recorded questions, purged of those older than ARCHIVEBOT_RETAIN_QUESTIONS_DAYS."""
        log = await self._storage.questions()
        oldest = datetime.now(UTC) - timedelta(days=self.settings.retain_questions_days)
        await log.purge_questions(_iso(oldest))
        return log

    async def record_question(
        self, question: str, *, kind: str, guild_id: str | None = None, answer_key: str | None = None
    ) -> bool:
        """Record a question the archive declined (`kind="not_found"`) or whose answer got 👎 (`"thumbs_down"`,
        once per `answer_key`): its text, the time and the server, never who asked. False when recording is
        switched off (ARCHIVEBOT_RECORD_QUESTIONS=0)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if not self.settings.record_questions or not question.strip():
            return False
        entry = AskedQuestion(" ".join(question.split()), _iso(datetime.now(UTC)), guild_id, kind)
        await (await self._question_log()).record_question(entry, answer_key)
        return True

    async def gaps(self, since: str | date | None = None) -> GapReport:
        """The recorded questions (asked on or after `since`), grouped by similar question, most asked first."""
        day = iso_date(since, "since")
        records = await (await self._question_log()).questions_since(day)
        texts = [item.text for item in distinct_questions(records)]
        vectors = {}
        if texts:
            embedder = await self.embedder()
            vectors = dict(zip(texts, await asyncio.to_thread(embedder.embed, texts), strict=True))
        groups = group_questions(records, vectors)
        return GapReport(tuple(groups), day, self.settings.record_questions)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
