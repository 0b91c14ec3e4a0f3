"""Incremental, crash-safe reindexing.

1. Scan: stat every archive file; a file whose size and mtime match what is stored is unchanged and
   is not even read. Changed files are parsed; an article whose content hash is unchanged is kept.
2. Embed: only sentences (and titles) whose text was never embedded before, length-sorted, in batches,
   off the event loop. Each finished batch is saved in `staging.sqlite3`, so a run that is killed
   resumes without embedding the same text again.
3. Commit: in one SQLite transaction, delete the removed and changed articles, insert the new ones,
   write the next FAISS generation beside the current one, and record its number; then COMMIT. Readers
   keep using the old generation until they see the new number. A crash before COMMIT leaves the old
   database and vector file untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ._archive_files import ArchiveFile, discover, file_fingerprint
from ._config import MAX_ARTICLE_SENTENCES
from ._embed import Embedder
from ._errors import ArchiveError, IndexBusyError
from ._models import FileWarning, IndexSummary, ParsedArticle, Progress
from ._parse import PARSER_VERSION, parse_file
from ._store import SCHEMA_VERSION, NewPassage, NewSentence, Store, blob_to_vector, vector_to_blob
from ._text import build_passages, split_sentences
from ._vectors import VectorIndex, default_factory, passage_vector

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
TITLE_WEIGHT = 0.5
EMBED_BATCH = 256
TEXT_COST_CHARACTERS = 40  # per-text cost in the embedding ETA, in characters' worth

DATABASE_FILE = "archive.sqlite3"
STAGING_FILE = "staging.sqlite3"
LOCK_FILE = "index.lock"


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def body_hash(body: str) -> str:
    return hashlib.sha1(re.sub(r"\W+", " ", body.lower()).strip().encode("utf-8")).hexdigest()


PRIVATE_FILES = (DATABASE_FILE, STAGING_FILE, "feedback.sqlite3")


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data directory with owner-only permissions (0700) and its database files as 0600.

    The database files are created empty (a valid empty SQLite database) before SQLite opens them, because
    SQLite gives its -wal and -shm files the permissions of the database file: created by SQLite under the
    usual umask they would be world-readable. Files left group- or world-readable by an older version are
    tightened too."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(data_dir, 0o700)
    for name in PRIVATE_FILES:
        with contextlib.suppress(FileExistsError):
            os.close(os.open(data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with contextlib.suppress(OSError):
        for entry in os.scandir(data_dir):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & 0o077:
                os.chmod(entry.path, 0o600)
    return data_dir


def _pause_for_tests(point: str) -> None:
    """Test hook for the crash-safety tests, inert unless `ARCHIVEBOT_TEST_PAUSE_AT` names `point`.

    Points: `embed` (after the first embedded batch was staged), `commit:rows` (inside the commit
    transaction, rows written), `commit:vectors` (the next vector file written and the generation recorded,
    not yet committed) and `committed` (after COMMIT, before clean-up). When it matches, the process writes
    its pid to the file `ARCHIVEBOT_TEST_PAUSE_FILE` and waits (at most 10 minutes) until that file is
    deleted: the test can SIGKILL it exactly there, or delete the file to let it go on."""
    if os.environ.get("ARCHIVEBOT_TEST_PAUSE_AT") != point:
        return
    marker = Path(os.environ.get("ARCHIVEBOT_TEST_PAUSE_FILE", "archivebot-test-pause"))
    marker.write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + 600
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@contextlib.contextmanager
def index_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock on `index.lock`: one reindex at a time, across processes too."""
    prepare_data_dir(data_dir)
    handle = open(os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600), "r+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise IndexBusyError("another reindex is already running on this data directory") from error
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


