"""The PostgreSQL archive's syndicated copies (the `CopyStore` of `base.py`, the reader's `copies_of`) and its
question log (`QuestionLog`, for `archivebot gaps`): the same tables (in `schema.py`) and rules as the
embedded backend's (`sqlite/copies.py`, `sqlite/feedback.py`), shared here by every process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from index._rows import AskedQuestion, CopyRef
from index.storage.common import copies_by_row
from index.storage.postgres.connect import Connection
from index.storage.sql import (
    ADD_BAND_KEY,
    ADD_COPY_GROUP,
    CONTENTS_WITHOUT_BAND_KEYS,
    COPY_CONTENTS_WITHOUT_ARTICLES,
    COPY_PAIRS,
    DELETE_COPY_GROUPS,
    PURGE_QUESTIONS,
    QUESTIONS_SINCE,
    RECORD_QUESTION,
    SHARED_CONTENTS,
    postgres,
)


async def _fetch(connection: Connection, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    cursor = await connection.execute(query, params)
    return await cursor.fetchall()


class PostgresCopies:
    """`CopyStore` on the write's connection (inside its transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def drop_contents_without_articles(self) -> None:
        for statement in COPY_CONTENTS_WITHOUT_ARTICLES:
            await self._connection.execute(statement)

    async def contents_without_band_keys(self, limit: int) -> list[tuple[str, str]]:
        rows = await _fetch(self._connection, postgres(CONTENTS_WITHOUT_BAND_KEYS), (limit,))
        return [(str(content), str(body)) for content, body in rows]

    async def add_band_keys(self, keys: dict[str, list[int]]) -> None:
        marked: list[int | None] = [None]  # keyed, but without words: no key to share
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                postgres(ADD_BAND_KEY),
                [(content, key) for content, content_keys in keys.items() for key in (content_keys or marked)],
            )

    async def band_neighbours(self, hashes: Sequence[str]) -> set[tuple[str, str]]:
        found = await _fetch(
            self._connection,
            "SELECT DISTINCT k.body_hash, o.body_hash FROM copy_content_keys k"
            " JOIN copy_content_keys o ON o.band_key = k.band_key AND o.body_hash <> k.body_hash"
            " WHERE k.body_hash = ANY(%s::text[])",
            (list(hashes),),
        )
        return {(str(content), str(other)) for content, other in found}

    async def bodies(self, hashes: Sequence[str]) -> dict[str, str]:
        found = await _fetch(
            self._connection,
            "SELECT DISTINCT ON (body_hash) body_hash, body FROM articles WHERE body_hash = ANY(%s::text[])"
            " ORDER BY body_hash, id",
            (list(hashes),),
        )
        return {str(content): str(body) for content, body in found}

    async def add_copy_pairs(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO copy_content_pairs (first_hash, second_hash, jaccard) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                list(pairs),
            )

    async def copy_pairs(self) -> list[tuple[str, str]]:
        rows = await _fetch(self._connection, COPY_PAIRS)
        return [(str(first), str(second)) for first, second in rows]

    async def shared_contents(self) -> list[str]:
        rows = await _fetch(self._connection, SHARED_CONTENTS)
        return [str(content) for (content,) in rows]

    async def replace_copy_groups(self, groups: Sequence[Sequence[str]]) -> None:
        await self._connection.execute(DELETE_COPY_GROUPS)
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                postgres(ADD_COPY_GROUP),
                [(content, group[0]) for group in groups for content in group],
            )


async def copies_of(connection: Connection, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
    """Each grouped article's other copies (oldest first), by article row; articles without copies left out."""
    if not rows:
        return {}
    group_of_row = {
        int(row): str(group)
        for row, group in await _fetch(
            connection,
            "SELECT a.id, g.group_hash FROM articles a JOIN copy_content_groups g ON g.body_hash = a.body_hash"
            " WHERE a.id = ANY(%s::bigint[])",
            (list(dict.fromkeys(rows)),),
        )
    }
    members = [
        (str(group), CopyRef(int(other), article_id, title, source, published))
        for group, other, article_id, title, source, published in await _fetch(
            connection,
            "SELECT m.group_hash, o.id, o.article_id, o.title, o.source, o.published FROM copy_content_groups m"
            " JOIN articles o ON o.body_hash = m.body_hash WHERE m.group_hash = ANY(%s::text[])"
            " ORDER BY o.published IS NULL, o.published, o.id",
            (sorted(set(group_of_row.values())),),
        )
    ]
    return copies_by_row(group_of_row, members)


class PostgresQuestions:
    """The `QuestionLog` in the shared database: gaps seen by every bot process."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage  # PostgresStorage (its pooled connections)

    async def record_question(self, entry: AskedQuestion, answer_key: str | None = None) -> None:
        """Store one question; a second 👎 on the same answer is ignored."""
        async with self._storage._connection() as connection:
            await connection.execute(
                postgres(RECORD_QUESTION),
                (entry.asked_at, entry.guild_id, entry.question, entry.kind, answer_key),
            )

    async def questions_since(self, asked_at: str | None) -> list[AskedQuestion]:
        async with self._storage._connection() as connection:
            rows = await _fetch(
                connection,
                postgres(QUESTIONS_SINCE),
                (asked_at or "",),
            )
        return [AskedQuestion(question, when, guild, kind) for question, when, guild, kind in rows]

    async def purge_questions(self, before: str) -> int:
        async with self._storage._connection() as connection:
            cursor = await connection.execute(postgres(PURGE_QUESTIONS), (before,))
            return max(int(cursor.rowcount), 0)
