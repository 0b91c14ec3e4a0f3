"""Engine results as Discord embeds that always fit Discord's limits (plain functions, tested without Discord).

Quotes are shown verbatim between quotation marks; when one must be shortened it is cut at a sentence (else
word) boundary and ends with "…", so what is shown is always a verbatim prefix of the article's text.
"""

from __future__ import annotations

import discord

from index import (
    Answer,
    ArchivebotError,
    ArchiveUnavailableError,
    Article,
    ArticleHit,
    ArticleNotFoundError,
    Copy,
    FeedHealth,
    FeedState,
    FollowMatch,
    GapReport,
    IndexBusyError,
    IndexNotBuiltError,
    IndexSummary,
    Progress,
    QuestionError,
    Quote,
    ReindexStatus,
    Stats,
)

from . import limits
from .text import PHASES, citation, duration, one_line, publication, reindex_status_text
from .web.links import article_url

ANSWER_COLOUR = discord.Colour(0x2B6CB0)
NOT_FOUND_COLOUR = discord.Colour(0x718096)
HITS_PER_PAGE = 5
ARTICLE_PAGE_CHARS = 3500
HELP_TEXT = (
    "Ask me about the news archive, e.g. “@Archivebot What did Obama propose to North Korea?” — I answer with"
    " verbatim quotes and their sources. Slash commands: /ask, /search, /article, /stats."
)


def user_message(error: BaseException) -> str:
    """One short sentence for the user about a failure; the details go to the log."""
    if isinstance(error, (QuestionError, ArticleNotFoundError)):
        return limits.trim(f"Sorry: {error}.".replace("..", "."), 300)
    if isinstance(error, IndexNotBuiltError):
        return "The archive hasn't been indexed yet; an admin can run /reindex."
    if isinstance(error, IndexBusyError):
        return "A reindex is already running; try again when it has finished."
    if isinstance(error, ArchiveUnavailableError):  # the database server is away: it comes back by itself
        return "The archive is unavailable right now; please try again in a minute."
    if isinstance(error, ArchivebotError):
        return "The archive can't answer right now; the problem has been logged for the admins."
    return "Sorry, something went wrong on my side; it has been logged."


def _echo(question: str, limit: int) -> str:
    """A user's question shown back: one line, markdown escaped (no masked links or formatting injected), trimmed."""
    return archive_text(one_line(question), limit)


def archive_text(text: str, limit: int) -> str:
    """Text from the archive (a quote, a title, an article page) as Discord shows it: trimmed to `limit`, then
    markdown-escaped, so an article holding `[text](url)` or `**` renders as written, never as a masked link or
    formatting. Trimming comes first (escaping mid-way could leave a lone backslash), on less text while the
    escaped form is still too long."""
    room = limit
    while True:
        escaped = limits.escape_markdown(limits.trim(text, room))
        if len(escaped) <= limit or room <= 1:
            return escaped[:limit]
        room -= max(1, len(escaped) - limit)


def _code(article_id: str) -> str:
    return f"`{article_id.replace('`', '')}`"


COPIES_CHARS = 300  # the "also in: …" line under a quote or hit