class _Staging:
    """Vectors embedded by an unfinished run, keyed by text hash (cleared after a successful commit)."""

    def __init__(self, path: Path, model: str) -> None:
        with contextlib.suppress(FileExistsError):  # owner-only before SQLite creates -wal/-shm beside it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode = WAL")
        # A cache that must survive a killed indexer, not a power cut: no fsync per batch (~20 ms each).
        self._connection.execute("PRAGMA synchronous = NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS staged (text_hash TEXT PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL)"
        )
        self._connection.commit()
        self._model = model

    def get(self, hashes: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._connection.execute(
                f"SELECT text_hash, vector FROM staged WHERE model = ? AND text_hash IN ({','.join('?' * len(chunk))})",
                [self._model, *chunk],
            ).fetchall()
            found.update(dict(rows))
        return found

    def put(self, items: dict[str, bytes]) -> None:
        self._connection.executemany(
            "INSERT OR REPLACE INTO staged (text_hash, model, vector) VALUES (?, ?, ?)",
            [(key, self._model, value) for key, value in items.items()],
        )
        self._connection.commit()

    def clear(self) -> None:
        self._connection.execute("DELETE FROM staged")
        self._connection.commit()
        self._connection.execute("VACUUM")

    def close(self) -> None:
        self._connection.close()


@dataclass
class _Plan:
    unchanged: int = 0
    skipped: int = 0
    remove_rows: list[int] = field(default_factory=list)
    new_articles: list[tuple[ParsedArticle, str, bool]] = field(
        default_factory=list
    )  # (article, fingerprint, is_update)
    fingerprint_updates: dict[int, str] = field(default_factory=dict)
    warnings: list[FileWarning] = field(default_factory=list)


class _Reporter:
    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._started = time.monotonic()
        self._phase_started = self._started
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int, detail: str = "", *, fraction: float | None = None) -> None:
        """`fraction`: the share of the phase's work done, when items differ in cost (texts are embedded
        shortest first, so counting texts alone would promise an end far too early)."""
        if self._callback is None:
            return
        now = time.monotonic()
        if phase != self._phase:
            self._phase, self._phase_started = phase, now
        elapsed_phase = now - self._phase_started
        if fraction is None:
            fraction = done / total if total and total >= done else 0.0
        eta = elapsed_phase / fraction * (1 - fraction) if fraction > 0 else None
        try:
            self._callback(Progress(phase, done, total, now - self._started, eta, detail))
        except Exception:  # a broken progress display must never break indexing
            logger.exception("progress callback failed")


async def _plan(
    store: Store,
    roots: Sequence[Path],
    max_file_bytes: int,
    full: bool,
    report: _Reporter,
    reparse: bool = False,
    max_sentences: int = MAX_ARTICLE_SENTENCES,
) -> _Plan:
    plan = _Plan()
    files, warnings = await asyncio.to_thread(discover, list(roots))
    plan.warnings.extend(warnings)
    states = await store.article_states()
    by_path: dict[str, list] = {}
    for state in states:
        by_path.setdefault(state.path, []).append(state)
    by_id = {state.article_id: state for state in states}
    seen_paths = {str(file.path) for file in files}
    for state in states:
        if state.path not in seen_paths:
            plan.remove_rows.append(state.row)

    def parse_changed() -> list[tuple[ArchiveFile, str, list[ParsedArticle], list[FileWarning]]]:
        results = []
        for number, file in enumerate(files, start=1):
            if number % 200 == 0 or number == len(files):
                report("scan", number, len(files))
            try:
                fingerprint = file_fingerprint(file.path)
            except OSError:
                results.append((file, "", [], [FileWarning(str(file.path), "file vanished while indexing")]))
                continue
            stored = by_path.get(str(file.path), [])
            if stored and not full and not reparse and all(state.fingerprint == fingerprint for state in stored):
                results.append((file, fingerprint, None, []))  # type: ignore[arg-type]
                continue
            articles, file_warnings = parse_file(file, max_file_bytes, max_sentences=max_sentences)
            results.append((file, fingerprint, articles, file_warnings))
        return results

    seen_ids: set[str] = set()
    duplicates: dict[str, list[str]] = {}
    for file, fingerprint, articles, file_warnings in await asyncio.to_thread(parse_changed):
        stored = by_path.get(str(file.path), [])
        if articles is None:
            plan.unchanged += len(stored)
            seen_ids.update(state.article_id for state in stored)
            continue
        plan.warnings.extend(file_warnings)
        if not articles:
            plan.skipped += 1
        produced = set()
        for article in articles:
            if article.article_id in seen_ids:
                duplicates.setdefault(article.path, []).append(article.location)
                continue
            seen_ids.add(article.article_id)
            produced.add(article.article_id)
            previous = by_id.get(article.article_id)
            # Same content at another path (the archive folder moved): its old row was queued for removal
            # by path above, so it is re-inserted (sentence vectors are reused), never counted unchanged.
            if (
                previous
                and previous.content_hash == article.content_hash
                and not full
                and previous.path == article.path
            ):
                plan.unchanged += 1
                if previous.fingerprint != fingerprint or previous.path != article.path:
                    plan.fingerprint_updates[previous.row] = fingerprint
                continue
            if previous:
                plan.remove_rows.append(previous.row)
            plan.new_articles.append((article, fingerprint, previous is not None))
        for state in stored:
            if state.article_id not in produced and state.row not in plan.remove_rows:
                plan.remove_rows.append(state.row)
    for path, locations in duplicates.items():  # one warning per file, however many records repeat
        more = f" (and {len(locations) - 3} more)" if len(locations) > 3 else ""
        plan.warnings.append(
            FileWarning(path, f"{len(locations)} duplicate record(s) skipped: {', '.join(locations[:3])}{more}")
        )
    # An article that moved to another path was removed above by path and re-added: dedupe the removals.
    plan.remove_rows = list(dict.fromkeys(plan.remove_rows))
    return plan


