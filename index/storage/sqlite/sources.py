"""The archive's distinct sources, kept while the database is unchanged (`KnownSources`).

A filtered question's `source:` text is matched against every source in Python (`Filters.allows`: contains,
case-insensitively, as Python compares it), so the reader needs the list of sources for each such question.
Reading it is an index scan of `articles_source`: 8-9 ms of a filtered question's 25 ms p50 at 1M passages
(`python -m bench.filtered WORK_DIR --embedded`, bench/HISTORY.md 2026-12-08). The list changes only when
articles are written, so it is kept for the database version it was read in, as `TermFrequencies` keeps
document frequencies: the filtered search went from 27.4-28.2 to 20.4 ms p50 (alternating twice, 2026-12-08
night)."""

from __future__ import annotations

import aiosqlite

from index.storage.sqlite.schema import fetch, fetch_one


class KnownSources:
    """One connection's distinct article sources, re-read when another connection (or this one) has written.
    Its readers take turns (the storage's read lock), so it needs no lock of its own."""

    def __init__(self) -> None:
        self._version: tuple[int, int] | None = None
        self._sources: tuple[str, ...] = ()

    async def of(self, db: aiosqlite.Connection) -> tuple[str, ...]:
        """The distinct non-null sources in the caller's read transaction."""
        # data_version changes when another connection commits; total_changes() counts this connection's writes.
        version = tuple(await fetch_one(db, "SELECT data_version, total_changes() FROM pragma_data_version"))
        if version != self._version:
            rows = await fetch(db, "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL")
            self._sources = tuple(str(source) for (source,) in rows)
            self._version = (int(version[0]), int(version[1]))
        return self._sources
