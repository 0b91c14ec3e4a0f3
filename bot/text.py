"""Plain-text pieces every front end shows the same way: one-line text, a citation, a duration, a reindex
running somewhere."""

from __future__ import annotations

import time
from collections.abc import Sequence

from index import Article, Copy, ReindexStatus

PHASES = {"scan": "Scanning files", "embed": "Embedding passages", "commit": "Saving the index", "done": "Finishing"}


def reindex_status_text(status: ReindexStatus, now: float | None = None) -> str:
    """A reindex seen from any process: "Embedding passages: 45% (450/1,000) · started 2m 05s ago"."""
    phase = PHASES.get(status.phase, status.phase)
    share = f"{status.percent}% ({status.done:,}/{status.total:,})" if status.percent is not None else "starting"
    started = duration((now if now is not None else time.time()) - status.started_at)
    return f"{phase}: {share} · started {started} ago"


def one_line(text: str) -> str:
    """`text` with every run of white space (newlines included) folded into one space."""
    return " ".join(text.split())


def citation(title: str, source: str | None, date: str | None, *, separator: str = " · ") -> str:
    """Title, source and date of an article, the missing ones left out."""
    return separator.join(part for part in (title, source, date) if part)


def duration(seconds: float | None) -> str:
    """A short human duration: "45s", "3m 07s", "2h 05m"; "estimating…" when not known yet."""
    if seconds is None:
        return "estimating…"
    whole = max(0, int(round(seconds)))
    if whole < 60:
        return f"{whole}s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {whole:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def publication(article: Article) -> str:
    """Where and when an article appeared, and who wrote it: "source · date · dateline · byline"."""
    return " · ".join(part for part in (article.source, article.published, article.dateline, article.byline) if part)


def copies_text(copies: Sequence[Copy], code: str = "[{}]") -> str:
    """ "also in: Title · Source · date [id]; …" for the other copies of a syndicated story ("" for none);
    `code` formats each id (Discord puts it in backquotes)."""
    if not copies:
        return ""
    return "also in: " + "; ".join(
        f"{one_line(citation(copy.title, copy.source, copy.date))} {code.format(copy.article_id)}" for copy in copies
    )
