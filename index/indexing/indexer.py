"""Incremental, crash-safe reindexing in bounded chunks, through the storage boundary (any backend).

1. Plan (`_index_plan`): stat every archive file; parse the changed ones; decide what goes and what comes.
   The plan holds references, not text.
2. For each chunk of at most `index_chunk_articles` new articles: read them again, embed only texts never
   embedded before (`_index_embed`; each batch staged, so a killed run resumes without embedding it again),
   and commit them in one `IndexWrite`: the chunk's articles, the rows they replace, and the next vector
   generation, together. Memory holds one chunk, not the archive.

What readers see meanwhile: every commit is complete and consistent (an updated article's old rows or its
new ones, never both or neither; rows, full text and vectors of the same commit). A long run is visible
chunk by chunk: during a first build the archive answers from the articles committed so far, and during an
update some changed articles are already new while others are still old. Plain removals go in the first
commit; the run's meta (roots, parser version, last indexed) in the last, so a run killed in between is
taken up again by the next one, which finds the committed chunks unchanged and embeds nothing twice.
A model change re-embeds everything: its first commit removes the old model's articles and vectors
together, so the archive is never a mix of two models' vectors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from index._errors import ArchiveError, RemovalRefusedError
from index._models import IndexSummary
from index._settings import MAX_ARTICLE_SENTENCES, Settings
from index.embedding.embedder import Embedder
from index.indexing.copies import update_copy_groups
from index.indexing.embed import (
    Prepared,
    ProgressCallback,
    Reporter,
    body_hash,
    insert_prepared,
    prepare_articles,
    text_hash,
)
from index.indexing.pause import pause_for_tests
from index.indexing.plan import ArticleReader, NewArticle, Plan, PlannedArticle, Planner, ScanLimits, chunked
from index.reading.files import discover
from index.reading.parse import PARSER_VERSION
from index.storage import UNFINISHED_BUILD, IndexSession, VectorStaging, mismatches

__all__ = [
    "DEFAULT_CHUNK_ARTICLES",
    "Prepared",
    "ProgressCallback",
    "body_hash",
    "insert_prepared",
    "prepare_for_repair",
    "reindex",
    "text_hash",
]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ARTICLES = Settings.index_chunk_articles  # per commit (~50k passages of news): bounded memory
# A run that would remove more than this share of the indexed articles stops before it changes anything unless
# allowed: an empty or mistyped folder otherwise empties the archive with exit 0 ("1 removed").
REMOVAL_GUARD_SHARE = 0.5


@dataclass(frozen=True)
class IndexOptions:
    max_file_bytes: int
    max_article_sentences: int = MAX_ARTICLE_SENTENCES
    passage_sentences: int = 3
    faiss_factory: str = "auto"
    chunk_articles: int = DEFAULT_CHUNK_ARTICLES


@dataclass
class _Run:
    """One index run's state across its commits."""

    session: IndexSession
    embedder: Embedder
    options: IndexOptions
    plan: Plan
    full: bool  # another model built the index: everything is re-embedded
    roots_value: str
    staging: VectorStaging
    report: Reporter
    passages: int = 0
    embedded: int = 0
    chunks: int = 1  # commits this run makes
    articles: int = 0  # new and changed articles the run commits, over all its chunks
    committed: int = 0  # of which committed so far

    def commit_fraction(self) -> float:
        """The share of the run's work committed: weighted by articles, not chunks (a last chunk of 95 articles
        after one of 2,000 is 5% of the work, not half; the ETA from chunk counts was 2 minutes for 10 s)."""
        return self.committed / self.articles if self.articles else 0.0

    def chunk_detail(self, number: int) -> str:
        """What progress reports name the chunk by ("chunk 3 of 56"); nothing for a run of one commit."""
        return f"chunk {number} of {self.chunks}" if self.chunks > 1 else ""


async def reindex(
    session: IndexSession,
    roots: Sequence[Path],
    embedder: Embedder,
    *,
    max_file_bytes: int,
    max_article_sentences: int = MAX_ARTICLE_SENTENCES,
    passage_sentences: int = 3,
    faiss_factory: str = "auto",
    chunk_articles: int = DEFAULT_CHUNK_ARTICLES,
    progress: ProgressCallback | None = None,
    allow_removal: bool = False,
) -> IndexSummary:
    """Bring the archive in line with `roots`, through `session` (the caller holds it: the reindex lock).

    Raises `RemovalRefusedError`, having changed nothing, when the run would remove more than
    REMOVAL_GUARD_SHARE of the indexed articles and `allow_removal` is False."""
    started = time.monotonic()
    options = IndexOptions(max_file_bytes, max_article_sentences, passage_sentences, faiss_factory, chunk_articles)
    report = Reporter(progress)
    for root in roots:
        if not Path(root).is_dir():
            raise ArchiveError(f"archive folder not found: {root}")
    meta = session.meta
    # Another model (or dimension, or schema) built this index: re-embed everything with this one.
    full = bool(meta) and bool(mismatches(meta, embedder.name, embedder.dimension))
    if full:
        logger.warning(
            "the index was built with model %s; re-embedding everything with %s", meta.get("model"), embedder.name
        )
    # Parsing or splitting changed since this index was built: read every file again (articles whose
    # content hash is unchanged stay as they are; changed ones reuse stored vectors by text hash).
    reparse = bool(meta) and meta.get("parser_version") != str(PARSER_VERSION)
    limits = ScanLimits(options.max_file_bytes, options.max_article_sentences)
    plan = await _plan(session, roots, limits, full, reparse, report)
    if not allow_removal and plan.indexed and len(plan.remove_rows) > REMOVAL_GUARD_SHARE * plan.indexed:
        raise RemovalRefusedError(len(plan.remove_rows), plan.indexed, tuple(str(root) for root in roots))
    roots_value = os.pathsep.join(str(Path(root).resolve()) for root in roots)
    run = _Run(session, embedder, options, plan, full, roots_value, session.staging(embedder.name), report)
    await _commit_chunks(run, limits)
    summary = _summary(plan, run.passages, run.embedded, time.monotonic() - started)
    for warning in plan.warnings:
        logger.warning("%s", warning)
    report("done", 1, 1)
    return summary


