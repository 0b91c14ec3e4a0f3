"""`archivebot doctor`: check that rows, vectors and full text agree, and repair what can be repaired.

What is checked (on one read snapshot of the archive, against the vectors of that snapshot):

- the database's own integrity check, and passages or sentences without an article;
- the metadata: a generation, a model, a dimension and the schema version; the model against the
  configured one (a foreign-model index is never repaired here: `archivebot index` re-embeds it);
- every passage has exactly one vector, no vector lacks a passage, the vectors' dimension matches the
  metadata, and each stored vector is the one the passage's stored sentence vectors give (so a vector file
  from another database or model is caught, not just a count mismatch);
- every passage has exactly one full-text row holding its title and text, no row lacks a passage, and
  every article has one title row;
- every sentence vector has the stored dimension and every passage's sentences exist.

Repair (`repair_index`, under the reindex lock, in one write that also commits a new vector generation):
full-text rows are rebuilt from the passage text; the vectors are patched (or rebuilt when they can't be
read) from the stored sentence vectors without re-embedding; rows without an article are deleted; an
article whose sentence vectors are missing or damaged is re-embedded from its stored text, and nothing
else is. Every query runs behind the storage boundary (`index/_storage`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index._errors import IndexCorruptError, IndexMismatchError, IndexNotBuiltError
from index._settings import Settings
from index.embedding.embedder import Embedder
from index.indexing.indexer import Prepared, insert_prepared, prepare_for_repair
from index.operations.doctor_report import DoctorReport, Problem
from index.storage import (
    SCHEMA_VERSION,
    ArchiveCheck,
    IndexSession,
    Storage,
    VectorsUnusableError,
    mismatches,
    open_storage,
)
from index.storage import passage_vector_from_blobs as passage_vector

# A stored passage vector that is less similar than this to the one its sentence vectors give is wrong
# (exact index types agree to float rounding; SQ8 compression stays above 0.99).
VECTOR_AGREEMENT = 0.95


async def _open(where: Path | Settings) -> Storage:
    """The archive in a data directory (or the one `Settings` name: a PostgreSQL database when
    ARCHIVEBOT_DATABASE_URL is set), opened without creating or changing anything."""
    settings = where if isinstance(where, Settings) else Settings(data_dir=Path(where))
    return await open_storage(settings, create=False)


async def recorded_model(where: Path | Settings) -> str | None:
    """The model name the index records, or None when there is no index."""
    try:
        storage = await _open(where)
    except IndexNotBuiltError:
        return None
    try:
        return (await storage.refresh_meta()).get("model")
    finally:
        await storage.close()


async def expected_model_name(settings: Settings) -> str:
    """The name the configured embedder records in this data directory's index (without loading the model):
    it depends on the backend and, with `precision=auto`, on whether the existing index holds fp32 vectors."""
    from index.embedding.embedder import embedder_name

    return embedder_name(settings, await recorded_model(settings))


# ---- checking -------------------------------------------------------------------------------------------


@dataclass
class _Findings:
    report: DoctorReport
    meta: dict[str, str]
    passage_ids: set[int]
    wrong_vectors: set[int] = field(default_factory=set)
    vector_file_unusable: bool = False
    stale_fts: set[int] = field(default_factory=set)
    orphan_rows: int = 0
    broken_articles: set[int] = field(default_factory=set)  # need their sentences re-embedded
    foreign_model: bool = False
    damaged: bool = False  # the database's integrity check failed


async def _inspect(
    check: ArchiveCheck, location: str, expected_model: str | None, expected_dimension: int | None
) -> _Findings:
    """Every check, on the check's snapshot."""
    report = DoctorReport(location)
    meta = check.meta
    counts = await check.counts()
    if "generation" not in meta and not counts["articles"]:
        raise IndexNotBuiltError(f"no index in {location} yet: run `archivebot index`")
    findings = _Findings(report, meta, await check.passage_ids())
    report.generation = int(meta["generation"]) if meta.get("generation", "").isdigit() else None
    report.model = meta.get("model")
    report.dimension = int(meta["dimension"]) if meta.get("dimension", "").isdigit() else None
    report.counts = dict(counts)
    integrity = await check.integrity_problems()
    if integrity:
        findings.damaged = True
        message = "; ".join(integrity[:3])
        hint = "restore a backup or delete the data directory and run `archivebot index`"
        report.problems.append(
            Problem("sqlite_integrity", f"SQLite integrity check failed: {message} ({hint})", len(integrity), False)
        )
    findings.orphan_rows = await check.orphan_rows()
    if findings.orphan_rows:
        count = findings.orphan_rows
        message = f"{count} passage or sentence row(s) belong to no article"
        report.problems.append(Problem("orphan_rows", message, count))
    _check_meta(findings, expected_model, expected_dimension)
    await _check_sentences(check, findings)
    await _check_fts(check, findings)
    if report.generation is not None and report.dimension:
        await _check_vectors(check, findings, report.dimension)
    if meta.get("lexical"):  # PostgreSQL: which BM25 path answers questions (index.storage.postgres.lexical)
        report.notes.append(f"lexical search: {meta['lexical']}")
    work = await check.unfinished_work()
    if work.vector_files:
        report.notes.append(f"{work.vector_files} unfinished vector file(s) from an interrupted run (harmless)")
    if work.staged_texts:
        report.notes.append(
            f"an unfinished reindex left {work.staged_texts} embedded text(s) in {work.staged_in};"
            " the next `archivebot index` uses them instead of embedding again"
        )
    return findings


