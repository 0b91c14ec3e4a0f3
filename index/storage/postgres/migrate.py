"""`archivebot migrate --from-data-dir DIR`: copy an embedded archive (SQLite + FAISS) into PostgreSQL.

Articles, sentences (with their stored float16 vectors), passages (with their ids), feedback and the
archive's meta are copied; passage vectors are derived from the copied sentence vectors exactly as the
indexer derives them, so nothing is embedded again, and syndicated copies are found again from the bodies.
Everything is written in one transaction under the reindex lock: a failed or interrupted copy leaves the
target as it was. The copy groups are found by the caller's `group_copies` (the indexer's algorithm, passed
in by `index.operations.migrate`), run on the copy's own transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index._errors import ArchiveError, ConfigurationError, IndexNotBuiltError
from index._models import ParsedArticle
from index._rows import NewArticleRow, NewPassage, NewSentence, blob_to_vector
from index._settings import Settings
from index.storage.base import CopyStore
from index.storage.common import passage_vector
from index.storage.postgres.session import PostgresSession
from index.storage.postgres.storage import PostgresStorage
from index.storage.sql import META

DATABASE_FILE = "archive.sqlite3"
FEEDBACK_FILE = "feedback.sqlite3"
COPIED_META = ("model", "dimension", "parser_version", "roots", "last_indexed")
BATCH_ARTICLES = 200

GroupCopies = Callable[[CopyStore], Awaitable[int]]


@dataclass(frozen=True)
class MigrationSummary:
    articles: int
    passages: int
    sentences: int
    feedback: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "passages": self.passages,
            "sentences": self.sentences,
            "feedback": self.feedback,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class _Article:
    row: NewArticleRow
    passage_ids: list[int]  # kept: FAISS ids were passage ids, and feedback names articles, not passages


def _open_sqlite(path: Path) -> sqlite3.Connection:
    if not path.is_file() or not path.stat().st_size:
        raise IndexNotBuiltError(f"no embedded archive in {path.parent}: nothing to migrate")
    try:
        # Read in worker threads, one at a time (the event loop never blocks on it).
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        connection.execute("SELECT 1 FROM meta LIMIT 1")
    except sqlite3.DatabaseError as error:
        raise ArchiveError(f"{path} is not an Archivebot database ({error})") from None
    return connection


def _articles(connection: sqlite3.Connection) -> Iterator[list[_Article]]:
    """The embedded archive's articles with their rows, a batch at a time (in one read transaction)."""
    articles = connection.execute(
        "SELECT id, article_id, location, path, title, title_derived, source, published, dateline, byline, url,"
        " body, content_hash, fingerprint, body_hash, title_vector, indexed_at FROM articles ORDER BY id"
    )
    while batch := articles.fetchmany(BATCH_ARTICLES):
        rows = [row[0] for row in batch]
        marks = ",".join("?" * len(rows))
        sentences: dict[int, list[NewSentence]] = {}
        for row, ordinal, start, end, text_hash, vector in connection.execute(
            f"SELECT article_row, ordinal, start, end, text_hash, vector FROM sentences"
            f" WHERE article_row IN ({marks}) ORDER BY article_row, ordinal",
            rows,
        ):
            sentences.setdefault(row, []).append(NewSentence(ordinal, start, end, text_hash, blob_to_vector(vector)))
        bodies = {row[0]: row[11] for row in batch}
        passages: dict[int, list[tuple[int, NewPassage]]] = {}
        for pid, row, ordinal, start, end, first, last in connection.execute(
            f"SELECT id, article_row, ordinal, start, end, first_sentence, last_sentence FROM passages"
            f" WHERE article_row IN ({marks}) ORDER BY article_row, ordinal",
            rows,
        ):
            text = bodies[row][start:end]
            passages.setdefault(row, []).append((pid, NewPassage(ordinal, start, end, first, last, text)))
        yield [_article(row, sentences.get(row[0], []), passages.get(row[0], [])) for row in batch]


def _article(row: tuple[Any, ...], sentences: list[NewSentence], passages: list[tuple[int, NewPassage]]) -> _Article:
    (_, article_id, location, path, title, derived, source, published, dateline, byline, url, body,
     content_hash, fingerprint, body_hash, title_blob, indexed_at) = row  # fmt: skip
    parsed = ParsedArticle(
        article_id, location, path, title, bool(derived), source, published, dateline, byline, url, body, content_hash
    )
    title_vector = blob_to_vector(title_blob) if title_blob is not None else None
    vectors = [
        passage_vector([s.vector for s in sentences[p.first_sentence : p.last_sentence + 1]], title_vector)
        for _, p in passages
    ]
    empty = np.zeros((0, int(len(title_vector) if title_vector is not None else 0)))
    new = NewArticleRow(
        parsed,
        fingerprint=fingerprint,
        body_hash=body_hash,
        title_vector=title_vector,
        indexed_at=indexed_at,
        sentences=sentences,
        passages=[passage for _, passage in passages],
        passage_vectors=np.stack(vectors) if vectors else empty,
    )
    return _Article(new, [pid for pid, _ in passages])


