"""`archivebot doctor`: check that SQLite, FAISS and FTS5 agree, and repair what can be repaired.

What is checked (on one read snapshot of the database, against the vector file of that snapshot's
generation):

- SQLite's own `PRAGMA integrity_check` and `foreign_key_check` (passages or sentences without an article);
- the metadata: a generation, a model, a dimension and the schema version; the model against the
  configured one (a foreign-model index is never repaired here: `archivebot index` re-embeds it);
- every passage has exactly one vector in `vectors.<generation>.faiss`, no vector lacks a passage, the
  file's dimension matches the metadata, and each stored vector is the one the passage's stored sentence
  vectors give (so a vector file from another database or model is caught, not just a count mismatch);
- every passage has exactly one FTS row holding its title and text, no FTS row lacks a passage, and
  every article has one title row;
- every sentence vector has the stored dimension and every passage's sentences exist.

Repair (`repair_index`, under the reindex lock, in one transaction that also records a new generation):
FTS rows are rebuilt from the passage text; the vector file is patched (or rebuilt when it can't be read)
from the sentence vectors in SQLite without re-embedding; rows without an article are deleted; an article
whose sentence vectors are missing or damaged is re-embedded from its stored text, and nothing else is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from ._config import Settings
from ._embed import Embedder
from ._errors import IndexCorruptError, IndexMismatchError, IndexNotBuiltError
from ._indexer import (
    DATABASE_FILE,
    STAGING_FILE,
    TITLE_WEIGHT,
    _embed_articles,
    _Reporter,
    _Staging,
    body_hash,
    index_lock,
    rebuild_vectors,
)
from ._models import ParsedArticle
from ._store import SCHEMA_VERSION, Store, blob_to_vector
from ._vectors import VectorIndex, passage_vector

logger = logging.getLogger(__name__)

# A stored passage vector that is less similar than this to the one its sentence vectors give is wrong
# (exact index types agree to float rounding; SQ8 compression stays above 0.99).
VECTOR_AGREEMENT = 0.95


@dataclass(frozen=True)
class Problem:
    """One kind of disagreement, with how many rows or vectors it concerns."""

    code: str
    message: str
    count: int = 1
    repairable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "count": self.count, "repairable": self.repairable}


@dataclass
class DoctorReport:
    """The outcome of a check (and of a repair, when one ran)."""

    data_dir: str
    generation: int | None = None
    model: str | None = None
    dimension: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "data_dir": self.data_dir,
            "generation": self.generation,
            "model": self.model,
            "dimension": self.dimension,
            "counts": dict(self.counts),
            "problems": [problem.to_dict() for problem in self.problems],
            "repaired": list(self.repaired),
            "notes": list(self.notes),
        }

    def text(self) -> str:
        lines = [
            f"index      {self.data_dir} (generation {self.generation}, model {self.model}, {self.dimension} dims)",
            "counts     " + ", ".join(f"{value} {key}" for key, value in self.counts.items()),
        ]
        lines += [f"repaired   {item}" for item in self.repaired]
        lines += [f"note       {note}" for note in self.notes]
        if self.ok:
            lines.append("ok         SQLite, FAISS and FTS agree")
        for problem in self.problems:
            fix = "" if problem.repairable else " (not repairable by doctor)"
            lines.append(f"problem    [{problem.code}] {problem.message}{fix}")
        if any(problem.repairable for problem in self.problems):
            lines.append("run `archivebot doctor --repair` to fix the repairable problems")
        return "\n".join(lines)


async def recorded_model(data_dir: Path) -> str | None:
    """The model name the index in `data_dir` records, or None when there is no index."""
    path = Path(data_dir) / DATABASE_FILE
    if not path.exists():
        return None
    store = await Store.open(path, create=False)
    try:
        return (await store.get_meta()).get("model")
    finally:
        await store.close()


async def expected_model_name(settings: Settings) -> str:
    """The name the configured embedder records in this data directory's index (without loading the model):
    it depends on the backend and, with `precision=auto`, on whether the existing index holds fp32 vectors."""
    from ._embed import embedder_name

    return embedder_name(settings, await recorded_model(settings.data_dir))


# ---- checking -------------------------------------------------------------------------------------------


@dataclass
class _Findings:
    report: DoctorReport
    meta: dict[str, str]
    passage_ids: set[int]
    missing_vectors: set[int] = field(default_factory=set)
    orphan_vectors: set[int] = field(default_factory=set)
    duplicate_vectors: set[int] = field(default_factory=set)
    wrong_vectors: set[int] = field(default_factory=set)
    vector_file_unusable: bool = False
    missing_fts: set[int] = field(default_factory=set)
    orphan_fts: set[int] = field(default_factory=set)
    stale_fts: set[int] = field(default_factory=set)
    missing_title_fts: set[int] = field(default_factory=set)
    orphan_title_fts: set[int] = field(default_factory=set)
    stale_title_fts: set[int] = field(default_factory=set)
    orphan_rows: int = 0
    broken_articles: set[int] = field(default_factory=set)  # need their sentences re-embedded
    foreign_model: bool = False
    damaged: bool = False  # SQLite integrity check failed


async def _connect(path: Path) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(str(path), isolation_level=None)
    await connection.execute("PRAGMA busy_timeout = 30000")
    await connection.execute("PRAGMA foreign_keys = ON")
    return connection


async def _all(connection: aiosqlite.Connection, sql: str, params: tuple = ()) -> list[tuple]:
    async with connection.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _inspect(
    connection: aiosqlite.Connection, data_dir: Path, expected_model: str | None, expected_dimension: int | None
) -> _Findings:
    """Every check, on the connection's current snapshot (the caller holds a transaction)."""
    report = DoctorReport(str(data_dir))
    meta = {key: value for key, value in await _all(connection, "SELECT key, value FROM meta")}
    ((articles,),) = await _all(connection, "SELECT count(*) FROM articles")
    if "generation" not in meta and not articles:
        raise IndexNotBuiltError(f"no index in {data_dir} yet: run `archivebot index`")
    passage_ids = {row[0] for row in await _all(connection, "SELECT id FROM passages")}
    findings = _Findings(report, meta, passage_ids)
    problems = report.problems
    report.generation = int(meta["generation"]) if meta.get("generation", "").isdigit() else None
    report.model = meta.get("model")
    dimension = int(meta["dimension"]) if meta.get("dimension", "").isdigit() else None
    report.dimension = dimension
    ((sentences,),) = await _all(connection, "SELECT count(*) FROM sentences")
    report.counts = {"articles": articles, "passages": len(passage_ids), "sentences": sentences}

    integrity = [row[0] for row in await _all(connection, "PRAGMA integrity_check")]
    if integrity != ["ok"]:
        findings.damaged = True
        problems.append(
            Problem(
                "sqlite_integrity",
                "SQLite integrity check failed: "
                + "; ".join(integrity[:3])
                + " (restore a backup or delete the data directory and run `archivebot index`)",
                len(integrity),
                False,
            )
        )
    orphans = await _all(connection, "PRAGMA foreign_key_check")
    if orphans:
        findings.orphan_rows = len(orphans)
        problems.append(
            Problem("orphan_rows", f"{len(orphans)} passage or sentence row(s) belong to no article", len(orphans))
        )

    missing_meta = [key for key in ("generation", "model", "dimension") if key not in meta]
    if missing_meta:
        problems.append(
            Problem(
                "meta",
                f"index metadata lacks {', '.join(missing_meta)}",
                len(missing_meta),
                repairable="model" not in missing_meta and "dimension" not in missing_meta,
            )
        )
    if int(meta.get("schema_version", SCHEMA_VERSION)) != SCHEMA_VERSION:
        findings.foreign_model = True
        problems.append(
            Problem(
                "schema_mismatch",
                f"the index has schema {meta.get('schema_version')}, this"
                f" version uses {SCHEMA_VERSION}: run `archivebot index`",
                1,
                False,
            )
        )
    if expected_model and meta.get("model") and meta["model"] != expected_model:
        findings.foreign_model = True
        problems.append(
            Problem(
                "model_mismatch",
                f"the index was built with model {meta['model']!r} but {expected_model!r} is"
                " configured: run `archivebot index` to re-embed the archive with it",
                1,
                False,
            )
        )
    if expected_dimension and dimension and dimension != expected_dimension:
        findings.foreign_model = True
        problems.append(
            Problem(
                "dimension_mismatch",
                f"the index has {dimension}-dimensional vectors, the configured model makes"
                f" {expected_dimension}: run `archivebot index`",
                1,
                False,
            )
        )

    if dimension:
        bad = await _all(
            connection,
            "SELECT DISTINCT article_row FROM sentences WHERE length(vector) != ?"
            " UNION SELECT id FROM articles WHERE title_vector IS NOT NULL AND length(title_vector) != ?",
            (2 * dimension, 2 * dimension),
        )
        if bad:
            findings.broken_articles.update(row for (row,) in bad)
            problems.append(
                Problem(
                    "bad_sentence_vectors",
                    f"{len(bad)} article(s) have sentence or title vectors that are not {dimension}-dimensional",
                    len(bad),
                )
            )
    gaps = await _all(
        connection,
        "SELECT DISTINCT p.article_row FROM passages p WHERE p.article_row IN (SELECT id FROM articles) AND"
        " (SELECT count(*) FROM sentences s WHERE s.article_row = p.article_row"
        "  AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence) != p.last_sentence - p.first_sentence + 1",
    )
    if gaps:
        findings.broken_articles.update(row for (row,) in gaps)
        problems.append(
            Problem("missing_sentences", f"{len(gaps)} article(s) have passages whose sentences are missing", len(gaps))
        )

    await _check_fts(connection, findings)
    if report.generation is not None and dimension:
        await _check_vectors(connection, data_dir, findings, dimension)

    leftovers = [p.name for p in data_dir.glob("vectors.*") if p.name.endswith(".tmp")]
    if leftovers:
        report.notes.append(f"{len(leftovers)} unfinished vector file(s) from an interrupted run (harmless)")
    staging = data_dir / STAGING_FILE
    if staging.exists() and staging.stat().st_size:
        with contextlib.suppress(sqlite3.Error):
            source = sqlite3.connect(f"file:{staging}?mode=ro", uri=True)
            try:
                (staged,) = source.execute("SELECT count(*) FROM staged").fetchone()
            finally:
                source.close()
            if staged:
                report.notes.append(
                    f"an unfinished reindex left {staged} embedded text(s) in {STAGING_FILE};"
                    " the next `archivebot index` uses them instead of embedding again"
                )
    return findings


