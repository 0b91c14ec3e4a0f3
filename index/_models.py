"""Frozen dataclasses: the data that crosses the engine's public surface."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParsedArticle:
    """One article as read from the archive, before it is stored (no database id yet)."""

    article_id: str  # stable public id: derived from the article's location in the archive
    location: str  # "<root name>/<relative path>[#record]"
    path: str  # the file on disk
    title: str
    title_derived: bool
    source: str | None
    published: str | None  # ISO date YYYY-MM-DD
    dateline: str | None
    byline: str | None
    url: str | None
    body: str
    content_hash: str


@dataclass(frozen=True)
class Article(ParsedArticle):
    """A stored article with its clean body text: the parsed article and when it was indexed."""

    indexed_at: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = data.pop("article_id")
        data["date"] = data.pop("published")
        return data


@dataclass(frozen=True)
class Copy:
    """Another copy of an article (a syndicated story filed again): enough to cite it."""

    article_id: str
    title: str
    source: str | None
    date: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.article_id, "title": self.title, "source": self.source, "date": self.date}


@dataclass(frozen=True)
class Quote:
    """A verbatim quote: `text == article.body[start:end]`. `also_in`: the quoted article's other copies."""

    text: str
    article_id: str
    title: str
    source: str | None
    date: str | None
    start: int
    end: int
    score: float
    also_in: tuple[Copy, ...] = ()
    answer_start: int | None = None  # the answer phrase (a number, name or date) as offsets in `text`,
    answer_end: int | None = None  # when the question asks for one and the quote holds it; else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["also_in"] = [copy.to_dict() for copy in self.also_in]
        return data


@dataclass(frozen=True)
class ArticleHit:
    """An article ranked for a query (search results, or the closest articles when nothing answers)."""

    article_id: str
    title: str
    source: str | None
    date: str | None
    score: float
    location: str = ""
    also_in: tuple[Copy, ...] = ()  # the article's other copies, listed once under it

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.article_id,
            "title": self.title,
            "source": self.source,
            "date": self.date,
            "score": round(self.score, 4),
            "location": self.location,
            "also_in": [copy.to_dict() for copy in self.also_in],
        }


@dataclass(frozen=True)
class Answer:
    """The engine's answer: quotes when it is confident, otherwise `answered=False` and the closest articles."""

    question: str
    answered: bool
    confidence: float
    quotes: tuple[Quote, ...] = ()
    closest: tuple[ArticleHit, ...] = ()
    filters: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    following_up_on: tuple[str, ...] = ()  # the earlier questions it was answered in the context of
    date_note: str | None = None  # how a relative date ("the latest", "this year") was read, when one was
    caveats: tuple[str, ...] = ()  # answered, but the quoted article lacks something the question names
    not_found_reason: str | None = None  # declined because the closest article lacks something asked for

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "question": self.question,
            "answered": self.answered,
            "confidence": round(self.confidence, 4),
            "quotes": [quote.to_dict() for quote in self.quotes],
            "closest": [hit.to_dict() for hit in self.closest],
            "filters": dict(self.filters),
        }
        if self.following_up_on:
            data["following_up_on"] = list(self.following_up_on)
        if self.date_note:
            data["date_note"] = self.date_note
        data["caveats"] = list(self.caveats)
        data["not_found_reason"] = self.not_found_reason
        return data


@dataclass(frozen=True)
class FileWarning:
    """A file (or record) that was skipped or handled specially, with the reason."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class IndexSummary:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    passages_embedded: int = 0
    sentences_embedded: int = 0
    seconds: float = 0.0
    warnings: tuple[FileWarning, ...] = ()
    # The articles added, or whose content changed, in this run (not those only re-embedded for a model change
    # or moved): what follows are matched against (docs/feeds.md#follows).
    changed_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "passages_embedded": self.passages_embedded,
            "sentences_embedded": self.sentences_embedded,
            "seconds": round(self.seconds, 3),
            "warnings": [str(w) for w in self.warnings],
        }


@dataclass(frozen=True)
class Progress:
    """A progress report from a long operation (reindex): `done` of `total` in `phase`."""

    phase: str  # "scan" | "embed" | "commit" | "done"
    done: int
    total: int
    elapsed: float
    eta: float | None = None
    detail: str = ""
    fraction: float | None = None  # the share of the phase's work done, where items differ in cost

    @property
    def share(self) -> float:
        """The share of the phase done: `fraction` when the work is weighted (commits by articles, embedding
        by tokens), else done / total."""
        if self.fraction is not None:
            return self.fraction
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class Stats:
    articles: int
    passages: int
    sentences: int
    model: str
    dimension: int
    index_type: str
    last_indexed: str | None
    database_bytes: int
    vector_bytes: int
    roots: tuple[str, ...] = ()
    search_index_bytes: int = 0  # the embedded backend's tantivy generation (the live one)
    feedback: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["roots"] = list(self.roots)
        return data


@dataclass(frozen=True)
class GapGroup:
    """Similar questions the archive could not answer or answered unhelpfully (👎), most asked first."""

    questions: tuple[str, ...]
    count: int  # times asked (declined or 👎), all questions of the group together
    last_asked: str  # ISO UTC
    not_found: int
    thumbs_down: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["questions"] = list(self.questions)
        return data


@dataclass(frozen=True)
class GapReport:
    """`archivebot gaps`: the groups, most asked first; `since` the ISO date they start from, if limited."""

    groups: tuple[GapGroup, ...]
    since: str | None = None
    recording: bool = True  # False when ARCHIVEBOT_RECORD_QUESTIONS=0 (nothing new is recorded)

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [group.to_dict() for group in self.groups], "since": self.since, "recording": self.recording}
