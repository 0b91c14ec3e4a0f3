"""Archivebot's engine: index a news archive and answer questions with verbatim, cited quotes.

The public surface is small::

    from index import Archive, Settings
    archive = await Archive.open(Settings.from_env())
    summary = await archive.reindex([Path("seeds")])
    answer = await archive.ask("What did Obama propose to North Korea?")

No Discord code lives here; every front end (CLI, console, bot) uses this package.
"""

from ._config import BUNDLED_MODEL, Settings
from ._conversation import Turn
from ._doctor import check_index, repair_index
from ._doctor_report import DoctorReport, Problem
from ._embed import Embedder, make_embedder
from ._embed_hash import HashEmbedder
from ._embed_torch import SentenceTransformerEmbedder
from ._engine import Archive
from ._errors import (
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
from ._models import (
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
from ._query import Filters
from ._reindex_status import ReindexStatus

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