async def reindex(
    store: Store,
    data_dir: Path,
    roots: Sequence[Path],
    embedder: Embedder,
    *,
    max_file_bytes: int,
    max_article_sentences: int = MAX_ARTICLE_SENTENCES,
    passage_sentences: int = 3,
    faiss_factory: str = "auto",
    progress: ProgressCallback | None = None,
    current: VectorIndex | None = None,
) -> tuple[IndexSummary, VectorIndex | None]:
    """Bring the index in `data_dir` in line with `roots`. Returns the summary and the new vector index
    (None when nothing had to change). The caller holds `index_lock`."""
    started = time.monotonic()
    report = _Reporter(progress)
    for root in roots:
        if not Path(root).is_dir():
            raise ArchiveError(f"archive folder not found: {root}")
    meta = await store.get_meta()
    full = bool(meta) and (
        meta.get("model") != embedder.name
        or int(meta.get("dimension", embedder.dimension)) != embedder.dimension
        or int(meta.get("schema_version", SCHEMA_VERSION)) != SCHEMA_VERSION
    )
    if full:
        logger.warning(
            "the index was built with model %s; re-embedding everything with %s", meta.get("model"), embedder.name
        )
    # Parsing or splitting changed since this index was built: read every file again (articles whose
    # content hash is unchanged stay as they are; changed ones reuse stored vectors by text hash).
    reparse = bool(meta) and meta.get("parser_version") != str(PARSER_VERSION)
    plan = await _plan(store, roots, max_file_bytes, full, report, reparse, max_article_sentences)

    staging = _Staging(data_dir / STAGING_FILE, embedder.name)
    try:
        # Vectors stored by another model (or dimension) must not be reused for the same text.
        same_model = not meta or (
            meta.get("model") == embedder.name and int(meta.get("dimension", embedder.dimension)) == embedder.dimension
        )
        prepared, embedded = await _embed_articles(
            store, staging, embedder, plan.new_articles, passage_sentences, report, reuse_stored=same_model
        )
        generation = int(meta.get("generation", "0"))
        changed = bool(plan.remove_rows or prepared) or full or "generation" not in meta
        passages_embedded = 0
        new_index: VectorIndex | None = None
        roots_value = os.pathsep.join(str(Path(root).resolve()) for root in roots)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        report("commit", 0, 1)
        async with store.transaction():
            await store.update_fingerprints(plan.fingerprint_updates)
            if changed:
                commit_started = time.perf_counter()
                removed_passages = await store.delete_articles(plan.remove_rows)
                added_ids: list[int] = []
                added_vectors: list[np.ndarray] = []  # one (passages x dimension) block per article
                for item in prepared:  # each article's rows and vectors exist only while it is inserted
                    article, fingerprint, sentences, passages, title_vector = item.materialize(passage_sentences)
                    passage_ids = await store.insert_article(
                        article,
                        fingerprint=fingerprint,
                        body_hash=body_hash(article.body),
                        title_vector=title_vector,
                        indexed_at=now,
                        sentences=sentences,
                        passages=passages,
                    )
                    added_ids.extend(passage_ids)
                    added_vectors.append(
                        np.stack(
                            [
                                passage_vector(
                                    [sentences[i].vector for i in range(p.first_sentence, p.last_sentence + 1)],
                                    title_vector,
                                    TITLE_WEIGHT,
                                )
                                for p in passages
                            ]
                        )
                    )
                    passages_embedded += len(passages)
                _pause_for_tests("commit:rows")
                rows_done = time.perf_counter()
                counts = await store.counts()
                new_index = await _next_index(
                    store,
                    data_dir,
                    meta,
                    embedder.dimension,
                    faiss_factory,
                    counts["passages"],
                    full,
                    current,
                    removed_passages,
                    added_ids,
                    added_vectors,
                )
                generation += 1
                vectors_done = time.perf_counter()
                saved = await asyncio.to_thread(new_index.save, data_dir, generation)
                logger.debug(
                    "commit: rows %.2f s, vector index %.2f s, save %.2f s",
                    rows_done - commit_started,
                    vectors_done - rows_done,
                    time.perf_counter() - vectors_done,
                )
                with contextlib.suppress(OSError):
                    os.chmod(saved, 0o600)
                await store.set_meta(
                    {
                        "generation": generation,
                        "model": embedder.name,
                        "dimension": embedder.dimension,
                        "schema_version": SCHEMA_VERSION,
                        "index_factory": new_index.factory,
                    }
                )
            await store.set_meta({"roots": roots_value, "last_indexed": now, "parser_version": PARSER_VERSION})
            _pause_for_tests("commit:vectors")
        _pause_for_tests("committed")
        if changed:
            await asyncio.to_thread(VectorIndex.collect_garbage, data_dir, {generation, generation - 1})
        await asyncio.to_thread(staging.clear)
    finally:
        staging.close()
    added = sum(1 for _, _, is_update in plan.new_articles if not is_update)
    updated = len(plan.new_articles) - added
    summary = IndexSummary(
        added=added,
        updated=updated,
        removed=len(plan.remove_rows) - updated,
        unchanged=plan.unchanged,
        skipped=plan.skipped,
        passages_embedded=passages_embedded,
        sentences_embedded=embedded,
        seconds=time.monotonic() - started,
        warnings=tuple(plan.warnings),
    )
    for warning in plan.warnings:
        logger.warning("%s", warning)
    report("done", 1, 1)
    return summary, new_index