def _feedback(path: Path) -> list[tuple[Any, ...]]:
    if not path.is_file() or not path.stat().st_size:
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT created_at, user_id, guild_id, question, article_ids, helpful, answer_key FROM feedback ORDER BY id"
        ).fetchall()
    except sqlite3.OperationalError:  # an empty file: no feedback table yet
        return []
    finally:
        connection.close()


async def migrate_archive(
    settings: Settings,
    source_dir: Path,
    *,
    group_copies: GroupCopies,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationSummary:
    """`archivebot migrate --from-data-dir DIR`: copy the embedded archive in `source_dir` into the database
    `ARCHIVEBOT_DATABASE_URL` names (see `migrate_from_data_dir`)."""
    url = settings.database_url
    if not url:
        raise ConfigurationError("set ARCHIVEBOT_DATABASE_URL to the PostgreSQL database to copy the archive into")
    if not Path(source_dir).is_dir():
        raise ArchiveError(f"no such data directory: {source_dir}")
    storage = await PostgresStorage.open(url)
    try:
        return await migrate_from_data_dir(
            storage, Path(source_dir), group_copies=group_copies, replace=replace, progress=progress
        )
    finally:
        await storage.close()


async def migrate_from_data_dir(
    storage: PostgresStorage,
    data_dir: Path,
    *,
    group_copies: GroupCopies,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationSummary:
    """Copy the embedded archive in `data_dir` into `storage` (see the module docstring). Refuses a target
    that already holds articles unless `replace` (then its articles are replaced in the same transaction)."""
    started = asyncio.get_running_loop().time()
    source = await asyncio.to_thread(_open_sqlite, Path(data_dir) / DATABASE_FILE)
    try:
        meta = dict(await asyncio.to_thread(lambda: source.execute(META).fetchall()))
        if "generation" not in meta or "dimension" not in meta:
            raise IndexNotBuiltError(f"the archive in {data_dir} was never indexed: nothing to migrate")
        total = int((await asyncio.to_thread(source.execute, "SELECT count(*) FROM articles")).fetchone()[0])
        async with storage.index_session() as session:
            return await _copy(session, source, meta, total, Path(data_dir), replace, progress, started, group_copies)
    finally:
        source.close()


async def _copy(
    session: PostgresSession,
    source: sqlite3.Connection,
    meta: dict[str, str],
    total: int,
    data_dir: Path,
    replace: bool,
    progress: Callable[[int, int], None] | None,
    started: float,
    group_copies: GroupCopies,
) -> MigrationSummary:
    existing = await session.article_states()
    if existing and not replace:
        raise ArchiveError(
            f"the target database already holds {len(existing)} articles: pass --replace to overwrite them"
        )
    counts = {"articles": 0, "passages": 0, "sentences": 0}
    session.meta = {}  # copied as a first build: the vector column is typed and its index built once, at the end
    async with session.write() as write:
        await write.delete_everything()
        batches = _articles(source)
        while batch := await asyncio.to_thread(next, batches, None):
            for item in batch:
                await write.insert_article(item.row, passage_ids=item.passage_ids)
                counts["articles"] += 1
                counts["passages"] += len(item.row.passages)
                counts["sentences"] += len(item.row.sentences)
            if progress is not None:
                progress(counts["articles"], total)
        feedback = await asyncio.to_thread(_feedback, data_dir / FEEDBACK_FILE)
        await write.insert_feedback(feedback)
        await write.advance_passage_ids()
        await group_copies(write.copies())  # syndicated copies found again from the copied bodies (no embedding)
        await write.commit_vectors(model=meta["model"], dimension=int(meta["dimension"]), factory="")
        await write.set_meta(
            {key: meta[key] for key in COPIED_META if key in meta} | {"migrated_from": str(Path(data_dir).resolve())}
        )
    return MigrationSummary(
        counts["articles"],
        counts["passages"],
        counts["sentences"],
        len(feedback),
        asyncio.get_running_loop().time() - started,
    )