def copies_line(copies: tuple[Copy, ...]) -> str:
    """The other copies of a syndicated story, on one line: each citation markdown-escaped, its id as (`id`),
    which feedback recovery (reading "id `…`") does not take for a quoted article."""
    share = max(40, COPIES_CHARS // max(1, len(copies)) - 30)
    cited = [
        f"{archive_text(one_line(citation(copy.title, copy.source, copy.date)), share)} ({_code(copy.article_id)})"
        for copy in copies
    ]
    return "also in: " + "; ".join(cited) if cited else ""


def hit_line(hit: ArticleHit, number: int | None = None) -> str:
    prefix = f"**{number}.** " if number is not None else "• "
    title = archive_text(one_line(hit.title), 200)
    meta = citation("", hit.source, hit.date)
    line = f"{prefix}{title}" + (f" — {meta}" if meta else "") + f" · id {_code(hit.article_id)}"
    return line + (f"\n  {copies_line(hit.also_in)}" if hit.also_in else "")


def _cited(quote: Quote, public_url: str) -> str:
    """The quote's citation; a link to its article page in the reading room (quote highlighted) when the
    reading room's public address is configured. Markdown in titles is escaped so no other link is made."""
    text = archive_text(one_line(citation(quote.title, quote.source, quote.date)), 300)
    url = article_url(public_url, quote.article_id, quote.start, quote.end)
    # escape_markdown leaves "]" alone: a title holding "](" would otherwise end the link text early.
    return f"[{text.replace(']', chr(92) + ']')}]({url})" if url else text


def answer_embed(answer: Answer, public_url: str = "") -> discord.Embed:
    """The reply to a question: quotes with citations, or "not found" with the closest articles. With
    `public_url` (ARCHIVEBOT_PUBLIC_URL) each citation links to its article with the quote highlighted."""
    if not answer.answered:
        return not_found_embed(answer)
    title = _echo(answer.question, limits.EMBED_TITLE)
    footer = f"Confidence {answer.confidence:.0%} · verbatim quotes from the archive · 👍/👎 below helps"
    if answer.date_note:
        footer += f" · {limits.trim(answer.date_note, 300)}"
    following = ""
    if answer.following_up_on:  # the engine used the conversation's earlier questions: say so
        following = f"*Following up on: “{_echo(answer.following_up_on[-1], 200)}”*\n\n"
    if answer.caveats:  # the quoted article lacks something the question names: said before the quotes
        following += "".join(f"**Note:** {archive_text(one_line(caveat), 300)}\n" for caveat in answer.caveats[:3])
        following += "\n"
    blocks: list[str] = []
    room = limits.EMBED_DESCRIPTION - len(following)
    # Each quote gets a fair share of the room left, so a very long first quote can't crowd out the others.
    quotes = list(answer.quotes)
    for position, quote in enumerate(quotes):
        cite = f"— {_cited(quote, public_url)} · id {_code(quote.article_id)}" + (
            f"\n{copies_line(quote.also_in)}" if quote.also_in else ""
        )
        share = room // (len(quotes) - position) - len(cite) - 8
        if share < 40:
            break
        text = marked_text(quote, share) if position == 0 else archive_text(quote.text.strip(), share)
        block = f"“{text}”\n{cite}"
        blocks.append(block)
        room -= len(block) + 2
    embed = discord.Embed(title=title, description=following + "\n\n".join(blocks), colour=ANSWER_COLOUR)
    embed.set_footer(text=footer)
    return embed


def marked_text(quote: Quote, limit: int) -> str:
    """The quote as `archive_text` shows it, with its answer phrase (`answer_start:answer_end`) in bold when
    the question asked for one and the whole quote fits; otherwise unmarked."""
    text = quote.text.strip()
    lead = len(quote.text) - len(quote.text.lstrip())
    if quote.answer_start is None or quote.answer_end is None:
        return archive_text(text, limit)
    start, end = quote.answer_start - lead, quote.answer_end - lead
    if not 0 <= start < end <= len(text):
        return archive_text(text, limit)
    before, phrase, after = (limits.escape_markdown(part) for part in (text[:start], text[start:end], text[end:]))
    marked = f"{before}**{phrase}**{after}"
    return marked if len(marked) <= limit else archive_text(text, limit)


def not_found_embed(answer: Answer) -> discord.Embed:
    lines = [f"I couldn't find the answer to “{_echo(answer.question, 300)}” in the archive."]
    if answer.not_found_reason:
        lines.append(archive_text(one_line(answer.not_found_reason), 400) + ".")
    if answer.date_note:
        lines.append(f"Note: {limits.trim(answer.date_note, 300)}.")
    if answer.closest:
        lines.append("")
        lines.append("Closest articles:")
        lines.extend(hit_line(hit) for hit in answer.closest[:10])
    embed = discord.Embed(
        title="Not found in the archive",
        description=limits.trim("\n".join(lines), limits.EMBED_DESCRIPTION),
        colour=NOT_FOUND_COLOUR,
    )
    embed.set_footer(text=f"Confidence {answer.confidence:.0%} · try /search or other words")
    return embed


def search_pages(query: str, hits: list[ArticleHit], per_page: int = HITS_PER_PAGE) -> list[discord.Embed]:
    title = limits.trim(f"Search: {_echo(query, limits.EMBED_TITLE)}", limits.EMBED_TITLE)
    if not hits:
        return [discord.Embed(title=title, description="No matching articles.", colour=NOT_FOUND_COLOUR)]
    chunks = [hits[start : start + per_page] for start in range(0, len(hits), per_page)]
    pages: list[discord.Embed] = []
    for page_number, chunk in enumerate(chunks, start=1):
        first = (page_number - 1) * per_page + 1
        body = "\n".join(hit_line(hit, first + offset) for offset, hit in enumerate(chunk))
        embed = discord.Embed(
            title=title, description=limits.trim(body, limits.EMBED_DESCRIPTION), colour=ANSWER_COLOUR
        )
        embed.set_footer(text=f"Page {page_number}/{len(chunks)} · {len(hits)} articles · /article <id> shows one")
        pages.append(embed)
    return pages


GAPS_PER_PAGE = 5


def gaps_pages(report: GapReport, per_page: int = GAPS_PER_PAGE) -> list[discord.Embed]:
    """/gaps: groups of similar questions the archive couldn't answer or answered unhelpfully, most asked first."""
    title = "Coverage gaps" + (f" since {report.since}" if report.since else "")
    off = "Recording is off (ARCHIVEBOT_RECORD_QUESTIONS=0). " if not report.recording else ""
    if not report.groups:
        text = off + "No declined or 👎 questions recorded."
        return [discord.Embed(title=title, description=text, colour=NOT_FOUND_COLOUR)]
    chunks = [report.groups[start : start + per_page] for start in range(0, len(report.groups), per_page)]
    pages: list[discord.Embed] = []
    for page_number, chunk in enumerate(chunks, start=1):
        first = (page_number - 1) * per_page + 1
        blocks = []
        for number, group in enumerate(chunk, start=first):
            head = (
                f"**{number}.** asked {group.count}× (not found {group.not_found}, 👎 {group.thumbs_down})"
                f" · last {group.last_asked[:16].replace('T', ' ')}"
            )
            questions = "\n".join(f"• {_echo(question, 200)}" for question in group.questions[:5])
            more = f"\n…and {len(group.questions) - 5} more" if len(group.questions) > 5 else ""
            blocks.append(f"{head}\n{questions}{more}")
        embed = discord.Embed(
            title=title, description=limits.trim("\n\n".join(blocks), limits.EMBED_DESCRIPTION), colour=ANSWER_COLOUR
        )
        footer = f"{off}Page {page_number}/{len(chunks)} · {len(report.groups)} groups · archivebot gaps --json"
        embed.set_footer(text=limits.trim(footer, limits.FOOTER))
        pages.append(embed)
    return pages


def _describe_article(embed: discord.Embed, article: Article) -> None:
    """Where an article comes from, as embed fields: published, id, and its link when it has one."""
    meta = publication(article)
    if meta:
        embed.add_field(name="Published", value=limits.trim(one_line(meta), limits.FIELD_VALUE), inline=False)
    embed.add_field(name="Id", value=_code(article.article_id), inline=True)
    if article.url and article.url.startswith(("http://", "https://")) and len(article.url) <= 1000:
        embed.add_field(name="Link", value=article.url, inline=True)


def context_embed(
    article: Article, start: int, end: int, text: str, shortened: bool, public_url: str = ""
) -> discord.Embed:
    """A quote in its context (`text`, from `bot.context.render_context`), with where the article comes from;
    with `public_url` (ARCHIVEBOT_PUBLIC_URL) also a link to the article in the reading room, quote highlighted."""
    embed = discord.Embed(
        title=limits.trim(one_line(article.title), limits.EMBED_TITLE), description=text, colour=ANSWER_COLOUR
    )
    _describe_article(embed, article)
    page = article_url(public_url, article.article_id, start, end)
    if page and len(page) <= limits.FIELD_VALUE - 30:
        embed.add_field(name="Reading room", value=f"[The whole article, quote highlighted]({page})", inline=False)
    note = " · the quote is longer than Discord shows; /article shows it whole" if shortened else ""
    embed.set_footer(text=limits.trim(f"Quote: characters {start}–{end} of {article.location}{note}", limits.FOOTER))
    return embed


def _escaped_pages(body: str, page_chars: int) -> list[str]:
    """The body in markdown-escaped pages that fit an embed: a page whose escaped form outgrows the limit (a
    body dense in `*` or `_`) is split again at half the size."""
    pages: list[str] = []
    for text in limits.split_pages(body, page_chars):
        if len(limits.escape_markdown(text)) <= limits.EMBED_DESCRIPTION:
            pages.append(limits.escape_markdown(text))
        else:
            pages.extend(
                archive_text(part, limits.EMBED_DESCRIPTION) for part in limits.split_pages(text, page_chars // 2)
            )
    return pages


def article_pages(article: Article, page_chars: int = ARTICLE_PAGE_CHARS) -> list[discord.Embed]:
    title = limits.trim(one_line(article.title), limits.EMBED_TITLE)
    texts = _escaped_pages(article.body or "(no text)", page_chars)
    pages: list[discord.Embed] = []
    for number, text in enumerate(texts, start=1):
        embed = discord.Embed(title=title, description=text, colour=ANSWER_COLOUR)
        if number == 1:
            _describe_article(embed, article)
        embed.set_footer(text=limits.trim(f"Page {number}/{len(texts)} · {article.location}", limits.FOOTER))
        pages.append(embed)
    return pages


def stats_embed(
    stats: Stats, reindexing: bool = False, running: ReindexStatus | None = None, feeds: FeedHealth | None = None
) -> discord.Embed:
    """The archive's figures; `running`: a reindex under way in any process sharing the archive; `feeds`: how
    many feeds keep it current and which fail."""
    embed = discord.Embed(title="Archive statistics", colour=ANSWER_COLOUR)
    embed.add_field(name="Articles", value=f"{stats.articles:,}")
    embed.add_field(name="Passages", value=f"{stats.passages:,}")
    embed.add_field(name="Sentences", value=f"{stats.sentences:,}")
    embed.add_field(name="Model", value=limits.trim(f"{stats.model} ({stats.dimension} dims)", limits.FIELD_VALUE))
    embed.add_field(name="Index", value=limits.trim(stats.index_type, limits.FIELD_VALUE))
    embed.add_field(
        name="Last reindex",
        value=(stats.last_indexed or "never") + (" (reindexing now)" if reindexing or running else ""),
    )
    if running is not None:
        embed.add_field(name="Reindex in progress", value=limits.trim(reindex_status_text(running), 1024), inline=False)
    embed.add_field(
        name="Feedback", value=f"👍 {stats.feedback.get('helpful', 0):,}  👎 {stats.feedback.get('unhelpful', 0):,}"
    )
    if feeds is not None and feeds.feeds:
        failing = "".join(
            "\n" + limits.trim(one_line(f"{feed.url}: {feed.last_error or '?'}"), 200) for feed in feeds.failing[:3]
        )
        value = f"{feeds.feeds:,} ({len(feeds.failing):,} failing){failing}"
        embed.add_field(name="Feeds", value=limits.trim(value, limits.FIELD_VALUE), inline=False)
    return embed


def follow_notice_embed(match: FollowMatch, public_url: str = "") -> discord.Embed:
    """The notice a follow gets: the new article's best quote for the follow's query, with its citation."""
    quote, follow = match.quote, match.follow
    cite = f"— {_cited(quote, public_url)} · id {_code(quote.article_id)}"
    text = archive_text(quote.text.strip(), limits.EMBED_DESCRIPTION - len(cite) - 8)
    embed = discord.Embed(
        title=limits.trim(f"New on your follow: {one_line(follow.query)}", limits.EMBED_TITLE),
        description=f"“{text}”\n{cite}",
        colour=ANSWER_COLOUR,
    )
    embed.set_footer(text=f"Follow {follow.id} · confidence {match.answer.confidence:.0%} · /unfollow {follow.id}")
    return embed


def feeds_text(feeds: list[FeedState]) -> str:
    """/feeds list: each feed with its interval and, when failing, its last error (fits one message)."""
    if not feeds:
        return "No feeds yet. An admin can add one with /feeds add."
    lines = []
    for feed in feeds:
        line = f"• <{feed.url}> every {feed.interval_seconds / 60:g} min"
        if feed.failures:
            line += f" — failing ({feed.failures}×): {one_line(feed.last_error or '?')}"
        lines.append(limits.trim(line, 300))
    return limits.trim("\n".join(lines), limits.CONTENT)


def progress_text(progress: Progress) -> str:
    phase = PHASES.get(progress.phase, progress.phase)
    if progress.detail:  # "chunk 3 of 56": a long run commits chunk by chunk
        phase = f"{phase} ({progress.detail})"
    share = f" ({progress.share:.0%})" if progress.total else ""
    text = f"Reindexing… {phase}: {progress.done:,}/{progress.total:,}{share} · elapsed {duration(progress.elapsed)}"
    if progress.phase != "done":
        text += f" · ETA {duration(progress.eta)}"
    return limits.trim(text, limits.CONTENT)


def summary_text(summary: IndexSummary) -> str:
    text = (
        f"Reindex finished in {duration(summary.seconds)}: {summary.added:,} added, {summary.updated:,} updated,"
        f" {summary.removed:,} removed, {summary.unchanged:,} unchanged, {summary.skipped:,} skipped;"
        f" {summary.passages_embedded:,} passages embedded."
    )
    if summary.warnings:
        shown = "\n".join(f"• {limits.trim(one_line(str(w)), 180)}" for w in summary.warnings[:5])
        more = f"\n…and {len(summary.warnings) - 5} more (see the log)" if len(summary.warnings) > 5 else ""
        text += f"\n{len(summary.warnings)} warning(s):\n{shown}{more}"
    return limits.trim(text, limits.CONTENT)
