"""What every backend shares: the schema version, the passage-vector recipe, the compatibility check and the
grouping of an article's copies as read back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from index._rows import CopyRef, blob_to_vector

SCHEMA_VERSION = 1
# Recorded by a backend that builds its search indexes once at the end of a first build (PostgreSQL): set while
# the build's chunks are committed without them, removed by the commit that builds them. The indexer's last
# commit finishes such a build even when it brings nothing new (a first build interrupted, then resumed).
UNFINISHED_BUILD = "build_unfinished"
# How many times more passages a search proposes when a question has a source or date filter and the search
# cannot look inside it (FAISS; every full-text search): most of them are then filtered out.
FILTERED_WIDENING = 8
# The embedded backend searches inside a filter when it allows at most this many passages (the FAISS search then
# skips every other passage's code); a broader filter keeps the widened search, whose nearest passages are then
# mostly allowed anyway.
WITHIN_LIMIT = 100_000
TITLE_WEIGHT = 0.5  # how far a passage's vector is nudged toward its article's title


def passage_vector(sentence_vectors: Sequence[np.ndarray], title_vector: np.ndarray | None) -> np.ndarray:
    """A passage's vector: the normalised mean of its sentences' vectors, nudged toward the article title.
    The one place this is computed (indexing, rebuilding and checking the vector index all use it)."""
    vector = np.mean(np.stack(sentence_vectors), axis=0)
    if title_vector is not None and TITLE_WEIGHT:
        vector = vector + TITLE_WEIGHT * title_vector
    norm = float(np.linalg.norm(vector))
    return np.asarray(vector / norm if norm else vector, dtype=np.float32)


def passage_vector_from_blobs(sentence_blobs: Sequence[bytes], title_blob: bytes | None) -> np.ndarray:
    """`passage_vector` from stored (float16) sentence and title vectors."""
    title = blob_to_vector(title_blob) if title_blob is not None else None
    return passage_vector([blob_to_vector(blob) for blob in sentence_blobs], title)


def mismatches(meta: dict[str, str], model: str | None, dimension: int | None) -> list[str]:
    """Which of "model", "dimension" and "schema" of an archive's `meta` differ from what is configured.

    The model and dimension are compared only when given (None: not known here); a meta without a schema
    version is taken as the current one. The one check the engine, the indexer and the doctor share."""
    found: list[str] = []
    if model is not None and meta.get("model") != model:
        found.append("model")
    if dimension is not None and meta.get("dimension") != str(dimension):
        found.append("dimension")
    if meta.get("schema_version", str(SCHEMA_VERSION)) != str(SCHEMA_VERSION):
        found.append("schema")
    return found


def copies_by_row(group_of_row: dict[int, str], members: Iterable[tuple[str, CopyRef]]) -> dict[int, list[CopyRef]]:
    """Each grouped row's other copies, from the rows' groups and every member of those groups (in the order
    given: oldest first). Reading each group's members once, not once per requested copy, matters when the
    requested rows are many copies of one story: 40 ranked copies of a story held 53 times read 53 rows, not
    40 x 52 (copies_of took 10/29 ms p50/p95 per question on a 1M-passage archive of 53 copies per story)."""
    by_group: dict[str, list[CopyRef]] = {}
    for group, ref in members:
        by_group.setdefault(group, []).append(ref)
    return {
        row: [ref for ref in by_group.get(group, []) if ref.row != row]
        for row, group in group_of_row.items()
        if len(by_group.get(group, [])) > 1
    }
