"""Today's `Store` + `VectorIndex` as one read snapshot for the question path (temporary).

The question path (`_retrieval`, `_selection`) is written against `ArchiveReader`, the read interface
agreed with the storage boundary (`index/_storage/`). Until that boundary lands, this adapter gives the
engine the same interface over the SQLite store and the FAISS index it holds; it goes when the storage
backend's own reader replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ._copies import CopyRef
from ._lexical import fts_query
from ._store import ArticleRow, PassageRow, SentenceRow, Store
from ._vectors import VectorIndex


class ArchiveReader(Protocol):
    """One consistent read snapshot of the archive: rows and the vectors of the same generation."""

    meta: dict[str, str]

    async def nearest_passages(self, vector: np.ndarray, k: int) -> list[int]: ...
    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]: ...
    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]: ...
    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]: ...
    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]: ...
    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]: ...
    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]: ...
    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]: ...
    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]: ...


class StoreReader:
    """`ArchiveReader` over a `Store` already inside a read transaction and the `VectorIndex` of its generation."""

    def __init__(self, store: Store, vectors: VectorIndex, meta: dict[str, str]) -> None:
        self._store = store
        self._vectors = vectors
        self.meta = meta

    async def nearest_passages(self, vector: np.ndarray, k: int) -> list[int]:
        _, ids = await asyncio.to_thread(self._vectors.search, vector[None, :], k)
        return [int(i) for i in ids[0] if i >= 0]

    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        return await asyncio.to_thread(self._vectors.reconstruct, list(passage_ids))

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        return await self._store.document_frequencies(terms)

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        return await self._store.fts_passages(fts_query(list(terms)), k) if terms else []

    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]:
        return await self._store.fts_titles(fts_query(list(terms)), k) if terms else []

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]:
        return await self._store.passages(passage_ids)

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]:
        return await self._store.articles_by_rows(rows)

    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        return await self._store.sentences_of(rows)

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        return {}  # copies are grouped by the storage boundary's backends (index/_storage)