async def _embed_articles(
    store: Store,
    staging: _Staging,
    embedder: Embedder,
    articles: list[tuple[ParsedArticle, str, bool]],
    passage_sentences: int,
    report: _Reporter,
    *,
    reuse_stored: bool = True,
) -> tuple[list[tuple[ParsedArticle, str, list[NewSentence], list[NewPassage], np.ndarray]], int]:
    """Split, find or compute every sentence and title vector. Returns the prepared articles and how many
    texts were actually embedded."""
    layouts = []
    wanted: dict[str, str] = {}  # text hash -> text
    for article, fingerprint, _ in articles:
        spans = split_sentences(article.body)
        hashes = [text_hash(article.body[s.start : s.end]) for s in spans]
        title_key = text_hash("title\x1f" + article.title)
        layouts.append((article, fingerprint, spans, hashes, title_key))
        for span, key in zip(spans, hashes):
            wanted.setdefault(key, article.body[span.start : span.end])
        wanted.setdefault(title_key, article.title)
    known = await store.vectors_by_text_hash(list(wanted)) if reuse_stored else {}
    if reuse_stored:  # an updated article whose title did not change keeps its title vector
        stored_titles = await store.title_vectors([article.article_id for article, _, _ in articles])
        for article, _, _, _, title_key in layouts:
            if title_key not in known and article.title in stored_titles:
                known[title_key] = stored_titles[article.title]
    known.update(await asyncio.to_thread(staging.get, [key for key in wanted if key not in known]))
    missing = [key for key in wanted if key not in known]
    missing.sort(key=lambda key: len(wanted[key]))  # length-sorted batches waste no padding
    total = len(missing)
    report("embed", 0, total)
    # Each batch's staging write runs beside the next batch's embedding; progress counts what is saved.
    # Cost model for the ETA: characters plus a fixed cost per text (measured: ~linear in length here).
    costs = [len(wanted[key]) + TEXT_COST_CHARACTERS for key in missing]
    total_cost = float(sum(costs)) or 1.0
    saving: asyncio.Future[None] | None = None
    in_flight = saved = 0
    saved_cost = 0.0

    async def settle() -> None:
        """Wait for the staging write in flight, then report it."""
        nonlocal saving, saved, saved_cost
        if saving is None:
            return
        await saving
        saving = None
        saved_cost += sum(costs[saved : saved + in_flight])
        saved += in_flight
        report("embed", saved, total, fraction=saved_cost / total_cost)
        _pause_for_tests("embed")

    for start in range(0, total, EMBED_BATCH):
        keys = missing[start : start + EMBED_BATCH]
        vectors = await asyncio.to_thread(embedder.embed, [wanted[key] for key in keys])
        blobs = {key: vector_to_blob(vector) for key, vector in zip(keys, vectors)}
        known.update(blobs)
        await settle()
        saving, in_flight = asyncio.ensure_future(asyncio.to_thread(staging.put, blobs)), len(keys)
    await settle()
    # Vectors stay as their float16 blobs (768 bytes for 384 dimensions) until the article is inserted: holding
    # every sentence as a float32 array and every passage's text at once took ~9 GB for 100k articles.
    prepared = [
        _Prepared(article, fingerprint, spans, hashes, title_key, known)
        for article, fingerprint, spans, hashes, title_key in layouts
        if spans
    ]
    return prepared, total


