"""Buttons under the bot's messages: 👍/👎 feedback on answers, and page turning for /search and /article."""

from __future__ import annotations

import logging
from typing import Sequence

import discord

from index import Archive

logger = logging.getLogger("archivebot.bot")

NO_MENTIONS = discord.AllowedMentions.none()
VIEW_TIMEOUT = 15 * 60  # seconds; Discord shows "interaction failed" on buttons clicked after this


class FeedbackView(discord.ui.View):
    """👍 / 👎 under an answer; each click is stored (one vote per user per answer; a second click changes it).

    The view lives in memory until its timeout, so memory is bounded by answers per `timeout_seconds`."""

    timeout_seconds: float = VIEW_TIMEOUT

    def __init__(
        self, archive: Archive, *, answer_key: str, question: str, article_ids: Sequence[str], guild_id: int | None,
    ) -> None:
        super().__init__(timeout=self.timeout_seconds)
        self.archive = archive
        self.answer_key = answer_key
        self.question = question
        self.article_ids = tuple(article_ids)
        self.guild_id = guild_id
        self.helpful.custom_id = f"archivebot:feedback:{answer_key}:1"
        self.unhelpful.custom_id = f"archivebot:feedback:{answer_key}:0"

    async def _record(self, interaction: discord.Interaction, helpful: bool) -> None:
        try:
            await self.archive.record_feedback(
                answer_key=self.answer_key, user_id=str(interaction.user.id),
                guild_id=str(self.guild_id) if self.guild_id else None, question=self.question,
                article_ids=self.article_ids, helpful=helpful,
            )
        except Exception:
            logger.exception("storing feedback failed (answer %s)", self.answer_key)
            await interaction.response.send_message(
                "Sorry, I couldn't store your feedback.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.response.send_message(
            "Thanks! Your feedback was recorded." if helpful else "Thanks, noted: this answer didn't help.",
            ephemeral=True, allowed_mentions=NO_MENTIONS,
        )

    @discord.ui.button(label="Helpful", emoji="👍", style=discord.ButtonStyle.secondary)
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._record(interaction, True)

    @discord.ui.button(label="Not helpful", emoji="👎", style=discord.ButtonStyle.secondary)
    async def unhelpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._record(interaction, False)


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
        self._refresh()

    def _refresh(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.pages) - 1
        self.counter.label = f"{self.page + 1}/{len(self.pages)}"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the person who ran the command can turn these pages; run it yourself to browse.",
                ephemeral=True, allowed_mentions=NO_MENTIONS,
            )
            return False
        return True

    async def _show(self, interaction: discord.Interaction, page: int) -> None:
        self.page = max(0, min(page, len(self.pages) - 1))
        self._refresh()
        await interaction.response.edit_message(embed=self.pages[self.page], view=self, allowed_mentions=NO_MENTIONS)

    @discord.ui.button(emoji="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True)
    async def counter(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:  # pragma: no cover
        await interaction.response.defer()

    @discord.ui.button(emoji="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, self.page + 1)
