"""`archivebot migrate --from-data-dir DIR`: copy an embedded archive into PostgreSQL.

The copy itself is storage's (`index.storage.postgres.migrate`); the syndicated copies are grouped again by
the indexer's algorithm (`update_copy_groups`), which is handed to it and runs inside the copy's one
transaction, as an index run's grouping runs inside its commit. psycopg is imported only when a migration
is asked for, not by every process that opens an archive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from index._settings import Settings
from index.indexing.copies import update_copy_groups

if TYPE_CHECKING:
    from index.storage.postgres.migrate import MigrationSummary
    from index.storage.postgres.storage import PostgresStorage


async def migrate_archive(
    settings: Settings,
    source_dir: Path,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationSummary:
    """Copy the embedded archive in `source_dir` into the PostgreSQL database `settings.database_url` names."""
    from index.storage.postgres import migrate

    return await migrate.migrate_archive(
        settings, source_dir, group_copies=update_copy_groups, replace=replace, progress=progress
    )


async def migrate_from_data_dir(
    storage: PostgresStorage,
    data_dir: Path,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationSummary:
    """Copy the embedded archive in `data_dir` into `storage` (refused when it holds articles, unless `replace`)."""
    from index.storage.postgres import migrate

    return await migrate.migrate_from_data_dir(
        storage, data_dir, group_copies=update_copy_groups, replace=replace, progress=progress
    )
