"""The "Context n" buttons under answers: the quote, in bold and exactly body[start:end], inside the sentences
around it, cut to Discord's limits at sentence boundaries; changed or deleted articles said so; clicks that
work after the bot restarts. Plain functions first, then end to end against the fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator

from bot_fixtures import LONG_QUESTION, SEED_QUESTION, Harness
from fake_discord import EPHEMERAL

from bot.app import ArchiveBot
from bot.context import CUSTOM_ID_TEMPLATE, QuotePlace, context_of, quote_digest, render_context
from index import Quote

pytest_plugins = ["bot_fixtures"]  # the harness fixture (and the fixtures it uses)

# Bold that may hold escaped characters (the bot escapes markdown in article text).
BOLD = re.compile(r"\*\*((?:\\.|[^\\*])+)\*\*")
_UNESCAPE = re.compile(r"\\([^\w\s]|_)")  # escape_markdown puts a backslash before these

BODY = (
    "Harbour council meets\n\n"
    "The council met on Monday. It discussed the bridge. Engineers said the cables were *rusty*. "
    "Repairs will cost three million dollars. The work starts in May. Traffic will use one lane.\n\n"
    "A ferry will run meanwhile. Tickets are free."
)


def unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)


def bold_of(text: str) -> str:
    found = BOLD.findall(text)
    assert len(found) == 1, text
    return unescape(found[0])


def span(body: str, sentence: str) -> tuple[int, int]:
    start = body.index(sentence)
    return start, start + len(sentence)


# ---- plain functions ----------------------------------------------------------------------------


def test_the_quote_is_bold_and_verbatim_with_two_sentences_either_side():
    start, end = span(BODY, "Engineers said the cables were *rusty*.")
    text, shortened = render_context(context_of(BODY, start, end), 4096)
    assert not shortened and bold_of(text) == BODY[start:end]
    assert unescape(text) == (
        "… The council met on Monday. It discussed the bridge. **Engineers said the cables were *rusty*.**"
        " Repairs will cost three million dollars. The work starts in May. …"
    )


def test_context_stops_at_the_ends_of_the_body():
    start, end = span(BODY, "Harbour council meets")
    text, _ = render_context(context_of(BODY, start, end), 4096)
    assert text.startswith("**Harbour council meets**") and text.endswith("It discussed the bridge. …")
    start, end = span(BODY, "Tickets are free.")
    text, _ = render_context(context_of(BODY, start, end), 4096)
    assert unescape(text) == "… Traffic will use one lane.\n\nA ferry will run meanwhile. **Tickets are free.**"


def test_a_quote_starting_inside_a_sentence_keeps_the_rest_of_that_sentence():
    start, end = span(BODY, "the cables were *rusty*.")
    context = context_of(BODY, start, end)
    assert context.before[-1] == "Engineers said " and bold_of(render_context(context, 4096)[0]) == BODY[start:end]


def test_cut_to_the_limit_at_sentence_boundaries_outer_sentences_first():
    start, end = span(BODY, "Engineers said the cables were *rusty*.")
    context = context_of(BODY, start, end)
    full, _ = render_context(context, 4096)
    sentence_starts = {0} | {m.end() for m in re.finditer(r"[.!?]\s+|\n\n", BODY)}
    alone = f"**{BODY[start:end].replace('*', chr(92) + '*')}**"  # the quote in bold, markdown escaped
    shown_before = len(full)
    for limit in range(len(full), len(alone) - 1, -1):
        text, shortened = render_context(context, limit)
        assert len(text) <= limit and not shortened and bold_of(text) == BODY[start:end]
        plain = unescape(BOLD.sub(lambda m: m.group(1), text)).removeprefix("… ").removesuffix(" …")
        at = BODY.index(plain)  # one verbatim stretch of the body around the quote
        assert at <= start and end <= at + len(plain)
        assert at in sentence_starts and plain.endswith((".", "!", "?")), text  # whole sentences only
        assert len(plain) <= shown_before  # shrinks as the room does, keeping the nearest sentences
        shown_before = len(plain)
    assert shown_before == end - start  # in the end, the quote alone
    assert render_context(context, len(alone)) == (alone, False)
    text, shortened = render_context(context, len(alone) - 1)  # no room for the whole quote: a verbatim prefix
    assert shortened and bold_of(text).endswith("…") and BODY[start:end].startswith(bold_of(text)[:-1])


def test_a_quote_longer_than_the_limit_is_a_verbatim_prefix():
    body = "Short one. " + "word " * 2000 + "end. After it."
    start, end = span(body, ("word " * 2000) + "end.")
    text, shortened = render_context(context_of(body, start, end), 4096)
    assert shortened and len(text) <= 4096
    shown = bold_of(text)
    assert shown.endswith("…") and body[start:end].startswith(shown[:-1]) and len(shown) > 3000


def test_random_spans_always_fit_and_show_the_quote_exactly():
    rng = random.Random(7)
    words = ["alpha", "beta.", "gamma!", "*delta*", "_eps_", "zeta?", "eta\n\n", "theta", "`iota`", "kappa."]
    body = " ".join(rng.choice(words) for _ in range(3000))
    word_starts = [0] + [m.end() for m in re.finditer(r"\s+", body)]
    for _ in range(200):  # quotes are spans of whole words
        start = rng.choice(word_starts[:-1])
        end = next((m.start() for m in re.finditer(r"\s", body[start + rng.randrange(1, 800) :])), None)
        end = len(body) if end is None else min(len(body), end + start + 1)
        end = len(body[:end].rstrip())
        if end <= start:
            continue
        limit = rng.choice([200, 1000, 4096])
        text, shortened = render_context(context_of(body, start, end), limit)
        assert len(text) <= limit
        shown = bold_of(text)
        assert shown == body[start:end] or (shortened and body[start:end].startswith(shown[:-1]))


def test_place_round_trips_through_the_custom_id_and_detects_changes():
    start, end = span(BODY, "It discussed the bridge.")
    place = QuotePlace.of(Quote(BODY[start:end], "0123456789abcdef", "T", None, None, start, end, 1.0))
    match = re.fullmatch(CUSTOM_ID_TEMPLATE, place.custom_id)
    assert match and len(place.custom_id) <= 100 and place.fits_a_button
    back = QuotePlace(match["article_id"], int(match["start"]), int(match["end"]), match["digest"])
    assert back == place and back.holds(BODY)
    assert not back.holds(BODY.replace("bridge", "tunnel"))  # the quoted text changed
    assert not back.holds("X" + BODY)  # the text moved
    assert not back.holds(BODY[: end - 1])  # the body got shorter than the span
    assert quote_digest("a") != quote_digest("b")
    assert not QuotePlace("x" * 80, 0, 10, quote_digest("y")).fits_a_button


# ---- end to end ---------------------------------------------------------------------------------


async def reply_to(h: Harness, message: dict) -> dict:
    return await h.fake.wait_for(lambda: h.fake.replies.get(message["id"]))


def context_buttons(message: dict) -> list[dict]:
    return [
        c
        for row in message.get("components", [])
        for c in row["components"]
        if c.get("label", "").startswith("Context")
    ]


async def click_context(h: Harness, message: dict, button: dict) -> dict:
    click = await h.fake.click(h.fake.member, message, button["custom_id"])
    await h.fake.answered(click)
    assert click.response_type == 4 and click.responses[0]["data"]["flags"] & EPHEMERAL
    return click.responses[0]["data"]


def place_of(button: dict) -> QuotePlace:
    match = re.fullmatch(CUSTOM_ID_TEMPLATE, button["custom_id"])
    assert match, button
    return QuotePlace(match["article_id"], int(match["start"]), int(match["end"]), match["digest"])


@contextlib.asynccontextmanager
async def restarted(h: Harness) -> AsyncIterator[ArchiveBot]:
    """The bot stopped and a new one started on the same archive: nothing kept from the first."""
    await h.bot.close()
    bot = ArchiveBot(h.archive, h.config, guild_ready_timeout=0.01)
    await bot.login(h.config.token)
    runner = asyncio.create_task(bot.connect(reconnect=False))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        yield bot
    finally:
        await bot.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(runner, 5)


async def test_context_buttons_show_each_quote_in_bold_in_its_article(harness: Harness):
    h = harness
    reply = await reply_to(h, await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True))
    answer = await h.archive.ask(SEED_QUESTION, max_quotes=h.config.max_quotes)
    buttons = context_buttons(reply)
    assert [b["label"] for b in buttons] == [f"Context {n}" for n in range(1, len(answer.quotes) + 1)]
    for button, quote in zip(buttons, answer.quotes, strict=True):
        data = await click_context(h, reply, button)
        embed = data["embeds"][0]
        article = await h.archive.article(quote.article_id)
        assert bold_of(embed["description"]) == article.body[quote.start : quote.end] == quote.text
        assert embed["title"] == article.title
        assert {f["name"]: f["value"] for f in embed["fields"]}["Id"] == f"`{quote.article_id}`"
        assert f"characters {quote.start}–{quote.end}" in embed["footer"]["text"]


async def test_a_context_button_still_works_after_a_restart(harness: Harness):
    h = harness
    reply = await reply_to(h, await h.fake.message(h.fake.member, SEED_QUESTION, mentions_bot=True))
    button = context_buttons(reply)[0]
    before = (await click_context(h, reply, button))["embeds"][0]["description"]
    async with restarted(h) as bot:
        assert bot is not h.bot and not bot._connection._view_store._views  # no per-message state
        after = (await click_context(h, reply, button))["embeds"][0]["description"]
    assert after == before and bold_of(after)


async def test_a_changed_or_deleted_article_is_said_not_shown(harness: Harness):
    h = harness
    reply = await reply_to(h, await h.fake.message(h.fake.member, LONG_QUESTION, mentions_bot=True))
    button = context_buttons(reply)[0]
    place = place_of(button)
    assert (await h.archive.article(place.article_id)).location.endswith("long.md")
    long_text = (await click_context(h, reply, button))["embeds"][0]["description"]
    assert len(long_text) <= 4096 and bold_of(long_text).endswith("…")  # a 5,000-character quote: a prefix
    path = h.archive_dir / "long.md"
    path.write_text(path.read_text().replace("lighthouse number 7 needed", "lighthouse number 8 needed"))
    await h.archive.reindex([h.archive_dir])
    data = await click_context(h, reply, button)
    assert "has changed" in data["content"] and not data.get("embeds")
    path.unlink()
    await h.archive.reindex([h.archive_dir])
    data = await click_context(h, reply, button)
    assert "no longer in the archive" in data["content"] and not data.get("embeds")