def _check_meta(findings: _Findings, expected_model: str | None, expected_dimension: int | None) -> None:
    meta, problems, dimension = findings.meta, findings.report.problems, findings.report.dimension
    missing_meta = [key for key in ("generation", "model", "dimension") if key not in meta]
    if missing_meta:
        repairable = "model" not in missing_meta and "dimension" not in missing_meta
        message = f"index metadata lacks {', '.join(missing_meta)}"
        problems.append(Problem("meta", message, len(missing_meta), repairable))
    found = mismatches(
        meta,
        expected_model if meta.get("model") else None,
        expected_dimension if expected_dimension and dimension else None,
    )
    findings.foreign_model = bool(found)
    if "schema" in found:
        problems.append(
            Problem(
                "schema_mismatch",
                f"the index has schema {meta.get('schema_version')}, this"
                f" version uses {SCHEMA_VERSION}: run `archivebot index`",
                1,
                False,
            )
        )
    if "model" in found:
        problems.append(
            Problem(
                "model_mismatch",
                f"the index was built with model {meta['model']!r} but {expected_model!r} is"
                " configured: run `archivebot index` to re-embed the archive with it",
                1,
                False,
            )
        )
    if "dimension" in found:
        problems.append(
            Problem(
                "dimension_mismatch",
                f"the index has {dimension}-dimensional vectors, the configured model makes"
                f" {expected_dimension}: run `archivebot index`",
                1,
                False,
            )
        )


async def _check_sentences(check: ArchiveCheck, findings: _Findings) -> None:
    problems, dimension = findings.report.problems, findings.report.dimension
    if dimension:
        bad = await check.articles_with_bad_vectors(dimension)
        if bad:
            findings.broken_articles.update(bad)
            problems.append(
                Problem(
                    "bad_sentence_vectors",
                    f"{len(bad)} article(s) have sentence or title vectors that are not {dimension}-dimensional",
                    len(bad),
                )
            )
    gaps = await check.articles_with_missing_sentences()
    if gaps:
        findings.broken_articles.update(gaps)
        problems.append(
            Problem("missing_sentences", f"{len(gaps)} article(s) have passages whose sentences are missing", len(gaps))
        )


async def _check_fts(check: ArchiveCheck, findings: _Findings) -> None:
    problems = findings.report.problems
    found = await check.full_text()
    findings.report.counts["fts_rows"] = found.rows
    findings.stale_fts = found.stale
    for code, rows, what in (
        ("missing_fts", found.missing, "passage(s) have no full-text row"),
        ("orphan_fts", found.orphan, "full-text row(s) belong to no passage"),
        ("stale_fts", found.stale, "full-text row(s) hold other text than their passage"),
    ):
        if rows:
            problems.append(Problem(code, f"{len(rows)} {what}", len(rows)))
    if found.search_index:
        problems.append(Problem("search_index", found.search_index))
    if found.search_note:
        findings.report.notes.append(f"full-text search: {found.search_note}")
    if found.title_problems:
        count = found.title_problems
        problems.append(Problem("title_fts", f"{count} article title row(s) are missing, orphaned or stale", count))


async def _check_vectors(check: ArchiveCheck, findings: _Findings, dimension: int) -> None:
    problems = findings.report.problems
    try:
        vectors = await check.vectors()
    except VectorsUnusableError as error:
        findings.vector_file_unusable = True
        problems.append(Problem("vector_file", f"{check.vectors_name} is missing or unreadable ({error})"))
        return
    findings.report.counts["vectors"] = vectors.size
    if vectors.dimension != dimension:
        findings.vector_file_unusable = True
        problems.append(
            Problem(
                "vector_dimension",
                f"{check.vectors_name} holds {vectors.dimension}-dimensional vectors, the metadata says {dimension}",
            )
        )
        return
    ids, counts = np.unique(vectors.ids(), return_counts=True)
    present = {int(i) for i in ids}
    duplicates = {int(i) for i, n in zip(ids, counts, strict=True) if n > 1}
    for code, found, what in (
        ("missing_vectors", findings.passage_ids - present, "passage(s) have no vector"),
        ("orphan_vectors", present - findings.passage_ids, "vector(s) belong to no passage"),
        ("duplicate_vectors", duplicates, "passage(s) have more than one vector"),
    ):
        if found:
            problems.append(Problem(code, f"{len(found)} {what}", len(found)))
    # Each single vector must be the one its passage's stored sentence vectors give.
    stored = await asyncio.to_thread(vectors.reconstruct, sorted((findings.passage_ids & present) - duplicates))
    findings.wrong_vectors = await _disagreeing(check, stored)
    if findings.wrong_vectors:
        count = len(findings.wrong_vectors)
        problems.append(
            Problem(
                "wrong_vectors",
                f"{count} vector(s) do not match their passage's stored sentence"
                " vectors (another database's or model's vector file?)",
                count,
            )
        )


