"""Archivebot's error classes: small, typed, translated once by each front end.

The whole tree::

    ArchivebotError                  anything the engine raises on purpose
    ├── ConfigurationError           a setting is missing or invalid
    ├── ArchiveError                 the archive on disk can't be read as asked (missing root folder)
    │   └── RemovalRefusedError      a reindex would remove most of the archive and was not allowed to
    ├── IndexNotBuiltError           no index in the data directory yet: run `archivebot index`
    ├── IndexMismatchError           the index was built with another model or schema than configured
    ├── IndexCorruptError            SQLite, FAISS and FTS disagree: run `archivebot doctor --repair`
    ├── IndexBusyError               another reindex holds the lock
    ├── ArchiveUnavailableError      the archive's database server can't be reached right now
    ├── QuestionError                no question in the message (empty, only options, emoji or stop words), or too long
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


class RemovalRefusedError(ArchiveError):
    """A reindex would remove more than `REMOVAL_GUARD_SHARE` of the indexed articles (an empty or mistyped
    folder, say) and was not told it may: nothing was changed. Front ends say how to allow it."""

    def __init__(self, removing: int, indexed: int, roots: tuple[str, ...]) -> None:
        self.removing, self.indexed, self.roots = removing, indexed, roots
        share = "every article" if removing == indexed else f"{removing / indexed:.0%} of the archive"
        super().__init__(
            f"this reindex would remove {removing:,} of the {indexed:,} indexed articles ({share}): their files"
            f" are not in {', '.join(roots) or 'the archive folders'}. Nothing was changed"
        )


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
