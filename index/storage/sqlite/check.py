"""The embedded backend's consistency checks (the doctor's findings) and what a repair reads back."""

from __future__ import annotations

from collections.abc import Sequence

from index._models import ParsedArticle
from index.storage.base import FullTextFindings
from index.storage.sqlite.read import ReadQueries
from index.storage.sqlite.schema import chunks, marks


class CheckQueries(ReadQueries):
    async def integrity_problems(self) -> list[str]:
        found = [str(row[0]) for row in await self._rows("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    async def orphan_rows(self) -> int:
        """Passage or sentence rows whose article is gone."""
        return len(await self._rows("PRAGMA foreign_key_check"))

    async def articles_with_bad_vectors(self, dimension: int) -> set[int]:
        rows = await self._rows(
            "SELECT DISTINCT article_row FROM sentences WHERE length(vector) != ?"
            " UNION SELECT id FROM articles WHERE title_vector IS NOT NULL AND length(title_vector) != ?",
            (2 * dimension, 2 * dimension),
        )
        return {int(row[0]) for row in rows}

    async def articles_with_missing_sentences(self) -> set[int]:
        rows = await self._rows(
            "SELECT DISTINCT p.article_row FROM passages p WHERE p.article_row IN (SELECT id FROM articles) AND"
            " (SELECT count(*) FROM sentences s WHERE s.article_row = p.article_row"
            "  AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence) != p.last_sentence - p.first_sentence + 1"
        )
        return {int(row[0]) for row in rows}

    async def full_text(self) -> FullTextFindings:
        passage_ids = set(await self.all_passage_ids())
        expected = {
            pid: (title, text)
            for pid, title, text in await self._rows(
                "SELECT p.id, a.title, substr(a.body, p.start + 1, p.end - p.start) FROM passages p"
                " JOIN articles a ON a.id = p.article_row"
            )
        }
        stored_rows = await self._rows("SELECT rowid, title, text FROM passages_fts")
        stored = {rowid: (title, text) for rowid, title, text in stored_rows}
        titles = dict(await self._rows("SELECT id, title FROM articles"))
        stored_titles = dict(await self._rows("SELECT rowid, title FROM articles_fts"))
        stale_titles = {row for row, title in stored_titles.items() if row in titles and titles[row] != title}
        return FullTextFindings(
            rows=len(stored),
            missing=passage_ids - set(stored),
            orphan=set(stored) - passage_ids,
            stale={pid for pid, row in stored.items() if pid in expected and expected[pid] != row},
            title_problems=len(set(titles) - set(stored_titles))
            + len(set(stored_titles) - set(titles))
            + len(stale_titles),
        )

    async def stored_articles(self, rows: Sequence[int]) -> list[tuple[ParsedArticle, str]]:
        found: list[tuple[ParsedArticle, str]] = []
        for chunk in chunks(list(rows)):
            for values in await self._rows(
                "SELECT article_id, location, path, title, title_derived, source, published, dateline, byline, url,"
                f" body, content_hash, fingerprint FROM articles WHERE id IN ({marks(chunk)}) ORDER BY id",
                chunk,
            ):
                *fields, fingerprint = values
                fields[4] = bool(fields[4])
                found.append((ParsedArticle(*fields), str(fingerprint)))
        return found
