"""An index run's plan: which stored articles go, which parsed ones come in, which are unchanged.

A file whose size and mtime match what is stored is unchanged and not even read; changed files are parsed,
and an article whose content hash is unchanged (at the same path) is kept. The plan keeps no article text:
each new article is a reference (file, id, content hash), read again when its chunk is committed, so the
plan's memory grows with the number of articles (ids and hashes), not with their text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from index._models import FileWarning, ParsedArticle
from index._rows import StoredArticleState
from index.reading.files import ArchiveFile, file_fingerprint
from index.reading.parse import parse_file

ScanReport = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PlannedArticle:
    """A new or changed article, by reference: read again from `file` when its chunk is committed."""

    file: ArchiveFile
    article_id: str
    content_hash: str
    fingerprint: str
    replaces: int | None  # the stored row of the same article id (deleted in the same commit)
    # The article as the scan read it, kept only when its file changed while the scan read it: it is indexed
    # as read (the stored fingerprint is the earlier one, so the next run reads the file again).
    kept: ParsedArticle | None = None

    @property
    def is_update(self) -> bool:
        return self.replaces is not None


@dataclass
class Plan:
    indexed: int = 0  # articles the archive held before this run
    unchanged: int = 0
    skipped: int = 0
    remove_rows: list[int] = field(default_factory=list)  # stored articles that are gone (not replaced)
    new_articles: list[PlannedArticle] = field(default_factory=list)  # in file order
    changed_ids: list[str] = field(default_factory=list)  # of those, the ones new or with other content
    fingerprint_updates: dict[int, str] = field(default_factory=dict)
    warnings: list[FileWarning] = field(default_factory=list)


@dataclass(frozen=True)
class ScanLimits:
    max_file_bytes: int
    max_sentences: int


class Planner:
    """Builds the `Plan` from the stored states and the archive's files, file by file."""

    def __init__(self, states: Sequence[StoredArticleState], full: bool) -> None:
        self.plan = Plan(indexed=len(states))
        self.full = full
        self.by_path: dict[str, list[StoredArticleState]] = {}
        for state in states:
            self.by_path.setdefault(state.path, []).append(state)
        self.by_id = {state.article_id: state for state in states}
        self.states = list(states)
        self.removals: list[int] = []
        self.seen_ids: set[str] = set()
        self.duplicates: dict[str, list[str]] = {}

    def scan(self, files: Sequence[ArchiveFile], limits: ScanLimits, read_all: bool, report: ScanReport) -> None:
        """Fingerprint every file, parse the changed ones (all of them with `read_all`) and plan each at once,
        keeping none of their text. Blocking."""
        seen_paths = {str(file.path) for file in files}
        self.removals.extend(state.row for state in self.states if state.path not in seen_paths)
        for number, file in enumerate(files, start=1):
            if number % 200 == 0 or number == len(files):
                report("scan", number, len(files))
            try:
                fingerprint = file_fingerprint(file.path)
            except OSError:
                self.plan.warnings.append(FileWarning(str(file.path), "file vanished while indexing"))
                self._add_file(file, "", [], keep=False)
                continue
            stored = self.by_path.get(str(file.path), [])
            if stored and not read_all and all(state.fingerprint == fingerprint for state in stored):
                self.plan.unchanged += len(stored)
                self.seen_ids.update(state.article_id for state in stored)
                continue
            articles, warnings = parse_file(file, limits.max_file_bytes, max_sentences=limits.max_sentences)
            self.plan.warnings.extend(warnings)
            try:
                changed = file_fingerprint(file.path) != fingerprint
            except OSError:
                changed = True
            self._add_file(file, fingerprint, articles, keep=changed)

    def _add_file(self, file: ArchiveFile, fingerprint: str, articles: list[ParsedArticle], keep: bool) -> None:
        if not articles:
            self.plan.skipped += 1
        produced = {self._add_article(file, article, fingerprint, keep) for article in articles}
        for state in self.by_path.get(str(file.path), []):
            if state.article_id not in produced and state.row not in self.removals:
                self.removals.append(state.row)

    def _add_article(self, file: ArchiveFile, article: ParsedArticle, fingerprint: str, keep: bool) -> str | None:
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
        replaces = previous.row if previous else None
        if previous is None or previous.content_hash != article.content_hash:
            self.plan.changed_ids.append(article.article_id)
        self.plan.new_articles.append(
            PlannedArticle(
                file, article.article_id, article.content_hash, fingerprint, replaces, article if keep else None
            )
        )
        return article.article_id

    def finish(self) -> Plan:
        plan = self.plan
        for path, locations in self.duplicates.items():  # one warning per file, however many records repeat
            more = f" (and {len(locations) - 3} more)" if len(locations) > 3 else ""
            plan.warnings.append(
                FileWarning(path, f"{len(locations)} duplicate record(s) skipped: {', '.join(locations[:3])}{more}")
            )
        # A replaced row goes in the commit that inserts its new version; the rest are plain removals (an
        # article that moved to another path was queued by path too: deduplicated here).
        replaced = {item.replaces for item in plan.new_articles if item.replaces is not None}
        plan.remove_rows = [row for row in dict.fromkeys(self.removals) if row not in replaced]
        return plan


@dataclass(frozen=True)
class NewArticle:
    """A planned article read again, ready to embed."""

    article: ParsedArticle
    fingerprint: str
    replaces: int | None


def chunked(items: Sequence[PlannedArticle], size: int) -> list[list[PlannedArticle]]:
    """The plan's new articles in commits of at most `size` (in file order)."""
    return [list(items[start : start + size]) for start in range(0, len(items), max(size, 1))]


class ArticleReader:
    """Reads planned articles back from their files, one file parsed at a time (the last one is kept: a
    file's records may span two chunks). Blocking."""

    def __init__(self, limits: ScanLimits) -> None:
        self._limits = limits
        self._path: str | None = None
        self._articles: dict[str, ParsedArticle] = {}

    def read(self, planned: Sequence[PlannedArticle]) -> tuple[list[NewArticle], list[FileWarning]]:
        found: list[NewArticle] = []
        warnings: list[FileWarning] = []
        for item in planned:
            if item.kept is not None:
                found.append(NewArticle(item.kept, item.fingerprint, item.replaces))
                continue
            if str(item.file.path) != self._path:
                self._path = str(item.file.path)
                try:
                    articles, _ = parse_file(
                        item.file, self._limits.max_file_bytes, max_sentences=self._limits.max_sentences
                    )
                except OSError:
                    articles = []
                self._articles = {article.article_id: article for article in articles}
            article = self._articles.get(item.article_id)
            if article is None:  # the file changed since the scan: the next run reads it again
                warnings.append(FileWarning(str(item.file.path), "file changed while indexing"))
                continue
            found.append(NewArticle(article, item.fingerprint, item.replaces))
        return found, warnings
