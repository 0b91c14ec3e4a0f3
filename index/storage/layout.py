"""The embedded backend's data directory: its file names, their permissions and the reindex lock.

archive.sqlite3        articles, passages, sentences (with their vectors), full text, meta
feedback.sqlite3       👍/👎 votes (its own file, so a long reindex never blocks a vote)
staging.sqlite3        vectors embedded by an unfinished index run (resumed without re-embedding)
vectors.<n>.faiss      the vector index of generation n (the one `meta` names; older ones until no reader needs them)
index.lock             held (flock) by the one process reindexing or repairing
reindex.status.json    the running reindex's progress, for the other processes (`status_file.py`)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from index._errors import IndexBusyError

DATABASE_FILE = "archive.sqlite3"
FEEDBACK_FILE = "feedback.sqlite3"
STAGING_FILE = "staging.sqlite3"
LOCK_FILE = "index.lock"
STATUS_FILE = "reindex.status.json"
PRIVATE_FILES = (DATABASE_FILE, STAGING_FILE, FEEDBACK_FILE)


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data directory with owner-only permissions (0700) and its database files as 0600.

    The database files are created empty (a valid empty SQLite database) before SQLite opens them, because
    SQLite gives its -wal and -shm files the permissions of the database file: created by SQLite under the
    usual umask they would be world-readable. Files left group- or world-readable by an older version are
    tightened too."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(data_dir, 0o700)
    for name in PRIVATE_FILES:
        with contextlib.suppress(FileExistsError):
            os.close(os.open(data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with contextlib.suppress(OSError):
        for entry in os.scandir(data_dir):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & 0o077:
                os.chmod(entry.path, 0o600)
    return data_dir


@contextlib.contextmanager
def index_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock on `index.lock`: one reindex at a time, across processes too."""
    prepare_data_dir(data_dir)
    with open(os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600), "r+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise IndexBusyError("another reindex is already running on this data directory") from error
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield  # closing the file releases the lock


def private_file(path: Path) -> None:
    """Owner-only permissions on a file storage wrote (best effort: a file system may not support them)."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
