"""The embedded backend's vector index: an id-mapped FAISS index whose ids are passage row ids.

Each committed state is a file `vectors.<generation>.faiss` (see `sqlite/vectors.py` for how a generation is
committed together with the rows). Search-time parameters (IVF nprobe, HNSW efSearch) come from Settings.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index._errors import ConfigurationError

logger = logging.getLogger(__name__)

FLAT_LIMIT = 50_000  # up to this many passages exact search is cheap (~5 ms at 50k); above, IVF (see default_factory)
MIN_TRAINING_PER_LIST = 39  # FAISS warns below this many training points per IVF list
TRAINING_PER_LIST = 50  # k-means sample per list (FAISS would take 256): training stays under a minute at 1M
SQ8_LIMIT = 400_000  # above this many passages IVF stores 8-bit codes (float32 lists would pass ~0.6 GB)
SQ_RANGE_MARGIN = 0.05  # headroom beyond the trained per-dimension range of SQ8 codes (see create)
_FILE = re.compile(r"^vectors\.(\d+)\.faiss$")
_IVF = re.compile(r"^IVF(\d+)")


def ivf_lists(expected: int) -> int:
    """IVF list count: ~2·sqrt(n) rounded to a power of two (2048 at 1M passages: ~500 per list, so a probe
    of 32 lists scans ~16k SQ8 codes, under a millisecond), with at least MIN_TRAINING_PER_LIST per list."""
    target = 2 * math.sqrt(max(expected, 1))
    lists = 2 ** round(math.log2(max(target, 1)))
    while lists > 1 and expected / lists < MIN_TRAINING_PER_LIST:
        lists //= 2
    return max(int(lists), 1)


def default_factory(expected: int, current: str | None = None) -> str:
    """The FAISS index type for an archive of `expected` passages (see docs/performance.md).

    - up to FLAT_LIMIT: "Flat" (exact);
    - up to SQ8_LIMIT: "IVF<n>,Flat": inverted lists of float32 vectors (~1.5 GB per million; exact scores);
    - above: "IVF<n>,SQ8": the same over 8-bit scalar-quantised vectors, a quarter of the memory (~0.4 GB per
      million passages), recall@10 0.99 at the default nprobe in the bench.
    IVF supports removal, so an incremental reindex patches it in seconds instead of rebuilding (HNSW can't).

    `current` is the factory of the existing index: an IVF index of the same kind is kept while its list count
    is within 2x of the ideal one, so a growing archive is not rebuilt at every power of two."""
    if expected <= FLAT_LIMIT:
        return "Flat"
    lists = ivf_lists(expected)
    codes = "SQ8" if expected > SQ8_LIMIT else "Flat"
    match = _IVF.match(current or "")
    if match and current == f"IVF{match.group(1)},{codes}" and lists / 2 <= int(match.group(1)) <= lists * 2:
        return current
    return f"IVF{lists},{codes}"


DEFAULT_EF_SEARCH = 256


@dataclass(frozen=True)
class SearchParameters:
    """Search-time parameters (not stored in the file); 0 means the built-in choice."""

    nprobe: int = 0  # Settings.faiss_nprobe (ARCHIVEBOT_FAISS_NPROBE)
    ef_search: int = 0  # Settings.faiss_ef_search (ARCHIVEBOT_FAISS_EF_SEARCH)


def default_nprobe(lists: int, configured: int = 0) -> int:
    """IVF lists searched per query: `configured` when set, else ~1.5% of the lists (at least 16; 32 at 2048)."""
    return min(lists, configured if configured else max(16, lists // 64))


def _tune(index: faiss.Index, parameters: SearchParameters) -> None:
    inner = _inner(index)
    if isinstance(inner, faiss.IndexIVF):
        inner.nprobe = default_nprobe(int(inner.nlist), parameters.nprobe)
    elif isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = parameters.ef_search or DEFAULT_EF_SEARCH


def _inner(index: faiss.Index) -> faiss.Index:
    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return faiss.downcast_index(index.index)
    return index


def _widen_sq_ranges(index: faiss.IndexIVFScalarQuantizer) -> None:
    """Give every dimension of an SQ8 quantizer at least the typical dimension's range, so a dimension the
    training sample barely used doesn't clip the vectors of passages added later (the stored vector would
    no longer match its passage)."""
    trained = faiss.vector_to_array(index.sq.trained)
    dimension = int(index.d)
    if len(trained) != 2 * dimension:  # only the per-dimension (non-uniform) quantizers
        return
    low, span = trained[:dimension].copy(), trained[dimension:].copy()
    high = low + span
    floor = float(np.median(np.maximum(np.abs(low), np.abs(high))))
    low, high = np.minimum(low, -floor), np.maximum(high, floor)
    faiss.copy_array_to_vector(np.concatenate([low, high - low]).astype(np.float32), index.sq.trained)


def check_factory(factory: str, dimension: int) -> None:
    """`ConfigurationError` unless `factory` is "auto" or a FAISS index_factory string for this dimension."""
    if factory == "auto":
        return
    try:
        faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        # FAISS's message names the C++ function and source line first; the reason is its last clause.
        reason = str(error).strip().rpartition(": ")[2] or "not understood"
        raise ConfigurationError(
            f"ARCHIVEBOT_FAISS_FACTORY {factory!r} is not a FAISS index for {dimension}-dimensional vectors"
            f" (e.g. auto, Flat, HNSW32, IVF1024,SQ8): {reason}"
        ) from error


class VectorIndex:
    """Inner-product search over L2-normalised vectors, keyed by passage id.

    Flat and HNSW indexes sit inside an IndexIDMap2; IVF indexes hold the passage ids themselves (their
    lists store ids) with a hash-table direct map, which makes `remove`, `reconstruct` and `ids` work."""

    def __init__(
        self,
        index: faiss.Index,
        generation: int = 0,
        factory: str = "Flat",
        parameters: SearchParameters = SearchParameters(),
    ) -> None:
        self.index = index
        self.generation = generation
        self.factory = factory
        self.parameters = parameters
        _tune(index, parameters)

    @classmethod
    def create(
        cls,
        dimension: int,
        factory: str = "Flat",
        generation: int = 0,
        parameters: SearchParameters = SearchParameters(),
    ) -> VectorIndex:
        inner = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
        if isinstance(inner, faiss.IndexIVF):
            # In the SWIG module but missing from faiss's bundled type stubs:
            inner.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
            if isinstance(inner, faiss.IndexIVFScalarQuantizer):
                # SQ8 learns each dimension's [min, max] from the training sample and clips beyond it: a
                # passage added later on a new topic could fall outside. Widen each range by SQ_RANGE_MARGIN
                # of its span on both sides (a slightly coarser step; recall unchanged in the bench).
                inner.sq.rangestat = faiss.ScalarQuantizer.RS_minmax
                inner.sq.rangestat_arg = SQ_RANGE_MARGIN
            return cls(inner, generation, factory, parameters)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efConstruction = 100  # 40 (FAISS's default) reached only 0.75-0.89 recall@10 at 1M
        return cls(faiss.IndexIDMap2(inner), generation, factory, parameters)

    @property
    def is_ivf(self) -> bool:
        return isinstance(_inner(self.index), faiss.IndexIVF)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def supports_remove(self) -> bool:
        return not isinstance(_inner(self.index), faiss.IndexHNSW)

    def needs_training(self) -> bool:
        return not self.index.is_trained

    def training_size(self) -> int | None:
        """How many vectors `train` uses at most (None: all it is given)."""
        inner = _inner(self.index)
        return TRAINING_PER_LIST * int(inner.nlist) if isinstance(inner, faiss.IndexIVF) else None

    def train(self, vectors: np.ndarray) -> None:
        """Train on `vectors`, or on a fixed random sample of TRAINING_PER_LIST per IVF list when larger."""
        inner = _inner(self.index)
        if isinstance(inner, faiss.IndexIVF):
            limit = TRAINING_PER_LIST * int(inner.nlist)
            if len(vectors) > limit:
                rows = np.random.default_rng(0).choice(len(vectors), limit, replace=False)
                vectors = vectors[np.sort(rows)]
        self.index.train(np.ascontiguousarray(vectors, dtype=np.float32))
        if isinstance(inner, faiss.IndexIVFScalarQuantizer):
            _widen_sq_ranges(inner)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    def remove(self, ids: list[int] | np.ndarray) -> int:
        if not len(ids):
            return 0
        # faiss's Python wrapper takes an id array here (its stubs only know the IDSelector overload):
        return int(self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))  # type: ignore[arg-type]

    def ids(self) -> np.ndarray:
        inner = _inner(self.index)
        if isinstance(inner, faiss.IndexIVF) and not hasattr(self.index, "id_map"):
            lists = inner.invlists
            assert lists is not None  # an IVF index always has its inverted lists
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(number), size).copy()
                for number in range(inner.nlist)
                if (size := lists.list_size(number))
            ]
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        return faiss.vector_to_array(getattr(self.index, "id_map")).astype(np.int64)  # noqa: B009 (not in the stubs)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size)) if self.size else 1
        if not self.size:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        threads = faiss.omp_get_max_threads()
        if len(queries) > 1 or threads == 1:
            return self.index.search(queries, k)
        # One question: one OpenMP thread. Splitting a single query over threads cost more than it saved
        # (2 cores, k=64 over BBC's 19k vectors, Flat: 3.8 ms with 2 threads, 1.5 ms with 1; Flat over 100k,
        # k=512: 17.8 / 9.4 ms; IVF1024,SQ8 over 400k: the same either way). The setting is this thread's own
        # (OpenMP keeps it per thread), and is put back for whatever the thread runs next.
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def search_within(self, query: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The nearest `k` of the `allowed` passage ids only: every IVF list is scanned, the others' codes
        skipped by an id selector (exact for Flat, as exact as the codes for IVF; HNSW searches its graph with
        the selector). 2% of the 53-copy 1M archive (20k ids, IVF2048,SQ8): see `python -m bench.filtered`."""
        query = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        if not self.size or not len(allowed):
            return np.zeros((len(query), 0), np.float32), np.zeros((len(query), 0), np.int64)
        selector = faiss.IDSelectorBatch(allowed)
        inner = _inner(self.index)
        # faiss's bundled type stubs lack these keyword arguments and SearchParametersHNSW (all in the module).
        parameters: Any
        if isinstance(inner, faiss.IndexIVF):
            parameters = faiss.SearchParametersIVF(sel=selector, nprobe=int(inner.nlist))  # type: ignore[call-arg]
        elif isinstance(inner, faiss.IndexHNSW):
            efsearch = max(int(inner.hnsw.efSearch), k)
            parameters = faiss.SearchParametersHNSW(sel=selector, efSearch=efsearch)  # type: ignore[attr-defined]
        else:
            parameters = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        k = max(1, min(k, len(allowed), self.size))
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # one question, one thread (see `search`)
        try:
            return self.index.search(query, k, params=parameters)
        finally:
            faiss.omp_set_num_threads(threads)

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors by passage id (approximate for compressed index types); unknown ids are left out."""
        found: dict[int, np.ndarray] = {}
        for passage_id in ids:
            try:
                found[passage_id] = np.asarray(self.index.reconstruct(int(passage_id)), dtype=np.float32)
            except RuntimeError:
                continue
        return found

    def clone(self) -> VectorIndex:
        return VectorIndex(faiss.clone_index(self.index), self.generation, self.factory, self.parameters)

    # ---- files ------------------------------------------------------------------------------------

    @staticmethod
    def path_for(directory: Path, generation: int) -> Path:
        return directory / f"vectors.{generation}.faiss"

    def save(self, directory: Path, generation: int) -> Path:
        """Write atomically (temporary file, fsync, rename) as `vectors.<generation>.faiss`."""
        path = self.path_for(directory, generation)
        temporary = path.with_suffix(".faiss.tmp")
        faiss.write_index(self.index, str(temporary))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_directory(directory)
        self.generation = generation
        return path

    @classmethod
    def load(
        cls,
        directory: Path,
        generation: int,
        factory: str = "Flat",
        *,
        mmap: bool = False,
        parameters: SearchParameters = SearchParameters(),
    ) -> VectorIndex:
        path = cls.path_for(directory, generation)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
        return cls(index, generation, factory, parameters)  # __init__ sets nprobe / efSearch

    @staticmethod
    def collect_garbage(directory: Path, keep: set[int]) -> list[Path]:
        """Delete vector files of generations not in `keep` (and stale temporary files)."""
        removed = []
        for path in directory.glob("vectors.*"):
            match = _FILE.match(path.name)
            if path.name.endswith(".tmp") or (match and int(match.group(1)) not in keep):
                try:
                    path.unlink()
                    removed.append(path)
                except OSError as error:  # pragma: no cover - best effort
                    logger.warning("could not remove %s: %s", path, error)
        return removed


def generation_of(path: Path) -> int | None:
    """The generation a vector file holds (`vectors.<n>.faiss`), or None for any other file."""
    match = _FILE.match(path.name)
    return int(match.group(1)) if match else None


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
