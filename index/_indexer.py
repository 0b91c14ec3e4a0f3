"""Incremental, crash-safe reindexing, through the storage boundary (any backend).

1. Plan (`_index_plan`): stat every archive file; parse the changed ones; decide what goes and what comes.
2. Embed (`_index_embed`): only texts never embedded before, staged batch by batch so a killed run resumes.
3. Commit: one `IndexWrite` deletes the removed and changed articles, inserts the new ones with their
   passage vectors and commits the next vector generation; readers keep the previous state until then, and a
   crash before it leaves the previous state untouched.
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

from ._archive_files import discover
from ._config import MAX_ARTICLE_SENTENCES
from ._embed import Embedder
from ._errors import ArchiveError
from ._index_embed import (
    Prepared,
    ProgressCallback,
    Reporter,
    body_hash,
    insert_prepared,
    prepare_articles,
    text_hash,
)
from ._index_plan import NewArticle, Plan, Planner, scan_files
from ._models import IndexSummary
from ._parse import PARSER_VERSION
from ._pause import pause_for_tests
from ._storage import IndexSession, VectorStaging, mismatches

__all__ = [
    "Prepared",
    "ProgressCallback",
    "body_hash",
    "insert_prepared",
    "prepare_for_repair",
    "reindex",
    "text_hash",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexOptions:
    max_file_bytes: int
    max_article_sentences: int = MAX_ARTICLE_SENTENCES
    passage_sentences: int = 3
    faiss_factory: str = "auto"


async def reindex(
    session: IndexSession,
    roots: Sequence[Path],
    embedder: Embedder,
    *,
    max_file_bytes: int,
    max_article_sentences: int = MAX_ARTICLE_SENTENCES,
    passage_sentences: int = 3,
    faiss_factory: str = "auto",
    progress: ProgressCallback | None = None,
) -> IndexSummary:
    """Bring the archive in line with `roots`, through `session` (the caller holds it: the reindex lock)."""
    started = time.monotonic()
    options = IndexOptions(max_file_bytes, max_article_sentences, passage_sentences, faiss_factory)
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
    plan = await _plan(session, roots, options, full, reparse, report)
    staging = session.staging(embedder.name)
    passages, embedded = await _embed_and_commit(session, staging, embedder, plan, options, full, roots, report)
    await staging.clear()
    summary = _summary(plan, passages, embedded, time.monotonic() - started)
    for warning in plan.warnings:
        logger.warning("%s", warning)
    report("done", 1, 1)
    return summary


async def _plan(
    session: IndexSession, roots: Sequence[Path], options: IndexOptions, full: bool, reparse: bool, report: Reporter
) -> Plan:
    files, warnings = await asyncio.to_thread(discover, list(roots))
    planner = Planner(await session.article_states(), full)
    planner.plan.warnings.extend(warnings)
    planner.remove_missing_paths({str(file.path) for file in files})
    limits = (options.max_file_bytes, options.max_article_sentences)
    scanned = await asyncio.to_thread(scan_files, files, planner.by_path, limits, full or reparse, report)
    for item in scanned:
        planner.add_file(item)
    return planner.finish()


async def _embed_and_commit(
    session: IndexSession,
    staging: VectorStaging,
    embedder: Embedder,
    plan: Plan,
    options: IndexOptions,
    full: bool,
    roots: Sequence[Path],
    report: Reporter,
) -> tuple[int, int]:
    """Embed what the plan adds and commit it; returns (passages inserted, texts embedded)."""
    meta = session.meta
    # Vectors stored by another model (or dimension) must not be reused for the same text.
    same_model = not meta or not mismatches(meta, embedder.name, embedder.dimension)
    prepared, embedded = await prepare_articles(
        session, staging, embedder, plan.new_articles, report, reuse_stored=same_model
    )
    passages = await _commit(session, prepared, embedder, plan, options, full, roots, report)
    return passages, embedded


async def _commit(
    session: IndexSession,
    prepared: list[Prepared],
    embedder: Embedder,
    plan: Plan,
    options: IndexOptions,
    full: bool,
    roots: Sequence[Path],
    report: Reporter,
) -> int:
    """One atomic write: the plan's removals, the prepared articles, the next vector generation and the run's
    meta. Returns how many passages were inserted."""
    changed = bool(plan.remove_rows or prepared) or full or "generation" not in session.meta
    now = datetime.now(UTC).isoformat(timespec="seconds")
    passages = 0
    report("commit", 0, 1)
    async with session.write() as write:
        await write.update_fingerprints(plan.fingerprint_updates)
        if changed:
            await write.delete_articles(plan.remove_rows)
            for item in prepared:  # each article's rows and vectors exist only while it is inserted
                passages += await insert_prepared(write, item, options.passage_sentences, now)
            pause_for_tests("commit:rows")
            await write.commit_vectors(
                model=embedder.name, dimension=embedder.dimension, factory=options.faiss_factory, rebuild=full
            )
        # Syndicated copies: the inserted articles (and, once, all of an archive indexed before copies were
        # grouped) are keyed and compared in this same commit; a removed article's keys and pairs went with it.
        await write.group_copies()
        roots_value = os.pathsep.join(str(Path(root).resolve()) for root in roots)
        await write.set_meta({"roots": roots_value, "last_indexed": now, "parser_version": PARSER_VERSION})
        pause_for_tests("commit:vectors")
    pause_for_tests("committed")
    return passages


def _summary(plan: Plan, passages: int, embedded: int, seconds: float) -> IndexSummary:
    added = sum(1 for new in plan.new_articles if not new.is_update)
    updated = len(plan.new_articles) - added
    return IndexSummary(
        added=added,
        updated=updated,
        removed=len(plan.remove_rows) - updated,
        unchanged=plan.unchanged,
        skipped=plan.skipped,
        passages_embedded=passages,
        sentences_embedded=embedded,
        seconds=seconds,
        warnings=tuple(plan.warnings),
    )


async def prepare_for_repair(session: IndexSession, embedder: Embedder, rows: Sequence[int]) -> list[Prepared]:
    """The doctor's re-embedding: these stored articles, embedded again from their stored text."""
    articles = [NewArticle(article, fingerprint, True) for article, fingerprint in await session.stored_articles(rows)]
    prepared, _ = await prepare_articles(
        session, session.staging(embedder.name), embedder, articles, Reporter(None), reuse_stored=False
    )
    return prepared
