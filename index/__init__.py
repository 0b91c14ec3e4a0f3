"""Archivebot's engine: index a news archive and answer questions with verbatim, cited quotes.

The public surface is small::

    from index import Archive, Settings
    archive = await Archive.open(Settings.from_env())
    summary = await archive.reindex([Path("seeds")])
    answer = await archive.ask("What did Obama propose to North Korea?")

No Discord code lives here; every front end (CLI, console, bot) uses this package.
"""

from index._archive import Archive
from index._errors import (
    ArchivebotError,
    ArchiveError,
    ArchiveUnavailableError,
    ArticleNotFoundError,
    ConfigurationError,
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotBuiltError,
    QuestionError,
)
from index._models import (
    Answer,
    Article,
    ArticleHit,
    Copy,
    FileWarning,
    GapGroup,
    GapReport,
    IndexSummary,
    Progress,
    Quote,
    Stats,
)
from index._settings import BUNDLED_MODEL, Settings
from index.answering.conversation import Turn
from index.answering.query import Filters
from index.embedding.embedder import Embedder, make_embedder
from index.embedding.hash_embedder import HashEmbedder
from index.embedding.torch_embedder import SentenceTransformerEmbedder
from index.operations.doctor import check_index, repair_index
from index.operations.doctor_report import DoctorReport, Problem
from index.operations.reindex_status import ReindexStatus

__all__ = [
    "Answer",
    "Archive",
    "DoctorReport",
    "Problem",
    "check_index",
    "repair_index",
    "ArchiveError",
    "ArchiveUnavailableError",
    "ArchivebotError",
    "Article",
    "ArticleHit",
    "ArticleNotFoundError",
    "BUNDLED_MODEL",
    "ConfigurationError",
    "Copy",
    "Embedder",
    "FileWarning",
    "GapGroup",
    "GapReport",
    "Filters",
    "HashEmbedder",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "IndexSummary",
    "Progress",
    "QuestionError",
    "Quote",
    "ReindexStatus",
    "SentenceTransformerEmbedder",
    "Settings",
    "Stats",
    "Turn",
    "make_embedder",
]