async def _disagreeing(check: ArchiveCheck, stored: dict[int, np.ndarray]) -> set[int]:
    wrong: set[int] = set()
    async for passage_id, sentence_blobs, title_blob in check.passage_vector_sources():
        if passage_id not in stored:
            continue
        try:
            expected = passage_vector(sentence_blobs, title_blob)
            norm = float(np.linalg.norm(stored[passage_id])) or 1.0
            agreement = float(np.dot(expected, stored[passage_id])) / norm
        except ValueError:  # sentence vectors of the wrong size: reported above
            continue
        if not agreement >= VECTOR_AGREEMENT:
            wrong.add(passage_id)
    return wrong


async def check_index(
    data_dir: Path | Settings, *, expected_model: str | None = None, expected_dimension: int | None = None
) -> DoctorReport:
    """Check the index in `data_dir` (read-only; safe while questions are answered or a reindex runs).
    Raises `IndexNotBuiltError` when there is no index at all."""
    storage = await _open(data_dir)
    try:
        async with storage.check() as check:
            findings = await _inspect(check, storage.location, expected_model, expected_dimension)
    finally:
        await storage.close()
    return findings.report


# ---- repairing ------------------------------------------------------------------------------------------


async def repair_index(
    data_dir: Path | Settings,
    *,
    expected_model: str | None = None,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    passage_sentences: int = 3,
) -> DoctorReport:
    """Check, then fix what is repairable, holding the reindex lock (raises `IndexBusyError` while a reindex
    runs). Returns the report of a fresh check after the repair, with `repaired` listing what was done.

    `embedder` (or a function making one) is only used when some articles' sentence vectors are missing
    or damaged; only those articles are embedded again, from their stored text."""
    storage = await _open(data_dir)
    try:
        async with storage.index_session() as session:
            first = await _repair_locked(
                storage, session, storage.location, expected_model, embedder, passage_sentences
            )
    finally:
        await storage.close()
    after = await check_index(data_dir, expected_model=expected_model)
    after.repaired = first
    return after


async def _repair_locked(
    storage: Storage,
    session: IndexSession,
    location: str,
    expected_model: str | None,
    embedder: Embedder | Callable[[], Embedder] | None,
    passage_sentences: int,
) -> list[str]:
    async with storage.check() as check:
        findings = await _inspect(check, location, expected_model, None)
    report = findings.report
    if findings.damaged or findings.foreign_model or not report.dimension or not report.model:
        reasons = [p.message for p in report.problems if not p.repairable]
        raise IndexCorruptError("doctor can't repair this index: " + "; ".join(reasons or ["metadata is missing"]))
    if report.ok:
        return []
    # Re-embed (outside the write) only the articles whose sentence vectors are unusable.
    prepared = await _reembed(session, findings, embedder) if findings.broken_articles else []
    done: list[str] = []
    async with session.write() as write:
        if findings.orphan_rows:
            await write.delete_orphan_rows()
            done.append(f"deleted {findings.orphan_rows} row(s) that belonged to no article")
        if findings.broken_articles:
            await write.delete_articles(sorted(findings.broken_articles))
            for item in prepared:
                await insert_prepared(write, item, passage_sentences, findings.meta.get("last_indexed", ""))
            done.append(f"re-embedded {len(prepared)} article(s) whose sentence vectors were missing or damaged")
        text = await write.repair_full_text(findings.stale_fts)
        if text.passages_added or text.passages_removed:
            done.append(f"rebuilt {text.passages_added} full-text row(s), removed {text.passages_removed} orphan(s)")
        if text.titles_added or text.titles_removed:
            done.append(f"rebuilt {text.titles_added} title row(s), removed {text.titles_removed} orphan(s)")
        vectors = await write.repair_vectors(findings.wrong_vectors, findings.vector_file_unusable)
        if vectors is not None:
            if vectors.rebuilt is not None:
                done.append(f"rebuilt the vector index from the stored sentence vectors ({vectors.rebuilt} passages)")
            else:
                done.append(
                    f"vectors: removed {vectors.removed}, added {vectors.added} (computed from stored sentence vectors)"
                )
            done.append(f"wrote {vectors.written} ({vectors.vectors} vectors, no re-embedding)")
    return done


async def _reembed(
    session: IndexSession, findings: _Findings, embedder: Embedder | Callable[[], Embedder] | None
) -> list[Prepared]:
    broken = sorted(findings.broken_articles)
    if embedder is None:
        raise IndexCorruptError(f"{len(broken)} article(s) need re-embedding but no embedder was given")
    model = embedder if isinstance(embedder, Embedder) else await asyncio.to_thread(embedder)
    meta = findings.meta
    if model.name != meta.get("model") or model.dimension != findings.report.dimension:
        raise IndexMismatchError(
            f"the index was built with {meta.get('model')!r} but the embedder is {model.name!r}:"
            " run `archivebot index` instead"
        )
    return await prepare_for_repair(session, model, broken)
