"""The storage boundary: what the engine, the indexer and the doctor may ask of an archive's storage.

A backend (embedded SQLite + FAISS today, PostgreSQL + pgvector next) implements these Protocols; nothing
outside `index/storage/` runs a query or knows a file name. Four roles:

- `ArchiveReader`: one consistent read snapshot for a question (rows and vectors of the same commit);
- `IndexSession`: the one writer, held under the exclusive reindex lock (`IndexBusyError` when another
  process holds it). It hands out `IndexWrite`s: each is one atomic commit (rows, full text and vectors
  switch together; readers see an article's old rows or its new ones). An index run may commit several
  in a row (bounded chunks), each leaving a consistent archive;
- `ArchiveCheck`: the doctor's read snapshot with its check primitives (repairs go through an `IndexWrite`);
- `Storage`: opens the three above, plus stats, feedback, the question log and the reindex status board.

Also here: `CopyStore`, the copy tables an `IndexWrite` exposes for the indexer's copy grouping (run inside
the write's transaction), and `StatusBoard`. The rows and values they take and give are in `index._rows`:
storage imports nothing from the stages above it (`tests/test_layers.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from index._models import ParsedArticle
from index._rows import (
    ArticleRow,
    AskedQuestion,
    CopyRef,
    Filters,
    NewArticleRow,
    PassageRow,
    ReindexStatus,
    SentenceRow,
    StoredArticleState,
)


class ArchiveReader(Protocol):
    """One read snapshot: every answer comes from rows and vectors of the same commit."""

    meta: dict[str, str]  # the snapshot's meta (model, dimension, generation, index_factory, ...)

    async def nearest_passages(self, vector: np.ndarray, k: int, within: Filters | None = None) -> list[int]:
        """Passage ids, best first (approximate nearest neighbours by cosine). `within`: a backend that can
        search inside the filters' articles returns the nearest `k` of those (PostgreSQL; the embedded backend
        when they allow at most `common.WITHIN_LIMIT` passages); otherwise the nearest `k * FILTERED_WIDENING`
        of all. The caller filters either way."""
        ...

    async def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored passage vectors (unknown ids are left out)."""
        ...

    async def document_frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many passages contain each term, and how many passages there are."""
        ...

    async def lexical_passages(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(passage id, score), higher is better: a full-text OR-search of the terms over title and text."""
        ...

    async def keeps_common_terms(self) -> bool:
        """True when the full-text search costs little for a word found in many passages at any size (a top-k
        that skips the passages that cannot rank: the embedded backend's tantivy index, PostgreSQL's BM25 paths;
        not FTS5's bm25(), which scores every match): the engine then searches every term instead of leaving the
        very common ones out (`answering.lexical.lexical_terms`)."""
        ...

    async def lexical_titles(self, terms: Sequence[str], k: int) -> list[tuple[str, float]]:
        """(article_id, score), higher is better: a full-text OR-search of the terms over titles."""
        ...

    async def passages(self, passage_ids: Sequence[int]) -> dict[int, PassageRow]: ...

    async def articles_by_rows(self, rows: Sequence[int]) -> dict[int, ArticleRow]: ...

    async def sentences_of(self, rows: Sequence[int]) -> dict[int, list[SentenceRow]]:
        """Each article's sentences (with their vectors) in order, by article row."""
        ...

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        """Other copies (syndicated duplicates) of these articles, by article row."""
        ...

    async def article(self, article_id: str) -> ArticleRow | None: ...

    async def articles_by_title(self, text: str, limit: int) -> list[ArticleRow]:
        """Titles containing `text` (case-insensitive), exact matches first, then shortest; empty text: the
        latest articles (by publication date, then the most recently indexed)."""
        ...


class VectorStaging(Protocol):
    """Vectors an unfinished index run embedded, by text hash, kept across a crash (cleared when done)."""

    async def get(self, hashes: Sequence[str]) -> dict[str, bytes]: ...

    async def put(self, vectors: dict[str, bytes]) -> None: ...

    async def clear(self) -> None: ...


@dataclass(frozen=True)
class FullTextRepair:
    passages_added: int
    passages_removed: int
    titles_added: int
    titles_removed: int


@dataclass(frozen=True)
class VectorRepair:
    """What `IndexWrite.repair_vectors` did: a rebuild (of `rebuilt` passages) or a patch."""

    rebuilt: int | None
    removed: int = 0
    added: int = 0
    written: str = ""  # what now holds the vectors (a file name)
    vectors: int = 0  # how many it holds