async def _check_fts(connection: aiosqlite.Connection, findings: _Findings) -> None:
    problems = findings.report.problems
    expected = {
        pid: (title, text)
        for pid, title, text in await _all(
            connection,
            "SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
            " JOIN articles a ON a.id = p.article_row",
        )
    }
    stored = {
        rowid: (title, text)
        for rowid, title, text in await _all(connection, "SELECT rowid, title, text FROM passages_fts")
    }
    findings.report.counts["fts_rows"] = len(stored)
    findings.missing_fts = set(findings.passage_ids) - set(stored)
    findings.orphan_fts = set(stored) - set(findings.passage_ids)
    findings.stale_fts = {pid for pid, row in stored.items() if pid in expected and expected[pid] != row}
    if findings.missing_fts:
        problems.append(
            Problem(
                "missing_fts",
                f"{len(findings.missing_fts)} passage(s) have no full-text row",
                len(findings.missing_fts),
            )
        )
    if findings.orphan_fts:
        problems.append(
            Problem(
                "orphan_fts",
                f"{len(findings.orphan_fts)} full-text row(s) belong to no passage",
                len(findings.orphan_fts),
            )
        )
    if findings.stale_fts:
        problems.append(
            Problem(
                "stale_fts",
                f"{len(findings.stale_fts)} full-text row(s) hold other text than their passage",
                len(findings.stale_fts),
            )
        )
    titles = {row: title for row, title in await _all(connection, "SELECT id, title FROM articles")}
    stored_titles = {row: title for row, title in await _all(connection, "SELECT rowid, title FROM articles_fts")}
    findings.missing_title_fts = set(titles) - set(stored_titles)
    findings.orphan_title_fts = set(stored_titles) - set(titles)
    findings.stale_title_fts = {row for row, title in stored_titles.items() if row in titles and titles[row] != title}
    bad_titles = len(findings.missing_title_fts) + len(findings.orphan_title_fts) + len(findings.stale_title_fts)
    if bad_titles:
        problems.append(
            Problem("title_fts", f"{bad_titles} article title row(s) are missing, orphaned or stale", bad_titles)
        )


