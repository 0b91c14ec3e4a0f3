"""The embedded backend's vector generations: which FAISS file goes with which database commit.

A write builds the next vector index beside the current one, saves it as `vectors.<generation + 1>.faiss`
and records that generation in `meta` inside the same SQLite transaction as its row changes, so database
and vectors switch together at COMMIT; a crash before it leaves the old pair in place. After the COMMIT
the files of older generations (all but this one and the one before, which readers may still hold) go.

`ServedVectors` is what a process's readers answer from (the loaded index of the latest generation, the meta
of the latest snapshot): the storage's readers load it, its index session hands over what it committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import numpy as np

from index._errors import IndexCorruptError, IndexNotBuiltError
from index.storage.common import SCHEMA_VERSION, passage_vector_from_blobs
from index.storage.faiss_vectors import SearchParameters, VectorIndex, default_factory, generation_of
from index.storage.layout import private_file
from index.storage.sqlite import tantivy_text
from index.storage.sqlite.schema import all_passage_ids, counts, get_meta, passage_vector_sources, set_meta

logger = logging.getLogger(__name__)

REBUILD_BATCH = 20_000  # passages added to a rebuilt index at a time (30 MB of float32 vectors at 384 dims)
KEPT_GENERATIONS = 3  # vector files kept after a commit: this generation and the two before it


def load_generation(data_dir: Path, meta: dict[str, str], parameters: SearchParameters) -> VectorIndex:
    """The vector file of the generation `meta` names (raises when it is missing or unreadable)."""
    return VectorIndex.load(data_dir, int(meta["generation"]), meta.get("index_factory", "Flat"), parameters=parameters)


async def verify_loaded(db: aiosqlite.Connection, vectors: VectorIndex, meta: dict[str, str]) -> None:
    """Cheap agreement checks for a freshly loaded vector file, inside the caller's read snapshot: raises
    `IndexCorruptError` (never answers from a vector file that does not belong to the database)."""
    dimension = int(meta.get("dimension", vectors.dimension))
    if vectors.dimension != dimension:
        raise IndexCorruptError(
            f"the vector file has {vectors.dimension}-dimensional vectors but the index metadata says {dimension}:"
            " run `archivebot doctor --repair`"
        )
    passages = (await counts(db))["passages"]
    if vectors.size != passages:
        if (await get_meta(db)).get("generation") != str(vectors.generation):
            return  # not the caller's snapshot: a newer generation was committed meanwhile and is loaded next
        raise IndexCorruptError(
            f"the vector file holds {vectors.size} vectors for {passages} passages: run `archivebot doctor --repair`"
        )


async def build_index(
    dimension: int, factory: str, ids: np.ndarray, matrix: np.ndarray, parameters: SearchParameters
) -> VectorIndex:
    index = VectorIndex.create(dimension, factory, parameters=parameters)
    if len(ids):
        if index.needs_training():
            await asyncio.to_thread(index.train, matrix)
        await asyncio.to_thread(index.add, ids, matrix)
    return index


async def stored_passage_vectors(
    db: aiosqlite.Connection, dimension: int, passage_ids: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every passage (or those in `passage_ids`) computed from the stored sentence vectors."""
    ids: list[int] = []
    vectors: list[np.ndarray] = []
    async for passage_id, sentence_blobs, title_blob in passage_vector_sources(db, passage_ids):
        ids.append(passage_id)
        vectors.append(passage_vector_from_blobs(sentence_blobs, title_blob))
    matrix = np.stack(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32)
    return np.asarray(ids, dtype=np.int64), matrix


