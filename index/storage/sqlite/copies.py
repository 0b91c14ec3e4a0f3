"""The embedded backend's tables and queries for syndicated copies (the detection itself: `index.indexing.copies`).

Everything is keyed by content, the articles' `body_hash`: `copy_content_keys` holds each keyed content's LSH
band keys (one row with a NULL key marks a content without words as keyed), `copy_content_pairs` the confirmed
near-copies, `copy_content_groups` each grouped content's group (named by its first hash). Nothing cascades
from a hash, so each grouping first drops what belongs to contents no article holds any more: a changed or
deleted article leaves no trace. The tables are created with the rest of the schema (`schema.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from index._rows import CopyRef
from index.storage import sql
from index.storage.common import copies_by_row
from index.storage.sqlite.schema import chunks, fetch, marks


class SqliteCopies:
    """The `CopyStore`, on the write's connection (inside its transaction)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def drop_contents_without_articles(self) -> None:
        for statement in sql.COPY_CONTENTS_WITHOUT_ARTICLES:
            await self._db.execute(statement)

    async def contents_without_band_keys(self, limit: int) -> list[tuple[str, str]]:
        rows = await fetch(self._db, sql.CONTENTS_WITHOUT_BAND_KEYS, (limit,))
        return [(str(content), str(body)) for content, body in rows]

    async def add_band_keys(self, keys: dict[str, list[int]]) -> None:
        marked: list[int | None] = [None]  # keyed, but without words: no key to share
        await self._db.executemany(
            sql.ADD_BAND_KEY,
            [(content, key) for content, content_keys in keys.items() for key in (content_keys or marked)],
        )

    async def band_neighbours(self, hashes: Sequence[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for chunk in chunks(list(hashes)):
            found.update(
                (str(content), str(other))
                for content, other in await fetch(
                    self._db,
                    "SELECT DISTINCT k.body_hash, o.body_hash FROM copy_content_keys k"
                    " JOIN copy_content_keys o ON o.band_key = k.band_key AND o.body_hash != k.body_hash"
                    f" WHERE k.body_hash IN ({marks(chunk)})",
                    chunk,
                )
            )
        return found

    async def bodies(self, hashes: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(list(hashes)):
            rows = await fetch(
                self._db,
                "SELECT body_hash, body FROM articles WHERE id IN"
                f" (SELECT min(id) FROM articles WHERE body_hash IN ({marks(chunk)}) GROUP BY body_hash)",
                chunk,
            )
            found.update((str(content), str(body)) for content, body in rows)
        return found

    async def add_copy_pairs(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        await self._db.executemany(
            "INSERT OR IGNORE INTO copy_content_pairs (first_hash, second_hash, jaccard) VALUES (?, ?, ?)",
            list(pairs),
        )

    async def copy_pairs(self) -> list[tuple[str, str]]:
        rows = await fetch(self._db, sql.COPY_PAIRS)
        return [(str(first), str(second)) for first, second in rows]

    async def shared_contents(self) -> list[str]:
        rows = await fetch(self._db, sql.SHARED_CONTENTS)
        return [str(content) for (content,) in rows]

    async def replace_copy_groups(self, groups: Sequence[Sequence[str]]) -> None:
        await self._db.execute(sql.DELETE_COPY_GROUPS)
        await self._db.executemany(
            sql.ADD_COPY_GROUP,
            [(content, group[0]) for group in groups for content in group],
        )


async def copies_of(db: aiosqlite.Connection, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
    """Each grouped article's other copies (oldest first), by article row; articles without copies are left out."""
    group_of_row: dict[int, str] = {}
    for chunk in chunks(list(dict.fromkeys(rows))):
        group_of_row.update(
            (int(row), str(group))
            for row, group in await fetch(
                db,
                "SELECT a.id, g.group_hash FROM articles a JOIN copy_content_groups g ON g.body_hash = a.body_hash"
                f" WHERE a.id IN ({marks(chunk)})",
                chunk,
            )
        )
    members: list[tuple[str, CopyRef]] = []
    for groups in chunks(sorted(set(group_of_row.values()))):
        members += [
            (str(group), CopyRef(int(other), article_id, title, source, published))
            for group, other, article_id, title, source, published in await fetch(
                db,
                "SELECT m.group_hash, o.id, o.article_id, o.title, o.source, o.published FROM copy_content_groups m"
                " JOIN articles o ON o.body_hash = m.body_hash"
                f" WHERE m.group_hash IN ({marks(groups)})"
                " ORDER BY o.published IS NULL, o.published, o.id",
                groups,
            )
        ]
    return copies_by_row(group_of_row, members)
