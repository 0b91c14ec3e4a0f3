"""Reading an embedded archive's database files directly, for tests that check what storage wrote.

The engine, the bench and most tests reach storage through `index.storage` (`open_storage`, its readers and
sessions). What is here is what that boundary deliberately does not offer: every row of a table (the
feedback log, a list of all article rows), raw full-text matches, offsets as SQLite computes them. Read-only
`sqlite3` connections, so a test can never change what it checks.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

DATABASE_FILE = "archive.sqlite3"
FEEDBACK_FILE = "feedback.sqlite3"


def sqlite_rows(database: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of one statement over a database file, opened read-only."""
    with closing(sqlite3.connect(database.as_uri() + "?mode=ro", uri=True)) as connection:
        return connection.execute(sql, params).fetchall()


def archive_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return sqlite_rows(Path(data_dir) / DATABASE_FILE, sql, params)


def feedback_rows(data_dir: Path) -> list[dict[str, Any]]:
    """Every vote, oldest first, as a dict of its columns."""
    with closing(sqlite3.connect((Path(data_dir) / FEEDBACK_FILE).as_uri() + "?mode=ro", uri=True)) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM feedback ORDER BY id")]
