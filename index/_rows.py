"""The rows storage hands out and takes in, whatever the backend (plain frozen dataclasses).

Vectors travel between the indexer and storage as float16 bytes (`vector_to_blob`): half the memory of
float32 arrays while an index run holds them, and the form the embedded backend stores them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


@dataclass(frozen=True)
class StoredArticleState:
    """What the indexer needs to know about a stored article to decide whether it changed."""

    row: int
    article_id: str
    path: str
    fingerprint: str
    content_hash: str


@dataclass(frozen=True)
class NewSentence:
    ordinal: int
    start: int
    end: int
    text_hash: str
    vector: np.ndarray


@dataclass(frozen=True)
class NewPassage:
    ordinal: int
    start: int
    end: int
    first_sentence: int
    last_sentence: int
    text: str


@dataclass(frozen=True)
class PassageRow:
    passage_id: int
    article_row: int
    start: int
    end: int
    first_sentence: int
    last_sentence: int


@dataclass(frozen=True)
class SentenceRow:
    sentence_id: int
    article_row: int
    ordinal: int
    start: int
    end: int
    vector: np.ndarray


@dataclass(frozen=True)
class ArticleRow:
    row: int
    article_id: str
    location: str
    path: str
    title: str
    title_derived: bool
    source: str | None
    published: str | None
    dateline: str | None
    byline: str | None
    url: str | None
    body: str
    content_hash: str
    indexed_at: str
    body_hash: str = ""
