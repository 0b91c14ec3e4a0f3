"""Engine results as plain terminal text, shared by the `archivebot` CLI and the console front end, and the
CLI's indexing progress on stderr."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

import click

from index import Answer, Article, ArticleHit, GapReport, IndexSummary, Progress, Quote, ReindexStatus, Stats

from .text import citation, copies_text, duration, one_line, publication, reindex_status_text
from .web.links import article_url

if TYPE_CHECKING:  # imported when a bar is shown (a terminal), not on every command
    from tqdm import tqdm


def _cited(item: Quote | ArticleHit) -> str:
    """Title — source — date [article id]."""
    return citation(item.title, item.source, item.date, separator=" — ") + f" [{item.article_id}]"


def colour_wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org) or TERM is dumb:
    a pipe, a log file or CI gets plain text without escape codes."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", "") or env.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stream-like object without a terminal
        return False


def paint(text: str, colour: bool, **style: Any) -> str:
    """`text` styled with click.style (fg=, bold=, dim=, italic=) when `colour`, else unchanged."""
    return click.style(text, **style) if colour and text else text


def answer_text(answer: Answer, width: int = 100, *, colour: bool = False, public_url: str = "") -> str:
    """Quotes with citations, or "not found" with the closest articles. Says when it followed up on an
    earlier question and which period a date phrase meant; with `public_url` (ARCHIVEBOT_PUBLIC_URL) each
    quote also gets its link into the reading room, quote highlighted."""
    lines: list[str] = []
    if answer.following_up_on:  # the engine used the conversation's earlier questions: say so, as Discord does
        earlier = textwrap.shorten(one_line(answer.following_up_on[-1]), width - 20, placeholder="…")
        lines.append(paint(f"Following up on: “{earlier}”", colour, italic=True, dim=True))
    if answer.answered:
        lines.extend(f"Note: {caveat}." for caveat in answer.caveats)
        for number, quote in enumerate(answer.quotes, start=1):
            body = textwrap.fill(f"“{quote.text}”", width=width, initial_indent="  ", subsequent_indent="   ")
            lines.append(paint(f"{number}.", colour, bold=True) + body[1:] if number < 10 else body)
            if quote.answer_start is not None and quote.answer_end is not None:
                phrase = quote.text[quote.answer_start : quote.answer_end]
                lines.append("     answer: " + paint(phrase, colour, bold=True))
            lines.append(paint(f"     — {_cited(quote)}, chars {quote.start}–{quote.end}", colour, fg="cyan"))
            link = article_url(public_url, quote.article_id, quote.start, quote.end)
            if link:
                lines.append(f"       {paint(link, colour, underline=True)}")
            if quote.also_in:
                lines.append(paint(f"       {copies_text(quote.also_in)}", colour, dim=True))
        lines.append(paint(f"(confidence {answer.confidence:.0%})", colour, dim=True))
    else:
        lines.append(paint("Not found in the archive.", colour, fg="yellow", bold=True))
        if answer.not_found_reason:
            lines.append(f"{answer.not_found_reason}.")
        if answer.closest:
            lines.append("Closest articles:")
            for hit in answer.closest:
                lines.append(f"  • {_cited(hit)}")
                if hit.also_in:
                    lines.append(paint(f"    {copies_text(hit.also_in)}", colour, dim=True))
    if answer.date_note:
        lines.append(paint(answer.date_note, colour, dim=True))
    return "\n".join(lines)


def hits_text(hits: list[ArticleHit]) -> str:
    if not hits:
        return "No matching articles."
    lines = []
    for number, hit in enumerate(hits, start=1):
        lines.append(f"{number:>2}. {_cited(hit)}  (score {hit.score:.3f})")
        if hit.also_in:
            lines.append(f"    {copies_text(hit.also_in)}")
    return "\n".join(lines)


def article_text(article: Article) -> str:
    header = [
        article.title + (" (title derived from the lede)" if article.title_derived else ""),
        publication(article),
        f"id {article.article_id} · {article.location}",
    ]
    if article.url:
        header.append(article.url)
    return "\n".join(header) + "\n\n" + article.body


def summary_text(summary: IndexSummary) -> str:
    text = (
        f"{summary.added:,} added, {summary.updated:,} updated, {summary.removed:,} removed,"
        f" {summary.unchanged:,} unchanged, {summary.skipped:,} skipped; {summary.passages_embedded:,} passages"
        f" ({summary.sentences_embedded:,} new texts embedded) in {summary.seconds:.1f}s"
    )
    if summary.warnings:
        text += f"\n{len(summary.warnings)} warning(s):\n" + "\n".join(f"  ! {w}" for w in summary.warnings)
    return text


def stats_text(stats: Stats, running: ReindexStatus | None = None, location: str | None = None) -> str:
    """The archive's figures; `running`: a reindex under way in any process sharing the archive; `location`:
    where it lives (a data directory, or a database URL without its password), shown first when given."""
    return "\n".join(
        [
            *([f"archive       {location}"] if location else []),
            f"articles      {stats.articles:,}",
            f"passages      {stats.passages:,}",
            f"sentences     {stats.sentences:,}",
            f"model         {stats.model} ({stats.dimension} dims)",
            f"index type    {stats.index_type}",
            f"last indexed  {stats.last_indexed or 'never'}",
            f"roots         {', '.join(stats.roots) or '-'}",
            f"database      {stats.database_bytes / 1e6:.1f} MB; vectors {stats.vector_bytes / 1e6:.1f} MB"
            + (f"; full text {stats.search_index_bytes / 1e6:.1f} MB" if stats.search_index_bytes else ""),
            f"feedback      👍 {stats.feedback.get('helpful', 0)}  👎 {stats.feedback.get('unhelpful', 0)}",
            *(
                [f"reindexing    {reindex_status_text(running)} (process {running.pid} on {running.host})"]
                if running
                else []
            ),
        ]
    )


class ProgressBar:
    """A tqdm bar with ETA on a terminal; elsewhere (logs, pipes) a line on stderr every tenth of a phase
    that takes a while, so long runs are never silent."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self._bar: tqdm[Any] | None = None
        self._phase = ""
        self._next_share = 0.0
        self._next_commit_share = 0.1

    def __call__(self, progress: Progress) -> None:
        if not self.terminal:
            self._line(progress)
            return
        from tqdm import tqdm

        if progress.phase != self._phase:
            self.close()
            self._phase = progress.phase
            if progress.phase in {"scan", "embed"}:
                label = {"scan": "scanning files", "embed": "embedding"}[progress.phase]
                self._bar = tqdm(
                    total=progress.total,
                    desc=label,
                    unit=" texts" if progress.phase == "embed" else " files",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
        if self._bar is not None:
            self._bar.total = progress.total
            self._bar.n = progress.done
            self._bar.refresh()

    def _line(self, progress: Progress) -> None:
        """A line per tenth of each phase (of each chunk's phase, in a chunked run) and per tenth of the chunks
        committed: a first build of a large archive is dozens of chunks, each too short for a tenth of its own."""
        if progress.phase not in {"scan", "embed", "commit"} or not progress.total:
            return
        if progress.phase == "commit":
            self._commit_line(progress)
            return
        key = f"{progress.phase}:{progress.detail}"
        if key != self._phase:
            self._phase, self._next_share = key, 0.1
        share = progress.done / progress.total
        if share >= self._next_share and (progress.elapsed >= 2 or progress.done == progress.total):
            label = "embedding new texts" if progress.phase == "embed" else "scanning files"
            if progress.detail:  # "chunk 3 of 50": a long first build commits chunk by chunk
                label = f"{label} ({progress.detail})"
            click.echo(f"{label}: {progress.done:,}/{progress.total:,} ({share:.0%}){_eta(progress)}", err=True)
            self._next_share = _next_tenth(self._next_share, share)

    def _commit_line(self, progress: Progress) -> None:
        if progress.total < 2 or progress.done == 0:  # one commit: the run's own summary says it
            return
        share = progress.share
        if share >= self._next_commit_share or progress.done == progress.total:
            chunks = f"committed {progress.done:,} of {progress.total:,} chunks"
            click.echo(f"{chunks} ({share:.0%} of the articles){_eta(progress)}", err=True)
            self._next_commit_share = _next_tenth(self._next_commit_share, share)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _eta(progress: Progress) -> str:
    return f", about {duration(progress.eta)} left" if progress.eta and progress.done < progress.total else ""


def _next_tenth(next_share: float, share: float) -> float:
    """The next tenth of a phase worth a line, past `share`."""
    while next_share <= share:
        next_share += 0.1
    return next_share


def gaps_text(report: GapReport, width: int = 100) -> str:
    """The coverage gaps, most asked first: count, the split, the last time asked, then the questions."""
    off = "" if report.recording else "\n(recording is off: ARCHIVEBOT_RECORD_QUESTIONS=0)"
    if not report.groups:
        since = f" since {report.since}" if report.since else ""
        return f"No declined or 👎 questions recorded{since}." + off
    lines = []
    for number, group in enumerate(report.groups, start=1):
        lines.append(
            f"{number:>2}. asked {group.count}× (not found {group.not_found}, 👎 {group.thumbs_down}),"
            f" last {group.last_asked}"
        )
        lines.extend(textwrap.shorten(f"• {question}", width, placeholder="…").rjust(0) for question in group.questions)
    return "\n".join(lines) + off