class CopyStore(Protocol):
    """What a storage backend keeps for copy detection, inside one index write (`IndexWrite.copies`).
    Everything is by content: a body hash (`articles.body_hash`), never an article row."""

    async def drop_contents_without_articles(self) -> None:
        """Forget the keys, pairs and group of every body hash no article holds any more."""
        ...

    async def contents_without_band_keys(self, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` (body hash, body of one article holding it) of the contents not keyed yet."""
        ...

    async def add_band_keys(self, keys: dict[str, list[int]]) -> None:
        """Store each content's band keys (an empty list marks a content without words as keyed)."""
        ...

    async def band_neighbours(self, hashes: Sequence[str]) -> set[tuple[str, str]]:
        """(body hash, other body hash) for every other content sharing a band key with one of `hashes`."""
        ...

    async def bodies(self, hashes: Sequence[str]) -> dict[str, str]:
        """One article's body for each of the body hashes."""
        ...

    async def add_copy_pairs(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        """Store confirmed content pairs (smaller hash first) with their Jaccard similarity."""
        ...

    async def copy_pairs(self) -> list[tuple[str, str]]: ...

    async def shared_contents(self) -> list[str]:
        """The body hashes, keyed with words, that two or more articles hold."""
        ...

    async def replace_copy_groups(self, groups: Sequence[Sequence[str]]) -> None:
        """The groups of contents from now on (each sorted; its first hash names it); an article whose body
        hash is in none has no copies."""
        ...


class IndexWrite(Protocol):
    """One atomic commit. Changes made through it become visible together when its context exits cleanly,
    and not at all when it raises (or the process dies)."""

    async def update_fingerprints(self, fingerprints: dict[int, str]) -> None: ...

    async def delete_articles(self, rows: Sequence[int]) -> None:
        """Delete articles with their passages, sentences, full-text rows and vectors."""
        ...

    async def insert_article(self, new: NewArticleRow) -> list[int]:
        """Insert one article (`new.passage_vectors` holds one row per passage). Returns the new passage ids."""
        ...

    async def set_meta(self, values: dict[str, Any]) -> None: ...

    def copies(self) -> CopyStore:
        """The syndicated-copy tables inside this write's transaction: the indexer brings the groups in line
        with the rows as changed through this write (`index.indexing.copies.update_copy_groups`)."""
        ...

    async def commit_vectors(
        self, *, model: str, dimension: int, factory: str, rebuild: bool = False, final: bool = True
    ) -> None:
        """Make the vector side agree with the rows changed through this write (all of them when `rebuild`)
        and record model, dimension, schema version and vector generation in meta. Called once, last.
        `final` is false for a run's commits before its last: a backend may leave building its search
        indexes to the last commit of a first build (`common.UNFINISHED_BUILD`)."""
        ...

    async def commit_full_text(self) -> None:
        """Bring a full-text index kept outside the database (embedded: the tantivy generation) in line with
        this write's full-text rows, recorded in this transaction. The write does it as it ends anyway; the
        indexer calls it first so a crash test can stop a run just after it."""
        ...

    async def delete_orphan_rows(self) -> int:
        """Delete passages and sentences of no article; returns how many."""
        ...

    async def repair_full_text(self, stale: set[int]) -> FullTextRepair:
        """Make the full-text rows match the passages and titles (rewriting the `stale` passages' rows)."""
        ...

    async def repair_vectors(self, wrong: set[int], unusable: bool) -> VectorRepair | None:
        """Make the vectors agree with the passages, recomputing the `wrong` ones from stored sentence vectors
        (everything when the vector side is `unusable`); None when nothing had to change."""
        ...


class IndexSession(Protocol):
    """The one writer of an archive, for as long as its context is open (the exclusive reindex lock)."""

    meta: dict[str, str]  # as the session began

    async def article_states(self) -> list[StoredArticleState]: ...

    async def vectors_by_text_hash(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """Stored sentence vectors (float16 bytes) for the texts already embedded, by text hash."""
        ...

    async def title_vectors(self, article_ids: Sequence[str]) -> dict[str, bytes]:
        """Stored title vectors of these articles, by title."""
        ...

    async def stored_articles(self, rows: Sequence[int]) -> list[tuple[ParsedArticle, str]]:
        """Stored articles as parsed articles with their file fingerprints (to embed them again)."""
        ...

    def staging(self, model: str) -> VectorStaging: ...

    def write(self) -> AbstractAsyncContextManager[IndexWrite]: ...


@dataclass(frozen=True)
class FullTextFindings:
    rows: int  # full-text rows of passages
    missing: set[int]  # passage ids without a row
    orphan: set[int]  # rows of no passage
    stale: set[int]  # rows holding other text than their passage
    title_problems: int  # title rows missing, orphaned or stale
    search_index: str = ""  # what is wrong with a separate passage search index (embedded: tantivy), if anything
    search_note: str = ""  # which passage search answers questions (embedded: FTS5 or tantivy, by size)


@dataclass(frozen=True)
class UnfinishedWork:
    vector_files: int  # unfinished vector files of an interrupted run
    staged_texts: int  # texts embedded by an unfinished run, kept for the next one
    staged_in: str = ""  # where they are kept (a file name)


class VectorSet(Protocol):
    """The stored passage vectors of a snapshot, as the doctor checks them."""

    @property
    def dimension(self) -> int: ...

    @property
    def size(self) -> int: ...

    def ids(self) -> np.ndarray: ...

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]: ...


class VectorsUnusableError(Exception):
    """The snapshot's vectors can't be read (the message says why)."""


class ArchiveCheck(Protocol):
    """The doctor's read snapshot."""

    meta: dict[str, str]
    vectors_name: str  # how the vectors of this snapshot are named in a report (a file name)

    async def counts(self) -> dict[str, int]: ...

    async def passage_ids(self) -> set[int]: ...

    async def integrity_problems(self) -> list[str]:
        """The database's own integrity check: empty when it passes."""
        ...

    async def orphan_rows(self) -> int: ...

    async def articles_with_bad_vectors(self, dimension: int) -> set[int]: ...

    async def articles_with_missing_sentences(self) -> set[int]: ...

    async def full_text(self) -> FullTextFindings: ...

    async def vectors(self) -> VectorSet:
        """The vectors of this snapshot; raises `VectorsUnusableError` when they can't be read."""
        ...

    def passage_vector_sources(self) -> AsyncIterator[tuple[int, list[bytes], bytes | None]]:
        """Every passage in id order: its id, its sentences' stored vectors and its title's."""
        ...

    async def unfinished_work(self) -> UnfinishedWork: ...


class StatusBoard(Protocol):
    """Where the status of a running reindex is kept for the other processes (`Storage.status_board()`)."""

    async def publish(self, status: ReindexStatus) -> None: ...

    async def clear(self, pid: int, host: str) -> None:
        """Remove the status if it is this writer's."""
        ...

    async def read(self) -> ReindexStatus | None:
        """The published status, if any (alive or not)."""
        ...


class QuestionLog(Protocol):
    """Recorded questions (declined, or answered with 👎) for `archivebot gaps`: text, time, server; no user."""

    async def record_question(self, entry: AskedQuestion, answer_key: str | None = None) -> None:
        """Store one question; a second 👎 with the same `answer_key` is ignored."""
        ...

    async def questions_since(self, asked_at: str | None) -> list[AskedQuestion]:
        """The questions asked at or after `asked_at` (ISO; all for None), oldest first."""
        ...

    async def purge_questions(self, before: str) -> int:
        """Delete the questions asked before `before` (ISO UTC); returns how many."""
        ...


class FeedbackLog(Protocol):
    async def record(
        self,
        *,
        answer_key: str,
        user_id: str,
        guild_id: str | None,
        question: str,
        article_ids: Sequence[str],
        helpful: bool,
    ) -> None: ...

    async def counts(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class StorageStats:
    counts: dict[str, int]  # articles, passages, sentences
    meta: dict[str, str]
    database_bytes: int
    vector_bytes: int
    search_index_bytes: int = 0  # a passage search index kept beside the database (embedded: tantivy)


class Storage(Protocol):
    """An archive's storage, opened by `open_storage(settings)`."""

    location: str  # where it lives, for reports (a directory; a database URL without its password)

    @property
    def meta(self) -> dict[str, str]:
        """The meta of the latest snapshot seen (refreshed by readers and commits)."""
        ...

    async def refresh_meta(self) -> dict[str, str]: ...

    async def close(self) -> None: ...

    def reader(self) -> AbstractAsyncContextManager[ArchiveReader]: ...

    async def warm_up(self) -> None:
        """Load what the first question would otherwise load (the vector index)."""
        ...

    def index_session(self) -> AbstractAsyncContextManager[IndexSession]:
        """The exclusive writer; raises `IndexBusyError` when another one is open (here or elsewhere)."""
        ...

    def check(self) -> AbstractAsyncContextManager[ArchiveCheck]:
        """A read snapshot for the doctor; raises `IndexCorruptError` when the database can't be read."""
        ...

    async def stats(self) -> StorageStats: ...

    async def feedback(self) -> FeedbackLog: ...

    async def questions(self) -> QuestionLog: ...

    def status_board(self) -> StatusBoard:
        """Where a running reindex publishes its progress for every process sharing this storage."""
        ...