@dataclass(frozen=True)
class _Prepared:
    """An article whose every sentence and title vector is known, ready to insert."""

    article: ParsedArticle
    fingerprint: str
    spans: list[Any]
    hashes: list[str]
    title_key: str
    known: dict[str, bytes]

    def materialize(
        self, passage_sentences: int
    ) -> tuple[ParsedArticle, str, list[NewSentence], list[NewPassage], np.ndarray]:
        body = self.article.body
        sentences = [
            NewSentence(i, span.start, span.end, key, blob_to_vector(self.known[key]))
            for i, (span, key) in enumerate(zip(self.spans, self.hashes))
        ]
        passages = [
            NewPassage(i, p.start, p.end, p.first_sentence, p.last_sentence, body[p.start : p.end])
            for i, p in enumerate(build_passages(self.spans, passage_sentences))
        ]
        return self.article, self.fingerprint, sentences, passages, blob_to_vector(self.known[self.title_key])


async def _next_index(
    store: Store,
    data_dir: Path,
    meta: dict[str, str],
    dimension: int,
    faiss_factory: str,
    total_passages: int,
    full: bool,
    current: VectorIndex | None,
    removed: list[int],
    added_ids: list[int],
    added_vectors: list[np.ndarray],
) -> VectorIndex:
    factory = faiss_factory if faiss_factory != "auto" else default_factory(total_passages, meta.get("index_factory"))
    base: VectorIndex | None = None
    if not full and meta.get("generation") and meta.get("index_factory") == factory:
        if current is not None and current.generation == int(meta["generation"]):
            base = await asyncio.to_thread(current.clone)
        else:
            try:
                base = await asyncio.to_thread(VectorIndex.load, data_dir, int(meta["generation"]), factory)
            except Exception as error:  # missing or unreadable: rebuild from the stored sentence vectors
                logger.warning("vector file for generation %s unusable (%s); rebuilding", meta["generation"], error)
    if base is not None and (base.supports_remove or not removed):
        base.remove(removed)
        if added_ids:
            base.add(np.asarray(added_ids, dtype=np.int64), np.concatenate(added_vectors))
        return base
    if len(added_ids) == total_passages:  # every passage is new (a first or full build): no need to re-read them
        matrix = np.concatenate(added_vectors) if added_vectors else np.zeros((0, dimension), dtype=np.float32)
        added_vectors.clear()
        return await _build_index(dimension, factory, np.asarray(added_ids, dtype=np.int64), matrix)
    return await rebuild_vectors(store, dimension, factory)


async def _build_index(dimension: int, factory: str, ids: np.ndarray, matrix: np.ndarray) -> VectorIndex:
    index = VectorIndex.create(dimension, factory)
    if len(ids):
        if index.needs_training():
            await asyncio.to_thread(index.train, matrix)
        await asyncio.to_thread(index.add, ids, matrix)
    return index


async def rebuild_vectors(store: Store, dimension: int, factory: str) -> VectorIndex:
    """A new vector index from the sentence vectors stored in SQLite (no re-embedding)."""
    ids: list[int] = []
    vectors: list[np.ndarray] = []
    async for passage_id, sentence_blobs, title_blob in store.passage_vector_sources():
        title = blob_to_vector(title_blob) if title_blob is not None else None
        ids.append(passage_id)
        vectors.append(passage_vector([blob_to_vector(b) for b in sentence_blobs], title, TITLE_WEIGHT))
    matrix = np.stack(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32)
    vectors.clear()
    return await _build_index(dimension, factory, np.asarray(ids, dtype=np.int64), matrix)
