"""The PostgreSQL archive's syndicated copies (`index._copies.CopyStore`, the reader's `copies_of`) and its
question log (`QuestionLog`, for `archivebot gaps`): the same tables (in `_postgres_schema`) and rules as the
embedded backend's (`_sqlite_copies.py`, `_sqlite_questions.py`), shared here by every process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._copies import CopyRef
from .._gaps import AskedQuestion
from ._postgres_connect import Connection


async def _fetch(connection: Connection, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    cursor = await connection.execute(query, params)
    return await cursor.fetchall()


class PostgresCopies:
    """`CopyStore` on the write's connection (inside its transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def articles_without_band_keys(self, limit: int) -> list[tuple[int, str]]:
        rows = await _fetch(
            self._connection,
            "SELECT a.id, a.body FROM articles a"
            " WHERE NOT EXISTS (SELECT 1 FROM copy_keys k WHERE k.article_row = a.id) ORDER BY a.id LIMIT %s",
            (limit,),
        )
        return [(int(row), str(body)) for row, body in rows]

    async def add_band_keys(self, keys: dict[int, list[int]]) -> None:
        marked: list[int | None] = [None]  # keyed, but without words: no key to share
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO copy_keys (article_row, band_key) VALUES (%s, %s)",
                [(row, key) for row, row_keys in keys.items() for key in (row_keys or marked)],
            )

    async def band_neighbours(self, rows: Sequence[int]) -> set[tuple[int, int]]:
        found = await _fetch(
            self._connection,
            "SELECT DISTINCT k.article_row, o.article_row FROM copy_keys k"
            " JOIN copy_keys o ON o.band_key = k.band_key AND o.article_row <> k.article_row"
            " WHERE k.article_row = ANY(%s::bigint[])",
            (list(rows),),
        )
        return {(int(row), int(other)) for row, other in found}

    async def bodies(self, rows: Sequence[int]) -> dict[int, str]:
        found = await _fetch(
            self._connection, "SELECT id, body FROM articles WHERE id = ANY(%s::bigint[])", (list(rows),)
        )
        return {int(row): str(body) for row, body in found}

    async def add_copy_pairs(self, pairs: Sequence[tuple[int, int, float]]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO copy_pairs (first_row, second_row, jaccard) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                list(pairs),
            )

    async def copy_pairs(self) -> list[tuple[int, int]]:
        rows = await _fetch(self._connection, "SELECT first_row, second_row FROM copy_pairs")
        return [(int(first), int(second)) for first, second in rows]

    async def replace_copy_groups(self, groups: Sequence[Sequence[int]]) -> None:
        await self._connection.execute("DELETE FROM copy_groups")
        async with self._connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO copy_groups (article_row, group_row) VALUES (%s, %s)",
                [(row, group[0]) for group in groups for row in group],
            )


async def copies_of(connection: Connection, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
    """Each grouped article's other copies (oldest first), by article row; articles without copies left out."""
    found: dict[int, list[CopyRef]] = {}
    if not rows:
        return found
    for row, other, article_id, title, source, published in await _fetch(
        connection,
        "SELECT g.article_row, a.id, a.article_id, a.title, a.source, a.published FROM copy_groups g"
        " JOIN copy_groups o ON o.group_row = g.group_row AND o.article_row <> g.article_row"
        " JOIN articles a ON a.id = o.article_row WHERE g.article_row = ANY(%s::bigint[])"
        " ORDER BY g.article_row, a.published IS NULL, a.published, a.id",
        (list(dict.fromkeys(rows)),),
    ):
        found.setdefault(int(row), []).append(CopyRef(int(other), article_id, title, source, published))
    return found


class PostgresQuestions:
    """The `QuestionLog` in the shared database: gaps seen by every bot process."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage  # PostgresStorage (its pooled connections)

    async def record_question(self, entry: AskedQuestion, answer_key: str | None = None) -> None:
        """Store one question; a second 👎 on the same answer is ignored."""
        async with self._storage._connection() as connection:
            await connection.execute(
                "INSERT INTO questions (asked_at, guild_id, question, kind, answer_key) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (answer_key) DO NOTHING",
                (entry.asked_at, entry.guild_id, entry.question, entry.kind, answer_key),
            )

    async def questions_since(self, asked_at: str | None) -> list[AskedQuestion]:
        async with self._storage._connection() as connection:
            rows = await _fetch(
                connection,
                "SELECT question, asked_at, guild_id, kind FROM questions WHERE asked_at >= %s ORDER BY asked_at, id",
                (asked_at or "",),
            )
        return [AskedQuestion(question, when, guild, kind) for question, when, guild, kind in rows]

    async def purge_questions(self, before: str) -> int:
        async with self._storage._connection() as connection:
            cursor = await connection.execute("DELETE FROM questions WHERE asked_at < %s", (before,))
            return max(int(cursor.rowcount), 0)
