"""The bot's plain logic without Discord: configuration, trimming, embeds within limits, rate limits, progress."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace

import discord
import pytest
from fake_discord import message_problems

from bot import discord_format as fmt
from bot import limits
from bot.admin import is_archive_admin
from bot.config import DISCORD_API_BASE, DISCORD_GATEWAY_URL, BotConfig, apply_endpoints
from bot.discord_format import user_message
from bot.ratelimit import RateLimit, RateLimiter, SlidingWindow
from bot.reindex import BUSY_ELSEWHERE, FAILED, ProgressThrottle, ReindexJob
from index import (
    Answer,
    Article,
    ArticleHit,
    ArticleNotFoundError,
    ConfigurationError,
    IndexBusyError,
    IndexNotBuiltError,
    IndexSummary,
    Progress,
    QuestionError,
    Quote,
    Stats,
)

# ---- configuration ------------------------------------------------------------------------------


def test_config_defaults_point_at_discord():
    config = BotConfig.from_env({})
    assert config.api_base == DISCORD_API_BASE == "https://discord.com/api/v10"
    assert config.gateway_url == DISCORD_GATEWAY_URL
    assert config.guild_id is None and not config.channels and not config.threads
    assert config.user_rate.enabled and config.guild_rate.enabled
    with pytest.raises(ConfigurationError, match="DISCORD_TOKEN"):
        config.require_token()


def test_config_from_env():
    config = BotConfig.from_env(
        {
            "DISCORD_TOKEN": " secret-token ",
            "DISCORD_GUILD_ID": "123",
            "ARCHIVEBOT_CHANNELS": "1, 2,3",
            "ARCHIVEBOT_ADMIN_ROLE_IDS": "9",
            "ARCHIVEBOT_THREADS": "1",
            "ARCHIVEBOT_USER_RATE": "2/10",
            "ARCHIVEBOT_GUILD_RATE": "off",
            "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10/",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/gateway",
            "ARCHIVEBOT_PROGRESS_SECONDS": "0.5",
        }
    )
    assert config.token == "secret-token" and config.require_token() == "secret-token"
    assert config.guild_id == 123 and config.channels == {1, 2, 3} and config.admin_role_ids == {9}
    assert config.threads is True
    assert config.user_rate == RateLimit(2, 10.0) and not config.guild_rate.enabled
    assert config.api_base == "http://127.0.0.1:9/api/v10"
    assert config.progress_interval == 0.5
    assert "secret-token" not in repr(config)


@pytest.mark.parametrize(
    "name, value",
    [
        ("DISCORD_GUILD_ID", "my-server"),
        ("ARCHIVEBOT_CHANNELS", "general"),
        ("ARCHIVEBOT_THREADS", "maybe"),
        ("ARCHIVEBOT_USER_RATE", "five"),
        ("ARCHIVEBOT_GUILD_RATE", "-1/60"),
        ("ARCHIVEBOT_MAX_QUOTES", "0"),
    ],
)
def test_config_errors_name_the_variable(name, value):
    with pytest.raises(ConfigurationError, match=name):
        BotConfig.from_env({name: value})


def test_apply_endpoints_redirects_discord_py():
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        apply_endpoints(BotConfig(api_base="http://127.0.0.1:1/api/v10", gateway_url="ws://127.0.0.1:1/gw"))
        assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:1/api/v10/users/@me"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gw"
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


# ---- trimming ------------------------------------------------------------------------------------


def test_trim_keeps_short_text():
    assert limits.trim("Short.", 10) == "Short."


def test_trim_prefers_a_sentence_boundary():
    text = "First sentence is here. Second one is a bit longer than that. Third."
    assert limits.trim(text, 45) == "First sentence is here.…"  # "…that." would need 63 characters
    assert limits.trim(text, 64) == "First sentence is here. Second one is a bit longer than that.…"
    # a sentence end that would waste more than half the room loses to a word boundary
    assert limits.trim(text, 50) == "First sentence is here. Second one is a bit…"


def test_trim_falls_back_to_a_word_boundary():
    text = "one two three four five six seven eight nine ten"
    trimmed = limits.trim(text, 20)
    assert trimmed == "one two three four…" and len(trimmed) <= 20


def test_trim_handles_abbreviations_without_cutting_words():
    text = "Mr. Obama’s envoy went to Pyongyang last week for talks about the U.N. sanctions and more besides."
    for limit in range(5, len(text)):
        trimmed = limits.trim(text, limit)
        assert len(trimmed) <= limit
        assert text.startswith(trimmed[:-1])
        assert trimmed[-1] == "…"


def test_trim_a_word_longer_than_the_limit():
    assert limits.trim("x" * 50, 10) == "x" * 9 + "…"
    assert limits.trim("anything", 0) == ""


def test_split_pages_covers_the_text_in_order():
    text = "\n\n".join(f"Paragraph {i}. " + "Words and more words. " * 30 for i in range(20))
    pages = limits.split_pages(text, 1000)
    assert all(0 < len(p) <= 1000 for p in pages)
    assert " ".join(" ".join(pages).split()) == " ".join(text.split())
    assert limits.split_pages("", 10) == [""]


# ---- embeds -------------------------------------------------------------------------------------


def _quote(text: str, n: int = 1) -> Quote:
    return Quote(text, f"id{n}", f"Title {n}", "The Source", "2020-01-02", 0, len(text), 1.0)


def _fits(embed: discord.Embed) -> None:
    assert message_problems({"embeds": [embed.to_dict()]}) == []


def test_answer_embed_quotes_and_cites():
    answer = Answer("What happened?", True, 0.81, (_quote("It happened.", 1), _quote("Then more.", 2)))
    embed = fmt.answer_embed(answer)
    _fits(embed)
    assert embed.title == "What happened?"
    assert "“It happened.”\n— Title 1 · The Source · 2020-01-02 · id `id1`" in embed.description
    assert "“Then more.”\n— Title 2" in embed.description
    assert embed.footer.text.startswith("Confidence 81%")


def test_huge_answer_fits_with_every_quote_a_verbatim_prefix():
    sentence = "Word " * 2000 + "end."
    quotes = tuple(_quote(sentence.strip(), n) for n in range(1, 4))
    answer = Answer("q" * 400, True, 0.5, quotes)
    embed = fmt.answer_embed(answer)
    _fits(embed)
    assert len(embed.title) <= 256
    shown = embed.description.split("\n\n")
    assert len(shown) == 3
    for block in shown:
        body = block.split("”\n—")[0].lstrip("“")
        assert body.endswith("…") and sentence.startswith(body[:-1])


def test_not_found_embed_lists_closest():
    hits = tuple(ArticleHit(f"a{n}", "T" * 500, "S", "2021-01-01", 0.1) for n in range(30))
    embed = fmt.answer_embed(Answer("Where?", False, 0.02, (), hits))
    _fits(embed)
    assert embed.title == "Not found in the archive"
    assert "`a0`" in embed.description


def test_search_pages_split_five_per_page():
    hits = [ArticleHit(f"a{n}", f"Title {n}", "S", None, 1.0) for n in range(12)]
    pages = fmt.search_pages("bridge", hits)
    assert len(pages) == 3 and pages[2].description.startswith("**11.**")
    for page in pages:
        _fits(page)
    assert fmt.search_pages("x", [])[0].description == "No matching articles."


def test_article_pages_fit_and_cover_the_body():
    body = "\n\n".join(f"Sentence number {i} is here. " * 20 for i in range(40))
    article = Article(
        "abc",
        "root/x.txt",
        "/x.txt",
        "T" * 400,
        False,
        "Src",
        "2020-01-01",
        None,
        None,
        "https://example.org/" + "p" * 2000,
        body,
        "h",
        "now",
    )
    pages = fmt.article_pages(article)
    assert len(pages) > 1
    for page in pages:
        _fits(page)
    assert all(field.name != "Link" for field in pages[0].fields)  # an over-long URL is left out


def test_stats_embed_fits():
    stats = Stats(10, 20, 30, "m" * 2000, 384, "Flat", None, 1, 2, feedback={"helpful": 3, "unhelpful": 1})
    embed = fmt.stats_embed(stats, reindexing=True)
    _fits(embed)
    assert any(f.value == "👍 3  👎 1" for f in embed.fields)


def test_progress_and_summary_texts():
    text = fmt.progress_text(Progress("embed", 40, 100, 12.0, 18.4))
    assert text == "Reindexing… Embedding passages: 40/100 (40%) · elapsed 12s · ETA 18s"
    assert "ETA estimating" in fmt.progress_text(Progress("embed", 0, 100, 1.0, None))
    chunked = fmt.progress_text(Progress("commit", 3, 56, 60.0, 1060.0, "chunk 3 of 56"))
    assert chunked == "Reindexing… Saving the index (chunk 3 of 56): 3/56 (5%) · elapsed 1m 00s · ETA 17m 40s"
    warnings = tuple(f"file{n}: bad" for n in range(500))
    summary = IndexSummary(added=1, warnings=warnings, seconds=75)  # type: ignore[arg-type]
    text = fmt.summary_text(summary)
    assert len(text) <= limits.CONTENT and "1 added" in text and "1m 15s" in text and "495 more" in text


def test_progress_throttle():
    now = [0.0]
    throttle = ProgressThrottle(2.0, clock=lambda: now[0])
    assert throttle.due(Progress("scan", 0, 1, 0))
    assert not throttle.due(Progress("scan", 1, 1, 0))
    assert throttle.due(Progress("embed", 0, 9, 0))  # a new phase always shows
    now[0] = 1.0
    assert not throttle.due(Progress("embed", 3, 9, 0))
    now[0] = 2.5
    assert throttle.due(Progress("embed", 5, 9, 0))


class StubArchive:
    """An archive whose reindex reports `reports`, then waits for `release`, then returns or raises `outcome`."""

    def __init__(self, reports: list[Progress], outcome: IndexSummary | Exception) -> None:
        self.reports, self.outcome = reports, outcome
        self.reindexing = False
        self.release = asyncio.Event()

    async def reindex(self, progress: Callable[[Progress], None], allow_removal: bool = False) -> IndexSummary:
        for report in self.reports:
            progress(report)
            await asyncio.sleep(0.01)
        await self.release.wait()
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def _run_job(archive: StubArchive, editable: bool = True) -> tuple[ReindexJob, list[str], list[str]]:
    edited: list[str] = []
    posted: list[str] = []

    async def edit(text: str) -> bool:
        if editable:
            edited.append(text)
        return editable

    async def post(text: str) -> bool:
        posted.append(text)
        return True

    job = ReindexJob(archive, interval=3600.0)  # type: ignore[arg-type]  # a stub archive: reindex() only
    task = job.start(edit, post)
    await asyncio.sleep(0.1)
    assert job.running and "already running (embedding passages, 5/10)" in job.busy_text()
    archive.release.set()
    await task
    assert not job.running and "already running;" in job.busy_text()  # no progress kept after the run
    return job, edited, posted


async def test_reindex_job_edits_throttled_progress_then_the_summary():
    reports = [Progress("scan", 1, 2, 0.1), Progress("scan", 2, 2, 0.2), Progress("embed", 5, 10, 0.3, 1.0)]
    _, edited, posted = await _run_job(StubArchive(reports, IndexSummary(added=3, seconds=2)))
    # one edit per phase within the interval, then the summary; nothing posted in the channel
    assert [text.split(":")[0] for text in edited] == [
        "Reindexing… Scanning files",
        "Reindexing… Embedding passages",
        "Reindex finished in 2s",
    ]
    assert "3 added" in edited[-1] and posted == []


async def test_reindex_job_posts_the_summary_when_it_cannot_edit_and_reports_failures():
    reports = [Progress("embed", 5, 10, 0.3, 1.0)]
    _, edited, posted = await _run_job(StubArchive(reports, IndexSummary(added=1)), editable=False)
    assert edited == [] and len(posted) == 1 and "1 added" in posted[0]
    _, edited, _ = await _run_job(StubArchive(reports, IndexBusyError("busy")))
    assert edited[-1] == BUSY_ELSEWHERE
    _, edited, _ = await _run_job(StubArchive(reports, RuntimeError("disk on fire")))
    assert edited[-1] == FAILED and "disk on fire" not in edited[-1]


# ---- rate limits --------------------------------------------------------------------------------


def test_sliding_window():
    now = [100.0]
    window = SlidingWindow(RateLimit(2, 10.0), clock=lambda: now[0])
    assert window.retry_after("u") == 0
    window.record("u")
    window.record("u")
    assert window.retry_after("u") == pytest.approx(10.0)
    now[0] = 105.0
    assert window.retry_after("u") == pytest.approx(5.0)
    now[0] = 110.0
    assert window.retry_after("u") == 0


def test_rate_limiter_user_then_server():
    now = [0.0]
    limiter = RateLimiter(RateLimit(2, 60.0), RateLimit(3, 60.0), clock=lambda: now[0])
    assert limiter.check(1, 10).allowed and limiter.check(1, 10).allowed
    refused = limiter.check(1, 10)
    assert not refused.allowed and refused.scope == "user" and refused.retry_after == pytest.approx(60.0)
    assert "You are" in refused.message() and "60 s" in refused.message()
    assert limiter.check(2, 10).allowed  # the refusal did not count against the server
    server = limiter.check(3, 10)
    assert not server.allowed and server.scope == "server" and "This server" in server.message()
    assert limiter.check(3, 11).allowed  # another server is unaffected
    assert limiter.check(4, None).allowed  # DMs have no server window
    now[0] = 61.0
    assert limiter.check(1, 10).allowed


def test_rate_limiter_warns_once_per_wait():
    now = [0.0]
    limiter = RateLimiter(RateLimit(1, 30.0), RateLimit(0, 0), clock=lambda: now[0])
    assert limiter.check(1, 5, warn_once=True).allowed
    assert limiter.check(1, 5, warn_once=True).first_refusal
    assert not limiter.check(1, 5, warn_once=True).first_refusal
    assert limiter.check(1, 5).first_refusal  # ephemeral refusals always answer
    now[0] = 31.0
    assert limiter.check(1, 5, warn_once=True).allowed


def test_rate_limiter_forgets_idle_users():
    now = [0.0]
    window = SlidingWindow(RateLimit(1, 1.0), clock=lambda: now[0], max_keys=100)
    for user in range(100):
        window.record(user)
    now[0] = 5.0
    window.record("new")
    assert len(window) == 1


# ---- errors and permissions ---------------------------------------------------------------------


def test_user_messages_are_short_and_hide_internals():
    assert user_message(QuestionError("the question is empty")) == "Sorry: the question is empty."
    assert "/reindex" in user_message(IndexNotBuiltError("x"))
    assert user_message(ArticleNotFoundError("no article with id or title 'x'")).startswith("Sorry: no article")
    hidden = user_message(RuntimeError("/secret/path/db.sqlite3 is locked"))
    assert "secret" not in hidden and len(hidden) < 100


class _Member:
    def __init__(self, *role_ids: int) -> None:
        self.roles = [discord.Object(role_id) for role_id in role_ids]


def test_admin_needs_manage_guild_and_a_role_when_configured():
    manage = discord.Permissions(manage_guild=True)
    plain = discord.Permissions(send_messages=True)
    assert is_archive_admin(_Member(), manage, BotConfig())
    assert is_archive_admin(_Member(), discord.Permissions(administrator=True), BotConfig())
    assert not is_archive_admin(_Member(), plain, BotConfig())
    with_roles = BotConfig(admin_role_ids=frozenset({7}))
    assert is_archive_admin(_Member(7), manage, with_roles)
    assert not is_archive_admin(_Member(8), manage, with_roles)
    assert not is_archive_admin(_Member(7), plain, with_roles)


def test_questions_shown_back_cannot_inject_markdown():
    question = "[free nitro](https://evil.example) **now** `x`"
    embed = fmt.answer_embed(Answer(question, False, 0.0))
    assert "“[free nitro]" not in embed.description  # an unescaped "[" would make a masked link
    assert "“\\[free nitro\\]" in embed.description and "\\*\\*now\\*\\*" in embed.description
    answered = fmt.answer_embed(Answer(question, True, 0.9, (_quote("Fine."),)))
    assert answered.title.startswith("\\[free nitro\\]")
    assert fmt.search_pages(question, [])[0].title.startswith("Search: \\[free nitro\\]")


def test_answer_registry_is_bounded_lru():
    from bot.answers import AnswerRegistry

    registry = AnswerRegistry(capacity=3)
    keys = [registry.add(f"q{n}", [f"a{n}"], None) for n in range(3)]
    assert registry.get(keys[0]).question == "q0"  # now the most recently used
    registry.add("q3", ["a3"], 5)
    assert len(registry) == 3 and registry.get(keys[1]) is None and registry.get(keys[0]) is not None
    assert len(set(keys)) == 3 and all(len(k) == 16 for k in keys)


def test_archive_text_never_renders_links_or_formatting_from_an_article() -> None:
    """A quote, a title or an article page holding markdown shows as written: no masked link, no bold."""
    hostile = "Read [the full story](https://evil.example/x) **now** and ~~forget~~ `this` _all_ of it."
    escaped = fmt.archive_text(hostile, 4096)
    assert "\\[the full story\\]" in escaped and "\\*\\*now\\*\\*" in escaped and "\\_all\\_" in escaped
    assert re.sub(r"\\([^\w\s]|_)", r"\1", escaped) == hostile  # nothing but escapes was added
    tight = fmt.archive_text("*" * 100, 60)
    assert len(tight) <= 60 and not tight.endswith("\\")


def test_article_pages_escape_markdown_and_fit_embeds() -> None:
    body = ("A *starred* [link](https://evil.example) sentence. " * 120).strip()
    article = Article(
        "a" * 16, "x/y.txt", "x/y.txt", "T", False, None, None, None, None, None, body, "h", "2024-01-01T00:00:00"
    )
    pages = fmt.article_pages(article)
    assert all(len(page.description or "") <= 4096 for page in pages)
    assert not any(re.search(r"(?<!\\)\[", page.description or "") for page in pages)  # no masked link can start
    joined = " ".join(re.sub(r"\\([^\w\s]|_)", r"\1", page.description or "") for page in pages)
    assert joined.split() == body.split()


def test_progress_lines_off_a_terminal_follow_every_chunk(capsys) -> None:
    """In a log (no terminal) a chunked run prints each chunk's embedding and a line per tenth of the commits:
    a phase left on its last tenth must not silence the chunks after it."""
    from bot.terminal import ProgressBar

    bar = ProgressBar(terminal=False)
    for chunk in (1, 2):
        detail = f"chunk {chunk} of 20"
        bar(Progress("embed", 100, 100, 10.0 * chunk, None, detail))
        bar(Progress("commit", chunk - 1, 20, 10.0 * chunk, None, detail))
        bar(Progress("commit", chunk, 20, 10.0 * chunk, 90.0, detail))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "embedding new texts (chunk 1 of 20): 100/100 (100%)",
        "embedding new texts (chunk 2 of 20): 100/100 (100%)",
        "committed 2 of 20 chunks (10% of the articles), about 1m 30s left",
    ]


def test_the_answer_phrase_is_bold_and_the_quote_otherwise_verbatim():
    text = "Harbor Foods paid $40 million for *Bay* Bakery."
    start = text.index("$40")
    quote = replace(_quote(text), answer_start=start, answer_end=start + len("$40 million"))
    embed = fmt.answer_embed(Answer("How much did they pay?", True, 0.8, (quote, _quote("More $5 here.", 2))))
    _fits(embed)
    assert "“Harbor Foods paid **$40 million** for \\*Bay\\* Bakery.”" in embed.description
    assert "**$5" not in embed.description  # only the first quote is marked
    plain = fmt.answer_embed(Answer("How much did they pay?", True, 0.8, (_quote(text),)))
    assert "**" not in plain.description  # no phrase: the quote as before


def test_caveats_and_the_reason_for_declining_are_said_plainly():
    reason = "The archive has the Bafta film awards of 2005, not 2007"
    declined = fmt.answer_embed(Answer("Who won in 2007?", False, 0.9, not_found_reason=reason))
    _fits(declined)
    assert declined.title == "Not found in the archive" and reason in declined.description
    caveat = 'The closest article ("Homes") is about south-east, not north-east'
    cautioned = fmt.answer_embed(Answer("How many homes?", True, 0.9, (_quote("Homes."),), caveats=(caveat,)))
    assert cautioned.description.startswith(f"**Note:** {caveat}\n")


def test_terminal_text_shows_the_reason_the_caveat_and_the_answer_phrase():
    from bot.terminal import answer_text

    reason = "The archive has the Bafta film awards of 2005, not 2007"
    assert reason + "." in answer_text(Answer("Who won in 2007?", False, 0.9, not_found_reason=reason))
    quote = replace(_quote("They paid $40 million."), answer_start=10, answer_end=21)
    shown = answer_text(Answer("How much?", True, 0.9, (quote,), caveats=("It is about the UK, not France",)))
    assert "Note: It is about the UK, not France." in shown and "answer: $40 million" in shown