async def _vector_sources(connection: aiosqlite.Connection, passage_ids: list[int] | None = None):
    store = Store(connection, Path())
    async for passage_id, sentence_blobs, title_blob in store.passage_vector_sources(passage_ids):
        yield passage_id, sentence_blobs, title_blob


async def _check_vectors(connection: aiosqlite.Connection, data_dir: Path, findings: _Findings, dimension: int) -> None:
    problems = findings.report.problems
    generation = findings.report.generation
    path = VectorIndex.path_for(data_dir, generation)
    try:
        vectors = await asyncio.to_thread(
            VectorIndex.load, data_dir, generation, findings.meta.get("index_factory", "Flat")
        )
    except Exception as error:
        findings.vector_file_unusable = True
        problems.append(
            Problem("vector_file", f"{path.name} is missing or unreadable ({str(error).splitlines()[0][:120]})")
        )
        return
    findings.report.counts["vectors"] = vectors.size
    if vectors.dimension != dimension:
        findings.vector_file_unusable = True
        problems.append(
            Problem(
                "vector_dimension",
                f"{path.name} holds {vectors.dimension}-dimensional vectors, the metadata says {dimension}",
            )
        )
        return
    ids, counts = np.unique(vectors.ids(), return_counts=True)
    present = {int(i) for i in ids}
    findings.duplicate_vectors = {int(i) for i, n in zip(ids, counts) if n > 1}
    findings.missing_vectors = findings.passage_ids - present
    findings.orphan_vectors = present - findings.passage_ids
    if findings.missing_vectors:
        problems.append(
            Problem(
                "missing_vectors",
                f"{len(findings.missing_vectors)} passage(s) have no vector",
                len(findings.missing_vectors),
            )
        )
    if findings.orphan_vectors:
        problems.append(
            Problem(
                "orphan_vectors",
                f"{len(findings.orphan_vectors)} vector(s) belong to no passage",
                len(findings.orphan_vectors),
            )
        )
    if findings.duplicate_vectors:
        problems.append(
            Problem(
                "duplicate_vectors",
                f"{len(findings.duplicate_vectors)} passage(s) have more than one vector",
                len(findings.duplicate_vectors),
            )
        )
    # Each single vector must be the one its passage's stored sentence vectors give.
    single = sorted((findings.passage_ids & present) - findings.duplicate_vectors)
    stored = await asyncio.to_thread(vectors.reconstruct, single)
    wrong = set()
    async for passage_id, sentence_blobs, title_blob in _vector_sources(connection):
        if passage_id not in stored:
            continue
        try:
            expected = passage_vector(
                [blob_to_vector(b) for b in sentence_blobs],
                blob_to_vector(title_blob) if title_blob is not None else None,
                TITLE_WEIGHT,
            )
            agreement = float(np.dot(expected, stored[passage_id])) / (float(np.linalg.norm(stored[passage_id])) or 1.0)
        except ValueError:  # sentence vectors of the wrong size: reported above
            continue
        if not agreement >= VECTOR_AGREEMENT:
            wrong.add(passage_id)
    findings.wrong_vectors = wrong
    if wrong:
        problems.append(
            Problem(
                "wrong_vectors",
                f"{len(wrong)} vector(s) do not match their passage's stored sentence"
                " vectors (another database's or model's vector file?)",
                len(wrong),
            )
        )