async def rebuild_vectors(
    db: aiosqlite.Connection, dimension: int, factory: str, parameters: SearchParameters
) -> VectorIndex:
    """A new vector index from the sentence vectors stored in SQLite (no re-embedding), in bounded memory:
    trained on a sample of passages (the one IVF uses anyway), then filled REBUILD_BATCH passages at a time,
    so it never holds every passage's float32 vector (1.5 GB per million) beside the index."""
    index = VectorIndex.create(dimension, factory, parameters=parameters)
    if index.needs_training():
        ids = np.asarray(await all_passage_ids(db), dtype=np.int64)
        size = index.training_size()
        if size is not None and len(ids) > size:
            ids = np.sort(np.random.default_rng(0).choice(ids, size, replace=False))
        _, sample = await stored_passage_vectors(db, dimension, [int(i) for i in ids])
        if len(sample):
            await asyncio.to_thread(index.train, sample)
        del ids, sample
    batch_ids: list[int] = []
    batch: list[np.ndarray] = []
    async for passage_id, sentence_blobs, title_blob in passage_vector_sources(db):
        batch_ids.append(passage_id)
        batch.append(passage_vector_from_blobs(sentence_blobs, title_blob))
        if len(batch) >= REBUILD_BATCH:
            await asyncio.to_thread(index.add, np.asarray(batch_ids, dtype=np.int64), np.stack(batch))
            batch_ids, batch = [], []
    if batch:
        await asyncio.to_thread(index.add, np.asarray(batch_ids, dtype=np.int64), np.stack(batch))
    return index


@dataclass
class VectorChanges:
    """What one write did to the passages, for the next vector index."""

    removed: list[int] = field(default_factory=list)
    added_ids: list[int] = field(default_factory=list)
    added_vectors: list[np.ndarray] = field(default_factory=list)  # one (passages x dimension) block per article


@dataclass(frozen=True)
class NextIndex:
    """How to make the next generation's vector index (see `next_index`)."""

    db: aiosqlite.Connection  # inside the write transaction
    data_dir: Path
    meta: dict[str, str]  # as the write began
    dimension: int
    factory: str  # the configured factory, or "auto"
    total_passages: int  # after the write
    rebuild: bool  # every vector changes (another model): never start from the current index
    current: VectorIndex | None  # the latest index in memory, if it is of `meta`'s generation
    current_is_private: bool  # no reader holds `current`: patch it in place (else a copy)
    parameters: SearchParameters


async def next_index(plan: NextIndex, changes: VectorChanges) -> VectorIndex:
    """The current index patched with `changes` (a copy: readers keep the current one), else a new one built
    from the added vectors (a first or full build), else one rebuilt from the stored sentence vectors."""
    meta = plan.meta
    factory = plan.factory
    if factory == "auto":
        factory = default_factory(plan.total_passages, meta.get("index_factory"))
    base: VectorIndex | None = None
    if not plan.rebuild and meta.get("generation") and meta.get("index_factory") == factory:
        if plan.current is not None and plan.current.generation == int(meta["generation"]):
            base = plan.current if plan.current_is_private else await asyncio.to_thread(plan.current.clone)
        else:
            try:
                base = await asyncio.to_thread(load_generation, plan.data_dir, meta, plan.parameters)
            except Exception as error:  # missing or unreadable: rebuild from the stored sentence vectors
                logger.warning("vector file for generation %s unusable (%s); rebuilding", meta["generation"], error)
    if base is not None and (base.supports_remove or not changes.removed):
        base.remove(changes.removed)
        if changes.added_ids:
            base.add(np.asarray(changes.added_ids, dtype=np.int64), np.concatenate(changes.added_vectors))
        return base
    if len(changes.added_ids) == plan.total_passages:  # every passage is new: no need to re-read them
        empty = np.zeros((0, plan.dimension), dtype=np.float32)
        matrix = np.concatenate(changes.added_vectors) if changes.added_vectors else empty
        changes.added_vectors.clear()
        ids = np.asarray(changes.added_ids, dtype=np.int64)
        return await build_index(plan.dimension, factory, ids, matrix, plan.parameters)
    return await rebuild_vectors(plan.db, plan.dimension, factory, plan.parameters)


async def commit_generation(
    db: aiosqlite.Connection, data_dir: Path, index: VectorIndex, meta: dict[str, object]
) -> int:
    """The one way a vector generation is committed: save the next generation's file (atomically, owner-only)
    and record it, with `meta`, in the caller's open write transaction. Returns the generation."""
    generation = int((await get_meta(db)).get("generation", "0")) + 1
    saved = await asyncio.to_thread(index.save, data_dir, generation)
    private_file(saved)
    await set_meta(db, {"generation": generation, "index_factory": index.factory, **meta})
    return generation


