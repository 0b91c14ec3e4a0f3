"""The rows storage hands out and takes in, whatever the backend (plain frozen dataclasses): the article,
passage and sentence rows, the filters a question puts on articles (`Filters`), the copies of an article
(`CopyRef`), a recorded question (`AskedQuestion`) and a running reindex's status (`ReindexStatus`). Defined
here, below the storage boundary, so storage never imports from the stages that use them.

Vectors travel between the indexer and storage as float16 bytes (`vector_to_blob`): half the memory of
float32 arrays while an index run holds them, and the form the embedded backend stores them in.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from index._models import Article, ParsedArticle


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
class ArticleRow(Article):
    """A stored article as storage hands it out: the public `Article` plus its row id and body hash."""

    row: int
    body_hash: str = ""


@dataclass(frozen=True)
class Filters:
    """Optional restrictions on what may be quoted or listed (an article's source contains `source`,
    case-insensitively; it was published within `after`..`before`). The engine filters every passage it
    proposes by `allows`; a storage backend that can search within them does so first (`ArchiveReader`)."""

    source: str | None = None
    after: str | None = None  # ISO date, inclusive
    before: str | None = None  # ISO date, inclusive

    def __bool__(self) -> bool:
        return bool(self.source or self.after or self.before)

    def allows(self, article: ArticleRow) -> bool:
        if self.source and self.source.lower() not in (article.source or "").lower():
            return False
        if self.after and (not article.published or article.published < self.after):
            return False
        return not (self.before and (not article.published or article.published > self.before))

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("source", self.source), ("after", self.after), ("before", self.before)) if v}


@dataclass(frozen=True)
class NewArticleRow:
    """A new article as storage inserts it (`IndexWrite.insert_article`): the parsed article, what indexing
    adds to it, and its sentences and passages with one vector per passage."""

    article: ParsedArticle
    fingerprint: str
    body_hash: str
    title_vector: np.ndarray | None
    indexed_at: str
    sentences: Sequence[NewSentence]
    passages: Sequence[NewPassage]
    passage_vectors: np.ndarray


@dataclass(frozen=True)
class CopyRef:
    """Another copy of a quoted or listed article: enough to cite it."""

    row: int
    article_id: str
    title: str
    source: str | None
    date: str | None


NOT_FOUND = "not_found"
THUMBS_DOWN = "thumbs_down"
KINDS = (NOT_FOUND, THUMBS_DOWN)  # why a recorded question is a coverage gap


@dataclass(frozen=True)
class AskedQuestion:
    """One recorded question: what was asked, when (ISO UTC), in which server, and why it is a gap."""

    question: str
    asked_at: str
    guild_id: str | None
    kind: str  # NOT_FOUND | THUMBS_DOWN


STALE_AFTER = 30.0  # seconds without a heartbeat: the reindexing process is gone


@dataclass(frozen=True)
class ReindexStatus:
    """Where a running reindex has got to: `done` of `total` in `phase` ("scan", "embed", "commit", "done")."""

    phase: str
    done: int
    total: int
    started_at: float  # Unix time
    updated_at: float  # Unix time of the latest heartbeat
    host: str
    pid: int

    @property
    def percent(self) -> int | None:
        """How far the current phase is, 0-100 (None before its size is known)."""
        return min(100, self.done * 100 // self.total) if self.total > 0 else None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReindexStatus | None:
        """The status in `text`, or None when it is not one (a torn or foreign file)."""
        try:
            data = json.loads(text)
            return cls(
                phase=str(data["phase"]),
                done=int(data["done"]),
                total=int(data["total"]),
                started_at=float(data["started_at"]),
                updated_at=float(data["updated_at"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def alive(self, now: float | None = None) -> bool:
        """False when the reindexing process is gone: no heartbeat for `STALE_AFTER`, or (on this host) its
        process no longer exists."""
        if (now if now is not None else time.time()) - self.updated_at > STALE_AFTER:
            return False
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True  # it exists, as another user
        return True