async def check_index(
    data_dir: Path, *, expected_model: str | None = None, expected_dimension: int | None = None
) -> DoctorReport:
    """Check the index in `data_dir` (read-only; safe while questions are answered or a reindex runs).
    Raises `IndexNotBuiltError` when there is no index at all."""
    path = Path(data_dir) / DATABASE_FILE
    if not path.exists() or not path.stat().st_size:
        raise IndexNotBuiltError(f"no index in {data_dir} yet: run `archivebot index`")
    try:
        connection = await _connect(path)
    except sqlite3.DatabaseError as error:
        raise IndexCorruptError(f"{path} is not a readable SQLite database ({error})") from error
    try:
        await connection.execute("BEGIN")
        try:
            findings = await _inspect(connection, Path(data_dir), expected_model, expected_dimension)
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(
                f"{path} is damaged ({error}): restore a backup or delete it and run `archivebot index`"
            ) from error
        finally:
            with contextlib.suppress(Exception):
                await connection.execute("ROLLBACK")
    finally:
        await connection.close()
    return findings.report


# ---- repairing ------------------------------------------------------------------------------------------


async def repair_index(
    data_dir: Path,
    *,
    expected_model: str | None = None,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    passage_sentences: int = 3,
) -> DoctorReport:
    """Check, then fix what is repairable, holding the reindex lock (raises `IndexBusyError` while a reindex
    runs). Returns the report of a fresh check after the repair, with `repaired` listing what was done.

    `embedder` (or a function making one) is only used when some articles' sentence vectors are missing
    or damaged; only those articles are embedded again, from their stored text."""
    data_dir = Path(data_dir)
    with index_lock(data_dir):
        first = await _repair_locked(data_dir, expected_model, embedder, passage_sentences)
    after = await check_index(data_dir, expected_model=expected_model)
    after.repaired = first
    return after


