"""Archivebot's error classes: small, typed, translated once by each front end.

The whole tree::

    ArchivebotError                  anything the engine raises on purpose
    ├── ConfigurationError           a setting is missing or invalid
    ├── ArchiveError                 the archive on disk can't be read as asked (missing root folder)
    ├── IndexNotBuiltError           no index in the data directory yet: run `archivebot index`
    ├── IndexMismatchError           the index was built with another model or schema than configured
    ├── IndexCorruptError            SQLite, FAISS and FTS disagree: run `archivebot doctor --repair`
    ├── IndexBusyError               another reindex holds the lock
    ├── ArchiveUnavailableError      the archive's database server can't be reached right now
    ├── QuestionError                the question is empty or too long
    └── ArticleNotFoundError         no article with that id or title

Problems with single archive files are never raised: they become `FileWarning`s in the reindex summary.
"""

from __future__ import annotations


class ArchivebotError(Exception):
    """Base class: every error the engine raises on purpose."""


class ConfigurationError(ArchivebotError):
    """A setting is missing or invalid."""


class ArchiveError(ArchivebotError):
    """The archive can't be read as asked (for example a root folder that does not exist)."""


class IndexNotBuiltError(ArchivebotError):
    """The data directory holds no index yet."""


class IndexMismatchError(ArchivebotError):
    """The index on disk was built with a different model, dimension or schema."""


class IndexCorruptError(ArchivebotError):
    """The index's parts (SQLite, FAISS, FTS) disagree."""


class IndexBusyError(ArchivebotError):
    """Another reindex is running (in this process or another one)."""


class QuestionError(ArchivebotError):
    """The question can't be asked: empty, too long, or nothing searchable in it."""


class ArticleNotFoundError(ArchivebotError):
    """No article matches the given id or title."""


class ArchiveUnavailableError(ArchivebotError):
    """The archive's database server can't be reached right now (it may come back by itself)."""
