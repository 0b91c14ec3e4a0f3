"""The embedded backend's tables and queries for syndicated copies (the detection itself: `index._copies`).

`copy_keys` holds each keyed article's LSH band keys (one row with a NULL key marks an article without words
as keyed), `copy_pairs` the confirmed copies, `copy_groups` each grouped article's group (named by its first
row). All three follow their articles out (ON DELETE CASCADE), so a changed or deleted article leaves no trace.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._copies import CopyRef
from ._sqlite_schema import Connected, chunks, marks

COPIES_SCHEMA = """
CREATE TABLE IF NOT EXISTS copy_keys (
    article_row INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    band_key INTEGER
);
CREATE INDEX IF NOT EXISTS copy_keys_key ON copy_keys(band_key);
CREATE INDEX IF NOT EXISTS copy_keys_article ON copy_keys(article_row);
CREATE TABLE IF NOT EXISTS copy_pairs (
    first_row INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    second_row INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    jaccard REAL NOT NULL,
    PRIMARY KEY (first_row, second_row)
);
CREATE INDEX IF NOT EXISTS copy_pairs_second ON copy_pairs(second_row);
CREATE TABLE IF NOT EXISTS copy_groups (
    article_row INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    group_row INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS copy_groups_group ON copy_groups(group_row);
"""


class CopyQueries(Connected):
    """`index._copies.CopyStore` (inside an index write) and the reader's `copies_of`."""

    async def articles_without_band_keys(self, limit: int) -> list[tuple[int, str]]:
        rows = await self._rows(
            "SELECT a.id, a.body FROM articles a"
            " WHERE NOT EXISTS (SELECT 1 FROM copy_keys k WHERE k.article_row = a.id) ORDER BY a.id LIMIT ?",
            (limit,),
        )
        return [(int(row), str(body)) for row, body in rows]

    async def add_band_keys(self, keys: dict[int, list[int]]) -> None:
        marked: list[int | None] = [None]  # keyed, but without words: no key to share
        await self._db.executemany(
            "INSERT INTO copy_keys (article_row, band_key) VALUES (?, ?)",
            [(row, key) for row, row_keys in keys.items() for key in (row_keys or marked)],
        )

    async def band_neighbours(self, rows: Sequence[int]) -> set[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        for chunk in chunks(list(rows)):
            found.update(
                (int(row), int(other))
                for row, other in await self._rows(
                    "SELECT DISTINCT k.article_row, o.article_row FROM copy_keys k"
                    " JOIN copy_keys o ON o.band_key = k.band_key AND o.article_row != k.article_row"
                    f" WHERE k.article_row IN ({marks(chunk)})",
                    chunk,
                )
            )
        return found

    async def bodies(self, rows: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in chunks(list(rows)):
            rows_found = await self._rows(f"SELECT id, body FROM articles WHERE id IN ({marks(chunk)})", chunk)
            found.update((int(row), str(body)) for row, body in rows_found)
        return found

    async def add_copy_pairs(self, pairs: Sequence[tuple[int, int, float]]) -> None:
        await self._db.executemany(
            "INSERT OR IGNORE INTO copy_pairs (first_row, second_row, jaccard) VALUES (?, ?, ?)", list(pairs)
        )

    async def copy_pairs(self) -> list[tuple[int, int]]:
        rows = await self._rows("SELECT first_row, second_row FROM copy_pairs")
        return [(int(first), int(second)) for first, second in rows]

    async def replace_copy_groups(self, groups: Sequence[Sequence[int]]) -> None:
        await self._db.execute("DELETE FROM copy_groups")
        await self._db.executemany(
            "INSERT INTO copy_groups (article_row, group_row) VALUES (?, ?)",
            [(row, group[0]) for group in groups for row in group],
        )

    async def copies_of(self, rows: Sequence[int]) -> dict[int, list[CopyRef]]:
        """Each grouped article's other copies (oldest first), by article row; articles without copies are left out."""
        found: dict[int, list[CopyRef]] = {}
        for chunk in chunks(list(dict.fromkeys(rows))):
            for row, other, article_id, title, source, published in await self._rows(
                "SELECT g.article_row, a.id, a.article_id, a.title, a.source, a.published FROM copy_groups g"
                " JOIN copy_groups o ON o.group_row = g.group_row AND o.article_row != g.article_row"
                " JOIN articles a ON a.id = o.article_row"
                f" WHERE g.article_row IN ({marks(chunk)})"
                " ORDER BY g.article_row, a.published IS NULL, a.published, a.id",
                chunk,
            ):
                found.setdefault(int(row), []).append(CopyRef(int(other), article_id, title, source, published))
        return found
