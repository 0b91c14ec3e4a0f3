"""The engine's public surface and the house rules that keep its layout readable.

`index.__all__` is pinned (as httpx pins its own): a name added or dropped is a decision, made here on purpose.
The front ends (`bot/`) use only those names, never a module inside `index`, and no module grows past 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import index

PROJECT = Path(__file__).resolve().parent.parent

PUBLIC = {
    # the facade and its settings
    "Archive",
    "Settings",
    "Environment",
    "BUNDLED_MODEL",
    "use_offline_defaults",
    "STOPWORDS",  # the words search leaves out (the reading room marks the others)
    # what it returns
    "Answer",
    "Article",
    "ArticleHit",
    "Copy",
    "FileWarning",
    "Filters",
    "GapGroup",
    "GapReport",
    "IndexSummary",
    "Progress",
    "Quote",
    "ReindexStatus",
    "Stats",
    "Turn",
    # embedders
    "Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "make_embedder",
    # operations: doctor, evaluation, migration
    "DoctorReport",
    "Problem",
    "check_index",
    "repair_index",
    "expected_model_name",
    "recorded_model",
    "evaluate",
    "evaluate_headlines",
    "evaluate_sentences",
    "load_questions",
    "load_sentence_pairs",
    "migrate_archive",
    # feeds and follows (docs/feeds.md)
    "FeedCycle",
    "FeedHealth",
    "FeedPoller",
    "FeedSettings",
    "FeedState",
    "FeedStore",
    "Follow",
    "FollowError",
    "FollowMatch",
    "FollowSettings",
    "FollowStore",
    "PollSummary",
    "checked_feed_url",
    "feed_archive_root",
    "feed_health",
    "match_follows",
    "open_feed_store",
    "open_follow_store",
    "poll_and_index",
    # the exception tree
    "ArchivebotError",
    "ArchiveError",
    "ArchiveUnavailableError",
    "ArticleNotFoundError",
    "ConfigurationError",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotBuiltError",
    "QuestionError",
    "RemovalRefusedError",
}


def test_the_public_names_are_exactly_these() -> None:
    assert set(index.__all__) == PUBLIC
    assert len(index.__all__) == len(PUBLIC), "a name listed twice in index.__all__"
    for name in index.__all__:
        assert getattr(index, name) is not None


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def test_the_front_ends_use_only_the_public_names() -> None:
    offending = []
    for path in sorted((PROJECT / "bot").rglob("*.py")):
        for module, names in _imports(path):
            if module.startswith("index."):
                offending.append(f"{path.relative_to(PROJECT)}: {module}")
            elif module == "index":
                offending.extend(f"{path.relative_to(PROJECT)}: index.{n}" for n in names if n not in PUBLIC)
    assert offending == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PROJECT)): lines
        for folder in ("index", "bot")
        for path in (PROJECT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


def test_the_top_of_index_holds_only_the_facade_settings_errors_and_types() -> None:
    top = sorted(path.name for path in (PROJECT / "index").glob("*.py"))
    assert top == ["__init__.py", "_archive.py", "_errors.py", "_models.py", "_rows.py", "_settings.py"]
    rooms = sorted(path.name for path in (PROJECT / "index").iterdir() if (path / "__init__.py").exists())
    assert rooms == ["answering", "embedding", "feeds", "indexing", "operations", "reading", "storage"]
