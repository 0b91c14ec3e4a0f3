"""Archive storage behind one boundary (see `base` for the Protocols): `open_storage(settings)` picks the
backend: PostgreSQL + pgvector when `ARCHIVEBOT_DATABASE_URL` is set, else the embedded one (SQLite + FAISS in
`settings.data_dir`)."""

from __future__ import annotations

from index._errors import ConfigurationError
from index._settings import Settings
from index.storage.base import (
    ArchiveCheck,
    ArchiveReader,
    CopyStore,
    FeedbackLog,
    FullTextFindings,
    FullTextRepair,
    IndexSession,
    IndexWrite,
    QuestionLog,
    StatusBoard,
    Storage,
    StorageStats,
    UnfinishedWork,
    VectorRepair,
    VectorSet,
    VectorStaging,
    VectorsUnusableError,
)
from index.storage.common import (
    SCHEMA_VERSION,
    UNFINISHED_BUILD,
    mismatches,
    passage_vector,
    passage_vector_from_blobs,
)

__all__ = [
    "SCHEMA_VERSION",
    "ArchiveCheck",
    "CopyStore",
    "ArchiveReader",
    "FeedbackLog",
    "FullTextFindings",
    "FullTextRepair",
    "IndexSession",
    "IndexWrite",
    "QuestionLog",
    "StatusBoard",
    "Storage",
    "StorageStats",
    "UnfinishedWork",
    "VectorRepair",
    "VectorSet",
    "VectorStaging",
    "UNFINISHED_BUILD",
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

        return await PostgresStorage.from_settings(settings, parsed, create=create)
    if settings.database_read_url:  # Settings.from_env refuses this too; a Settings built in code may not
        raise ConfigurationError("ARCHIVEBOT_DATABASE_READ_URL needs ARCHIVEBOT_DATABASE_URL (the replica's primary)")
    from index.storage.sqlite.storage import SqliteStorage

    return await SqliteStorage.open(settings, create=create)
