"""The FAISS side: an id-mapped index whose ids are passage row ids, saved per generation.

A reindex writes `vectors.<generation>.faiss` beside the current file and then commits the new
generation number in SQLite's `meta` in the same transaction as the row changes, so the database and
the vectors switch together; a crash before the commit leaves the old pair in place.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import faiss
import numpy as np

logger = logging.getLogger(__name__)

FLAT_LIMIT = 200_000  # up to this many passages, exact search is fast enough (~1 ms per 10k vectors)
_FILE = re.compile(r"^vectors\.(\d+)\.faiss$")


def default_factory(expected: int) -> str:
    """The FAISS index type for an archive of `expected` passages (see README, Performance)."""
    if expected <= FLAT_LIMIT:
        return "Flat"
    return "HNSW32,SQ8" if expected > 2_000_000 else "HNSW32"


class VectorIndex:
    """Inner-product search over L2-normalised vectors, keyed by passage id."""

    def __init__(self, index: faiss.Index, generation: int = 0, factory: str = "Flat") -> None:
        self.index = index
        self.generation = generation
        self.factory = factory

    @classmethod
    def create(cls, dimension: int, factory: str = "Flat", generation: int = 0) -> "VectorIndex":
        inner = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efConstruction = 80
            inner.hnsw.efSearch = 128
        return cls(faiss.IndexIDMap2(inner), generation, factory)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def supports_remove(self) -> bool:
        inner = faiss.downcast_index(self.index.index) if hasattr(self.index, "index") else self.index
        return not isinstance(inner, faiss.IndexHNSW)

    def needs_training(self) -> bool:
        return not self.index.is_trained

    def train(self, vectors: np.ndarray) -> None:
        self.index.train(np.ascontiguousarray(vectors, dtype=np.float32))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    def remove(self, ids: list[int] | np.ndarray) -> int:
        if not len(ids):
            return 0
        return int(self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size)) if self.size else 1
        if not self.size:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores, ids = self.index.search(queries, k)
        return scores, ids

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors by passage id (approximate for compressed index types); unknown ids are left out."""
        found: dict[int, np.ndarray] = {}
        for passage_id in ids:
            try:
                found[passage_id] = self.index.reconstruct(int(passage_id))
            except RuntimeError:
                continue
        return found

    def clone(self) -> "VectorIndex":
        return VectorIndex(faiss.clone_index(self.index), self.generation, self.factory)

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
    def load(cls, directory: Path, generation: int, factory: str = "Flat", *, mmap: bool = False) -> "VectorIndex":
        path = cls.path_for(directory, generation)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
        return cls(index, generation, factory)

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


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def passage_vector(sentence_vectors: list[np.ndarray], title_vector: np.ndarray | None, title_weight: float) -> np.ndarray:
    """A passage's vector: the normalised mean of its sentences' vectors, nudged toward the article title."""
    vector = np.mean(np.stack(sentence_vectors), axis=0)
    if title_vector is not None and title_weight:
        vector = vector + title_weight * title_vector
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)
