"""Buttons under the bot's messages: 👍/👎 feedback and "Context n" under answers (persistent), and page
turning for /search and /article (live for 15 minutes)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import discord

from index import ArticleNotFoundError, FollowError, Quote

from . import limits
from .answers import AnsweredQuestion
from .app import archive_bot
from .context import CUSTOM_ID_TEMPLATE, QuotePlace, context_of, render_context
from .discord_format import context_embed, user_message
from .follows import followed_text

logger = logging.getLogger("archivebot.bot")

NO_MENTIONS = discord.AllowedMentions.none()
VIEW_TIMEOUT = 15 * 60  # seconds a page-turning view lives; Discord shows "interaction failed" after


_ARTICLE_ID = re.compile(r"id `([^`]+)`")
_NOT_FOUND_QUESTION = re.compile(r"find the answer to “(.*)” in the archive", re.S)
_UNESCAPE = re.compile(r"\\([^\w\s]|_)")  # escape_markdown puts a backslash before these


class FeedbackButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"archivebot:fb:(?P<key>[0-9a-f]{16}):(?P<vote>[01])",
):
    """👍 or 👎 under an answer. Persistent: the answer key and the vote are in the button's custom id, so the
    bot keeps nothing per message and clicks work for as long as the message exists, across restarts."""

    def __init__(self, key: str, helpful: bool) -> None:
        super().__init__(
            discord.ui.Button(
                label="Helpful" if helpful else "Not helpful",
                emoji="👍" if helpful else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"archivebot:fb:{key}:{int(helpful)}",
            )
        )
        self.key = key
        self.helpful = helpful

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(match["key"], match["vote"] == "1")

    @staticmethod
    def recover(message: discord.Message | None) -> AnsweredQuestion | None:
        """The question and article ids read back from the answer's embed (for answers the registry forgot)."""
        if message is None or not message.embeds:
            return None
        embed = message.embeds[0]
        description = embed.description or ""
        found = _NOT_FOUND_QUESTION.search(description)
        question = found.group(1) if found else (embed.title or "")
        ids = tuple(dict.fromkeys(_ARTICLE_ID.findall(description)))
        return AnsweredQuestion(_UNESCAPE.sub(r"\1", question), ids, message.guild.id if message.guild else None)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = archive_bot(interaction.client)
        answered = bot.answers.get(self.key) or self.recover(interaction.message)
        if answered is None:
            await interaction.response.send_message(
                "Sorry, I can't tell which answer this was.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        try:
            await bot.archive.record_feedback(
                answer_key=self.key,
                user_id=str(interaction.user.id),
                guild_id=str(answered.guild_id) if answered.guild_id else None,
                question=answered.question,
                article_ids=answered.article_ids,
                helpful=self.helpful,
            )
        except Exception:
            logger.exception("storing feedback failed (answer %s)", self.key)
            await interaction.response.send_message(
                "Sorry, I couldn't store your feedback.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if not self.helpful:  # the question goes to `archivebot gaps` (text, time, server; no user)
            try:
                await bot.archive.record_question(
                    answered.question,
                    kind="thumbs_down",
                    guild_id=str(answered.guild_id) if answered.guild_id else None,
                    answer_key=self.key,
                )
            except Exception:
                logger.exception("recording a 👎 question failed (answer %s)", self.key)
        await interaction.response.send_message(
            "Thanks! Your feedback was recorded." if self.helpful else "Thanks, noted: this answer didn't help.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


ARTICLE_GONE = "This article is no longer in the archive, so I can't show the quote in its context."
ARTICLE_CHANGED = (
    "This article has changed since this answer: the quoted text is no longer where it was."
    " Ask again for an answer from the current text."
)


class ContextButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID_TEMPLATE):
    """ "Context n" under an answer: shows the clicker alone the quote inside the text around it. Persistent:
    the quote's place is in the custom id (`bot.context.QuotePlace`), so clicks work across restarts."""

    def __init__(self, place: QuotePlace, number: int | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Context {number}" if number else "Context",
                style=discord.ButtonStyle.secondary,
                custom_id=place.custom_id,
            )
        )
        self.place = place

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ContextButton:
        return cls(QuotePlace(match["article_id"], int(match["start"]), int(match["end"]), match["digest"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        place = self.place
        try:
            article = await archive_bot(interaction.client).archive.article(place.article_id)
        except ArticleNotFoundError:
            article = None
        except Exception as error:
            logger.error("reading article %s for a context button failed", place.article_id, exc_info=error)
            await interaction.response.send_message(user_message(error), ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        if article is None or article.article_id != place.article_id:  # (article() also matches titles)
            text = ARTICLE_GONE
        elif not place.holds(article.body):
            text = ARTICLE_CHANGED
        else:
            shown, shortened = render_context(
                context_of(article.body, place.start, place.end), limits.EMBED_DESCRIPTION
            )
            public_url = archive_bot(interaction.client).config.web.public_url
            embed = context_embed(article, place.start, place.end, shown, shortened, public_url)
            await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


class FollowButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"archivebot:follow:(?P<key>[0-9a-f]{16})"
):
    """ "Follow" under an answer: "tell me when this story moves", a follow of the answer's question for the
    clicker, in this channel (as /follow). Persistent like 👍/👎: the answer key is in the custom id."""

    def __init__(self, key: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Follow", emoji="🔔", style=discord.ButtonStyle.secondary, custom_id=f"archivebot:follow:{key}"
            )
        )
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FollowButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = archive_bot(interaction.client)
        answered = bot.answers.get(self.key) or FeedbackButton.recover(interaction.message)
        if answered is None or not answered.question or interaction.channel_id is None:
            text = "Sorry, I can't tell which answer this was; use /follow with your question."
        else:
            try:
                made = await bot.follow_store.add_follow(
                    interaction.user.id,
                    interaction.guild_id,
                    interaction.channel_id,
                    answered.question,
                    time.time(),
                    bot.config.follows,
                )
            except FollowError as error:
                text = str(error)
            except Exception as error:
                logger.exception("a follow from an answer failed (answer %s)", self.key)
                text = user_message(error)
            else:
                text = followed_text(made)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


def answer_view(key: str, quotes: Sequence[Quote]) -> discord.ui.View:
    """Under an answer: 👍/👎, "Context n" for each quote, then Follow. Fully dynamic, so discord.py stores
    nothing."""
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(key, True))
    view.add_item(FeedbackButton(key, False))
    for number, quote in enumerate(quotes, start=1):
        place = QuotePlace.of(quote)
        if place.fits_a_button:  # an id too long for Discord's 100-character custom ids: no button
            view.add_item(ContextButton(place, number))
    view.add_item(FollowButton(key))
    return view


class PagerView(discord.ui.View):
    """◀ page ▶ buttons over a list of embeds; only the person who ran the command turns the pages."""

    timeout_seconds: float = VIEW_TIMEOUT

    def __init__(self, pages: Sequence[discord.Embed], owner_id: int) -> None:
        super().__init__(timeout=self.timeout_seconds)
        if not pages:
            raise ValueError("a pager needs at least one page")
        self.pages = list(pages)
        self.owner_id = owner_id
        self.page = 0
        self._show_page_number()

    def _show_page_number(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.pages) - 1
        self.counter.label = f"{self.page + 1}/{len(self.pages)}"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the person who ran the command can turn these pages; run it yourself to browse.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return False
        return True

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, len(self.pages) - 1))
        self._show_page_number()
        await interaction.response.edit_message(embed=self.pages[self.page], view=self, allowed_mentions=NO_MENTIONS)

    @discord.ui.button(emoji="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[PagerView]) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True)
    async def counter(
        self, interaction: discord.Interaction, button: discord.ui.Button[PagerView]
    ) -> None:  # pragma: no cover
        await interaction.response.defer()

    @discord.ui.button(emoji="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[PagerView]) -> None:
        await self._show(interaction, self.page + 1)
