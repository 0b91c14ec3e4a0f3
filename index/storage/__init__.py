"""Archive storage behind one boundary (see `base` for the Protocols): `open_storage(settings)` picks the
backend: PostgreSQL + pgvector when `ARCHIVEBOT_DATABASE_URL` is set, else the embedded one (SQLite + FAISS in
`settings.data_dir`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from index._settings import Settings
from index.storage.base import (
    ArchiveCheck,
    ArchiveReader,
    FeedbackLog,
    FullTextFindings,
    FullTextRepair,
    IndexSession,
    IndexWrite,
    QuestionLog,
    Storage,
    StorageStats,
    UnfinishedWork,
    VectorRepair,
    VectorSet,
    VectorStaging,
    VectorsUnusableError,
)
from index.storage.common import SCHEMA_VERSION, mismatches, passage_vector, passage_vector_from_blobs

if TYPE_CHECKING:
    from index.storage.postgres.migrate import MigrationSummary

__all__ = [
    "migrate_archive",
    "SCHEMA_VERSION",
    "ArchiveCheck",
    "ArchiveReader",
    "FeedbackLog",
    "FullTextFindings",
    "FullTextRepair",
    "IndexSession",
    "IndexWrite",
    "QuestionLog",
    "Storage",
    "StorageStats",
    "UnfinishedWork",
    "VectorRepair",
    "VectorSet",
    "VectorStaging",
    "VectorsUnusableError",
    "mismatches",
    "open_storage",
    "passage_vector",
    "passage_vector_from_blobs",
]


async def open_storage(settings: Settings, *, create: bool = True) -> Storage:
    """The archive's storage. `create=False` opens only an existing archive and writes nothing (the doctor):
    `IndexNotBuiltError` when there is none, `IndexCorruptError` when it can't be read."""
    url = settings.database_url
    if url:
        from index.storage.postgres.url import parse_database_url

        parsed = parse_database_url(url)  # a malformed URL is refused before anything connects
        from index.storage.postgres.storage import PostgresStorage

        return await PostgresStorage.open(parsed, create=create)
    from index.storage.sqlite.storage import SqliteStorage

    return await SqliteStorage.open(settings, create=create)


async def migrate_archive(
    settings: Settings,
    source_dir: Path,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationSummary:
    """Copy the embedded archive in `source_dir` into the PostgreSQL database `settings.database_url` names.
    psycopg is imported only here, when a migration is asked for, not by every process that opens an archive."""
    from index.storage.postgres.migrate import migrate_archive as migrate

    return await migrate(settings, source_dir, replace=replace, progress=progress)