async def _plan(
    session: IndexSession, roots: Sequence[Path], limits: ScanLimits, full: bool, reparse: bool, report: Reporter
) -> Plan:
    files, warnings = await asyncio.to_thread(discover, list(roots))
    planner = Planner(await session.article_states(), full)
    planner.plan.warnings.extend(warnings)
    await asyncio.to_thread(planner.scan, files, limits, full or reparse, report)
    return planner.finish()


async def _commit_chunks(run: _Run, limits: ScanLimits) -> None:
    """Embed and commit the plan chunk by chunk (one commit when there is nothing new)."""
    chunks = chunked(run.plan.new_articles, run.options.chunk_articles) or [[]]
    run.chunks = len(chunks)
    run.articles = len(run.plan.new_articles)
    reader = ArticleReader(limits)
    for number, planned in enumerate(chunks, start=1):
        articles, warnings = await asyncio.to_thread(reader.read, planned)
        run.plan.warnings.extend(warnings)
        prepared = await _prepare(run, articles, number)
        await _commit(run, planned, prepared, number, last=number == len(chunks))
        await run.staging.clear()  # the chunk's vectors are stored now: the staging stays one chunk's size


async def _prepare(run: _Run, articles: list[NewArticle], number: int) -> list[Prepared]:
    meta = run.session.meta
    # Vectors stored by another model must not be reused: after a model change's first commit every stored
    # vector is the new model's.
    reuse = not meta or not mismatches(meta, run.embedder.name, run.embedder.dimension)
    prepared, embedded = await prepare_articles(
        run.session,
        run.staging,
        run.embedder,
        articles,
        run.report,
        reuse_stored=reuse,
        detail=run.chunk_detail(number),
    )
    run.embedded += embedded
    return prepared


async def _commit(run: _Run, planned: list[PlannedArticle], prepared: list[Prepared], number: int, last: bool) -> None:
    """One atomic write: this chunk's removals and articles with the next vector generation; the plain
    removals and fingerprint updates in the first, the run's meta in the last."""
    plan, first = run.plan, number == 1
    rebuild = first and run.full
    removals = [item.replaces for item in planned if item.replaces is not None]
    if first:
        removals = plan.remove_rows + removals
    if rebuild:  # a model change: every old article goes in the first commit (the rest come back chunk by chunk)
        removals = plan.remove_rows + [item.replaces for item in plan.new_articles if item.replaces is not None]
    meta = run.session.meta
    changed = bool(removals or prepared) or (first and (run.full or "generation" not in meta))
    changed = changed or (last and UNFINISHED_BUILD in meta)  # a first build's indexes still to build
    now = datetime.now(UTC).isoformat(timespec="seconds")
    detail = run.chunk_detail(number)
    run.report("commit", number - 1, run.chunks, detail, fraction=run.commit_fraction())
    async with run.session.write() as write:
        if first:
            await write.update_fingerprints(plan.fingerprint_updates)
        if changed:
            await write.delete_articles(removals)
            for item in prepared:  # each article's rows and vectors exist only while it is inserted
                run.passages += await insert_prepared(write, item, run.options.passage_sentences, now)
            pause_for_tests("commit:rows")
            await write.commit_vectors(
                model=run.embedder.name,
                dimension=run.embedder.dimension,
                factory=run.options.faiss_factory,
                rebuild=rebuild,
                final=last,
            )
        # Syndicated copies: the inserted articles (and, once, all of an archive indexed before copies were
        # grouped) are keyed and compared in this same commit; a removed article's keys and pairs went with it.
        await update_copy_groups(write.copies())
        if last:
            await write.set_meta({"roots": run.roots_value, "last_indexed": now, "parser_version": PARSER_VERSION})
        pause_for_tests("commit:vectors")
        await write.commit_full_text()
        pause_for_tests("commit:full-text")
    run.committed += len(planned)
    run.report("commit", number, run.chunks, detail, fraction=run.commit_fraction() if run.articles else 1.0)
    pause_for_tests("committed")
    pause_for_tests(f"committed:{number}")


def _summary(plan: Plan, passages: int, embedded: int, seconds: float) -> IndexSummary:
    added = sum(1 for item in plan.new_articles if not item.is_update)
    return IndexSummary(
        added=added,
        updated=len(plan.new_articles) - added,
        removed=len(plan.remove_rows),
        unchanged=plan.unchanged,
        skipped=plan.skipped,
        passages_embedded=passages,
        sentences_embedded=embedded,
        seconds=seconds,
        warnings=tuple(plan.warnings),
        changed_ids=tuple(plan.changed_ids),
    )


async def prepare_for_repair(session: IndexSession, embedder: Embedder, rows: Sequence[int]) -> list[Prepared]:
    """The doctor's re-embedding: these stored articles, embedded again from their stored text."""
    articles = [NewArticle(article, fingerprint, None) for article, fingerprint in await session.stored_articles(rows)]
    prepared, _ = await prepare_articles(
        session, session.staging(embedder.name), embedder, articles, Reporter(None), reuse_stored=False
    )
    return prepared