def generation_meta(model: str, dimension: int) -> dict[str, object]:
    return {"model": model, "dimension": dimension, "schema_version": SCHEMA_VERSION}


async def collect_garbage(data_dir: Path, generation: int) -> None:
    """After COMMIT: delete the vector files of generations older than the two before this one. Readers load
    the file of their snapshot's generation right after the snapshot begins; a chunked run commits every
    few seconds, so a reader that began just before two quick commits still finds its file."""
    keep = set(range(generation - KEPT_GENERATIONS + 1, generation + 1))
    await asyncio.to_thread(VectorIndex.collect_garbage, data_dir, keep)


# A reader loads its snapshot's vector file as its question begins (milliseconds): a generation whose successor
# was committed this long ago is needed by no reader of any process, and its file goes.
SETTLED_SECONDS = 10.0


def collect_settled(data_dir: Path, generation: int) -> list[Path]:
    """Delete the files of generations older than `generation` (the committed one) whose successor was committed
    at least SETTLED_SECONDS ago. Safe without the reindex lock: it never touches the committed generation, a
    newer one a running reindex may be saving, or a temporary file. Run when an index session ends, when a
    process opens the archive and by `stats`, so a finished build leaves one vector file, not three."""
    removed = []
    now = time.time()
    for path in data_dir.glob("vectors.*.faiss"):
        older = generation_of(path)
        if older is None or older >= generation:
            continue
        successor = VectorIndex.path_for(data_dir, older + 1)
        try:
            if now - successor.stat().st_mtime < SETTLED_SECONDS:
                continue
            path.unlink()
            removed.append(path)
        except OSError:  # the successor is gone too (collected meanwhile) or the file was: nothing to do
            continue
    return removed


class ServedVectors:
    """The vector index this process's readers answer from and the meta of the latest snapshot seen. `lock`
    is the storage's read lock (readers take turns on its connection): the index is loaded, and a commit's
    handed over, under it."""

    def __init__(self, data_dir: Path, parameters: SearchParameters) -> None:
        self.data_dir = data_dir
        self.parameters = parameters
        self.lock = asyncio.Lock()
        self._loading = asyncio.Lock()
        self.index: VectorIndex | None = None
        self.meta: dict[str, str] = {}

    async def of(self, db: aiosqlite.Connection, meta: dict[str, str]) -> VectorIndex:
        """The vector index of the snapshot's generation (loaded again after another process's reindex), read
        inside that snapshot (on `db`, under `lock`)."""
        if "generation" not in meta:
            raise IndexNotBuiltError("the archive has not been indexed yet: run `archivebot index`")
        generation = int(meta["generation"])
        if self.index is None or self.index.generation != generation:
            async with self._loading:  # one load when a question's two sides ask for the vectors at once
                return await self._load(db, meta, generation)
        return self.index

    async def _load(self, db: aiosqlite.Connection, meta: dict[str, str], generation: int) -> VectorIndex:
        if self.index is None or self.index.generation != generation:
            try:
                loaded = await asyncio.to_thread(load_generation, self.data_dir, meta, self.parameters)
            except Exception as error:
                raise IndexCorruptError(
                    f"the vector file for index generation {generation} is missing or unreadable ({error});"
                    " run `archivebot doctor --repair`"
                ) from error
            await verify_loaded(db, loaded, meta)  # IndexCorruptError rather than wrong answers
            self.index = loaded
        return self.index

    async def committed(self, index: VectorIndex | None, meta: dict[str, str]) -> None:
        """A write of this process committed: readers switch to its vectors (and meta) from now on."""
        async with self.lock:
            if index is not None:
                self.index = index
            self.meta = meta


def collect_settled_generations(data_dir: Path, meta: dict[str, str]) -> None:
    """`collect_settled` for both kinds of generation kept beside the database, the vector files and the tantivy
    full-text directories, at the generations `meta` records: they are always collected together."""
    if meta.get("generation"):
        collect_settled(data_dir, int(meta["generation"]))
    text_generation = tantivy_text.recorded_generation(meta)
    if text_generation is not None:
        tantivy_text.collect_settled(data_dir, text_generation)
