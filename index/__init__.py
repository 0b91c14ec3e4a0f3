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
    RemovalRefusedError,
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
from index._rows import ReindexStatus
from index._settings import BUNDLED_MODEL, Environment, Settings, use_offline_defaults
from index.answering.conversation import Turn
from index.answering.lexical import STOPWORDS
from index.answering.query import Filters
from index.embedding.embedder import Embedder, make_embedder
from index.embedding.hash_embedder import HashEmbedder
from index.embedding.torch_embedder import SentenceTransformerEmbedder
from index.feeds import (
    FeedCycle,
    FeedHealth,
    FeedPoller,
    FeedSettings,
    FeedState,
    FeedStore,
    Follow,
    FollowError,
    FollowMatch,
    FollowSettings,
    FollowStore,
    PollSummary,
    checked_feed_url,
    feed_archive_root,
    feed_health,
    match_follows,
    open_feed_store,
    open_follow_store,
    poll_and_index,
)
from index.operations.doctor import check_index, expected_model_name, recorded_model, repair_index
from index.operations.doctor_report import DoctorReport, Problem
from index.operations.evaluation import (
    evaluate,
    evaluate_headlines,
    evaluate_sentences,
    load_questions,
    load_sentence_pairs,
)
from index.operations.migrate import migrate_archive

__all__ = [
    "STOPWORDS",
    "Answer",
    "Archive",
    "ArchivebotError",
    "ArchiveError",
    "ArchiveUnavailableError",
    "Article",
    "ArticleHit",
    "ArticleNotFoundError",
    "BUNDLED_MODEL",
    "check_index",
    "checked_feed_url",
    "ConfigurationError",
    "Copy",
    "DoctorReport",
    "Embedder",
    "Environment",
    "evaluate",
    "evaluate_headlines",
    "evaluate_sentences",
    "expected_model_name",
    "feed_archive_root",
    "feed_health",
    "FeedCycle",
    "FeedHealth",
    "FeedPoller",
    "FeedSettings",
    "FeedState",
    "FeedStore",
    "FileWarning",
    "Filters",
    "Follow",
    "FollowError",
    "FollowMatch",
    "FollowSettings",
    "FollowStore",
    "GapGroup",
    "GapReport",
    "HashEmbedder",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "IndexSummary",
    "load_questions",
    "load_sentence_pairs",
    "make_embedder",
    "match_follows",
    "migrate_archive",
    "open_feed_store",
    "open_follow_store",
    "poll_and_index",
    "PollSummary",
    "Problem",
    "Progress",
    "QuestionError",
    "Quote",
    "recorded_model",
    "ReindexStatus",
    "RemovalRefusedError",
    "repair_index",
    "SentenceTransformerEmbedder",
    "Settings",
    "Stats",
    "Turn",
    "use_offline_defaults",
]