async def _repair_locked(
    data_dir: Path,
    expected_model: str | None,
    embedder: Embedder | Callable[[], Embedder] | None,
    passage_sentences: int,
) -> list[str]:
    path = data_dir / DATABASE_FILE
    if not path.exists() or not path.stat().st_size:
        raise IndexNotBuiltError(f"no index in {data_dir} yet: run `archivebot index`")
    connection = await _connect(path)
    store = Store(connection, path)
    done: list[str] = []
    try:
        await connection.execute("BEGIN")
        try:
            findings = await _inspect(connection, data_dir, expected_model, None)
        finally:
            await connection.execute("ROLLBACK")
        if findings.damaged or findings.foreign_model or not findings.report.dimension or not findings.report.model:
            reasons = [p.message for p in findings.report.problems if not p.repairable]
            raise IndexCorruptError("doctor can't repair this index: " + "; ".join(reasons or ["metadata is missing"]))
        if findings.report.ok:
            return done
        dimension = int(findings.report.dimension)
        meta = findings.meta

        # Re-embed (outside the write transaction) only the articles whose sentence vectors are unusable.
        prepared: list = []
        if findings.broken_articles:
            if embedder is None:
                raise IndexCorruptError(
                    f"{len(findings.broken_articles)} article(s) need re-embedding but no embedder was given"
                )
            model = embedder if hasattr(embedder, "embed") else await asyncio.to_thread(embedder)  # type: ignore[operator]
            if model.name != meta.get("model") or model.dimension != dimension:
                raise IndexMismatchError(
                    f"the index was built with {meta.get('model')!r} but the embedder is {model.name!r}:"
                    " run `archivebot index` instead"
                )
            articles = await _stored_articles(connection, sorted(findings.broken_articles))
            staging = _Staging(data_dir / STAGING_FILE, model.name)
            try:
                prepared, _ = await _embed_articles(
                    store, staging, model, articles, passage_sentences, _Reporter(None), reuse_stored=False
                )
            finally:
                staging.close()

        async with store.transaction():
            if findings.orphan_rows:
                await connection.execute("DELETE FROM passages WHERE article_row NOT IN (SELECT id FROM articles)")
                await connection.execute("DELETE FROM sentences WHERE article_row NOT IN (SELECT id FROM articles)")
                done.append(f"deleted {findings.orphan_rows} row(s) that belonged to no article")
            if findings.broken_articles:
                await store.delete_articles(sorted(findings.broken_articles))
                for item in prepared:
                    article, fingerprint, sentences, passages, title_vector = item.materialize(passage_sentences)
                    await store.insert_article(
                        article,
                        fingerprint=fingerprint,
                        body_hash=body_hash(article.body),
                        title_vector=title_vector,
                        indexed_at=meta.get("last_indexed", ""),
                        sentences=sentences,
                        passages=passages,
                    )
                done.append(f"re-embedded {len(prepared)} article(s) whose sentence vectors were missing or damaged")
            await _repair_fts(connection, findings, done)
            passage_ids = {row[0] for row in await _all(connection, "SELECT id FROM passages")}
            vectors = await _repaired_vectors(connection, store, data_dir, findings, passage_ids, dimension, done)
            if vectors is not None:
                generation = int(meta.get("generation", "0")) + 1
                saved = await asyncio.to_thread(vectors.save, data_dir, generation)
                with contextlib.suppress(OSError):
                    os.chmod(saved, 0o600)
                await store.set_meta({"generation": generation, "index_factory": vectors.factory})
                done.append(f"wrote vectors.{generation}.faiss ({vectors.size} vectors, no re-embedding)")
        if any(item.startswith("wrote vectors.") for item in done):
            generation = int((await store.get_meta())["generation"])
            await asyncio.to_thread(VectorIndex.collect_garbage, data_dir, {generation, generation - 1})
    finally:
        await connection.close()
    return done


async def _stored_articles(connection: aiosqlite.Connection, rows: list[int]) -> list[tuple[ParsedArticle, str, bool]]:
    found = []
    for row in rows:
        for values in await _all(
            connection,
            "SELECT article_id, location, path, title, title_derived, source, published, dateline, byline, url, body,"
            " content_hash, fingerprint FROM articles WHERE id = ?",
            (row,),
        ):
            *fields, fingerprint = values
            fields[4] = bool(fields[4])
            found.append((ParsedArticle(*fields), fingerprint, True))
    return found


