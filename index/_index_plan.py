"""An index run's plan: which stored articles go, which parsed ones come in, which are unchanged.

A file whose size and mtime match what is stored is unchanged and not even read; changed files are parsed,
and an article whose content hash is unchanged (at the same path) is kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._archive_files import ArchiveFile, file_fingerprint
from ._models import FileWarning, ParsedArticle
from ._parse import parse_file
from ._rows import StoredArticleState

ScanReport = Callable[[str, int, int], None]


@dataclass(frozen=True)
class NewArticle:
    article: ParsedArticle
    fingerprint: str
    is_update: bool  # replaces a stored article of the same id


@dataclass
class Plan:
    unchanged: int = 0
    skipped: int = 0
    remove_rows: list[int] = field(default_factory=list)
    new_articles: list[NewArticle] = field(default_factory=list)
    fingerprint_updates: dict[int, str] = field(default_factory=dict)
    warnings: list[FileWarning] = field(default_factory=list)


@dataclass(frozen=True)
class _ScannedFile:
    file: ArchiveFile
    fingerprint: str
    articles: list[ParsedArticle] | None  # None: unchanged, not read
    warnings: list[FileWarning]


def scan_files(
    files: Sequence[ArchiveFile],
    by_path: dict[str, list[StoredArticleState]],
    limits: tuple[int, int],
    read_all: bool,
    report: ScanReport,
) -> list[_ScannedFile]:
    """Fingerprint every file and parse the changed ones (all of them with `read_all`). Blocking.
    `limits`: the largest file read (bytes) and the most sentences an article may have."""
    max_file_bytes, max_sentences = limits
    results: list[_ScannedFile] = []
    for number, file in enumerate(files, start=1):
        if number % 200 == 0 or number == len(files):
            report("scan", number, len(files))
        try:
            fingerprint = file_fingerprint(file.path)
        except OSError:
            results.append(_ScannedFile(file, "", [], [FileWarning(str(file.path), "file vanished while indexing")]))
            continue
        stored = by_path.get(str(file.path), [])
        if stored and not read_all and all(state.fingerprint == fingerprint for state in stored):
            results.append(_ScannedFile(file, fingerprint, None, []))
            continue
        articles, file_warnings = parse_file(file, max_file_bytes, max_sentences=max_sentences)
        results.append(_ScannedFile(file, fingerprint, articles, file_warnings))
    return results


class Planner:
    """Builds the `Plan` from the stored states and the scanned files, file by file."""

    def __init__(self, states: Sequence[StoredArticleState], full: bool) -> None:
        self.plan = Plan()
        self.full = full
        self.by_path: dict[str, list[StoredArticleState]] = {}
        for state in states:
            self.by_path.setdefault(state.path, []).append(state)
        self.by_id = {state.article_id: state for state in states}
        self.states = list(states)
        self.seen_ids: set[str] = set()
        self.duplicates: dict[str, list[str]] = {}

    def remove_missing_paths(self, seen_paths: set[str]) -> None:
        self.plan.remove_rows.extend(state.row for state in self.states if state.path not in seen_paths)

    def add_file(self, scanned: _ScannedFile) -> None:
        plan = self.plan
        stored = self.by_path.get(str(scanned.file.path), [])
        if scanned.articles is None:
            plan.unchanged += len(stored)
            self.seen_ids.update(state.article_id for state in stored)
            return
        plan.warnings.extend(scanned.warnings)
        if not scanned.articles:
            plan.skipped += 1
        produced = {self._add_article(article, scanned.fingerprint) for article in scanned.articles}
        for state in stored:
            if state.article_id not in produced and state.row not in plan.remove_rows:
                plan.remove_rows.append(state.row)

    def _add_article(self, article: ParsedArticle, fingerprint: str) -> str | None:
        """Plan one parsed article; returns its id when this file produced it (not a duplicate)."""
        if article.article_id in self.seen_ids:
            self.duplicates.setdefault(article.path, []).append(article.location)
            return None
        self.seen_ids.add(article.article_id)
        previous = self.by_id.get(article.article_id)
        # Same content at another path (the archive folder moved): its old row was queued for removal
        # by path, so it is re-inserted (sentence vectors are reused), never counted unchanged.
        if (
            previous
            and previous.content_hash == article.content_hash
            and not self.full
            and previous.path == article.path
        ):
            self.plan.unchanged += 1
            if previous.fingerprint != fingerprint:
                self.plan.fingerprint_updates[previous.row] = fingerprint
            return article.article_id
        if previous:
            self.plan.remove_rows.append(previous.row)
        self.plan.new_articles.append(NewArticle(article, fingerprint, previous is not None))
        return article.article_id

    def finish(self) -> Plan:
        plan = self.plan
        for path, locations in self.duplicates.items():  # one warning per file, however many records repeat
            more = f" (and {len(locations) - 3} more)" if len(locations) > 3 else ""
            plan.warnings.append(
                FileWarning(path, f"{len(locations)} duplicate record(s) skipped: {', '.join(locations[:3])}{more}")
            )
        # An article that moved to another path was removed by path and re-added: dedupe the removals.
        plan.remove_rows = list(dict.fromkeys(plan.remove_rows))
        return plan