async def _repair_fts(connection: aiosqlite.Connection, findings: _Findings, done: list[str]) -> None:
    store = Store(connection, Path())
    # Rows of re-embedded articles were replaced wholesale; compare again against the current rows.
    current = {row[0] for row in await _all(connection, "SELECT id FROM passages")}
    stored = {row[0] for row in await _all(connection, "SELECT rowid FROM passages_fts")}
    drop = (stored - current) | (findings.stale_fts & current)
    add = (current - stored) | (findings.stale_fts & current)
    if drop:
        await store.delete_fts_rows(sorted(drop))
    if add:
        await store.insert_fts_rows(await store.passage_texts(sorted(add)))
    if drop or add:
        done.append(f"rebuilt {len(add)} full-text row(s), removed {len(drop - add)} orphan(s)")
    titles = {row: title for row, title in await _all(connection, "SELECT id, title FROM articles")}
    stored_titles = {row: title for row, title in await _all(connection, "SELECT rowid, title FROM articles_fts")}
    stale = {row for row, title in stored_titles.items() if row in titles and titles[row] != title}
    drop_titles = (set(stored_titles) - set(titles)) | stale
    add_titles = (set(titles) - set(stored_titles)) | stale
    for row in sorted(drop_titles):
        await connection.execute("DELETE FROM articles_fts WHERE rowid = ?", (row,))
    await connection.executemany(
        "INSERT INTO articles_fts(rowid, title) VALUES (?, ?)", [(row, titles[row]) for row in sorted(add_titles)]
    )
    if drop_titles or add_titles:
        done.append(f"rebuilt {len(add_titles)} title row(s), removed {len(drop_titles - add_titles)} orphan(s)")


async def _repaired_vectors(
    connection: aiosqlite.Connection,
    store: Store,
    data_dir: Path,
    findings: _Findings,
    passage_ids: set[int],
    dimension: int,
    done: list[str],
) -> VectorIndex | None:
    """The vector index patched to match `passage_ids`, or None when the current file already does."""
    factory = findings.meta.get("index_factory", "Flat")
    base: VectorIndex | None = None
    if not findings.vector_file_unusable and findings.report.generation is not None:
        with contextlib.suppress(Exception):
            base = await asyncio.to_thread(VectorIndex.load, data_dir, findings.report.generation, factory)
    if base is None or not base.supports_remove:
        rebuilt = await rebuild_vectors(store, dimension, factory)
        done.append(f"rebuilt the vector index from the stored sentence vectors ({rebuilt.size} passages)")
        return rebuilt
    present, counts = np.unique(base.ids(), return_counts=True)
    present_set = {int(i) for i in present}
    duplicates = {int(i) for i, n in zip(present, counts) if n > 1}
    remove = (present_set - passage_ids) | duplicates | (findings.wrong_vectors & passage_ids)
    add = (passage_ids - present_set) | duplicates | (findings.wrong_vectors & passage_ids)
    if not remove and not add:
        return None
    base.remove(sorted(remove))
    ids: list[int] = []
    rows: list[np.ndarray] = []
    if add:
        async for passage_id, sentence_blobs, title_blob in store.passage_vector_sources(sorted(add)):
            title = blob_to_vector(title_blob) if title_blob is not None else None
            ids.append(passage_id)
            rows.append(passage_vector([blob_to_vector(b) for b in sentence_blobs], title, TITLE_WEIGHT))
    if ids:
        base.add(np.asarray(ids, dtype=np.int64), np.stack(rows))
    done.append(f"vectors: removed {len(remove)}, added {len(ids)} (computed from stored sentence vectors)")
    return base


# ---- the quick check the engine runs when it loads a vector file -------------------------------------------


async def verify_loaded(store: Store, vectors: VectorIndex, meta: dict[str, str]) -> None:
    """Cheap agreement checks for a freshly loaded vector file, inside the caller's read snapshot: raises
    `IndexCorruptError` (never answers from a vector file that does not belong to the database)."""
    dimension = int(meta.get("dimension", vectors.dimension))
    if vectors.dimension != dimension:
        raise IndexCorruptError(
            f"the vector file has {vectors.dimension}-dimensional vectors but the index metadata says {dimension}:"
            " run `archivebot doctor --repair`"
        )
    passages = (await store.counts())["passages"]
    if vectors.size != passages:
        if (await store.get_meta()).get("generation") != str(vectors.generation):
            return  # not the caller's snapshot: a newer generation was committed meanwhile and is loaded next
        raise IndexCorruptError(
            f"the vector file holds {vectors.size} vectors for {passages} passages: run `archivebot doctor --repair`"
        )
