"""The Discord command layer: questions in channels, slash commands, the admin reindex.

Thin on purpose: the engine (`index.Archive`) answers, `bot.format` renders, `bot.ratelimit` limits; this
module only wires them to Discord. Every send passes `AllowedMentions.none()`, so no quote can ping anyone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import (
    Answer,
    Archive,
    ArchivebotError,
    ArticleNotFoundError,
    IndexBusyError,
    IndexNotBuiltError,
    Progress,
    QuestionError,
)

from . import format as fmt
from . import limits
from .config import BotConfig
from .ratelimit import RateLimiter, Verdict
from .views import NO_MENTIONS, PagerView, feedback_view

if TYPE_CHECKING:
    from .app import ArchiveBot

logger = logging.getLogger("archivebot.bot")

HELP_TEXT = (
    "Ask me about the news archive, e.g. “@Archivebot What did Obama propose to North Korea?” — I answer with"
    " verbatim quotes and their sources. Slash commands: /ask, /search, /article, /stats."
)


def user_message(error: BaseException) -> str:
    """One short sentence for the user; the details go to the log."""
    if isinstance(error, (QuestionError, ArticleNotFoundError)):
        return limits.trim(f"Sorry: {error}.".replace("..", "."), 300)
    if isinstance(error, IndexNotBuiltError):
        return "The archive hasn't been indexed yet; an admin can run /reindex."
    if isinstance(error, IndexBusyError):
        return "A reindex is already running; try again when it has finished."
    if isinstance(error, ArchivebotError):
        return "The archive can't answer right now; the problem has been logged for the admins."
    return "Sorry, something went wrong on my side; it has been logged."


class NotArchiveAdmin(app_commands.CheckFailure):
    """The member may not run admin commands."""


def is_archive_admin(member: discord.abc.User, permissions: discord.Permissions, config: BotConfig) -> bool:
    """Manage Server (or Administrator) permission, plus one of ARCHIVEBOT_ADMIN_ROLE_IDS when that is set."""
    if not (permissions.manage_guild or permissions.administrator):
        return False
    if config.admin_role_ids:
        roles = {role.id for role in getattr(member, "roles", [])}
        return bool(roles & config.admin_role_ids)
    return True


def _admin_check(interaction: discord.Interaction) -> bool:
    config: BotConfig = interaction.client.config  # type: ignore[attr-defined]
    if interaction.guild is None or not is_archive_admin(interaction.user, interaction.permissions, config):
        raise NotArchiveAdmin("admin only")
    return True


class ArchiveCog(commands.Cog, name="Archive"):
    """Answers questions about the news archive."""

    def __init__(self, bot: ArchiveBot, archive: Archive, config: BotConfig) -> None:
        self.bot = bot
        self.archive = archive
        self.config = config
        self.limiter = RateLimiter(config.user_rate, config.guild_rate)
        self._reindex_task: asyncio.Task | None = None
        self._reindex_progress: Progress | None = None

    # ---- shared helpers -------------------------------------------------------------------------------

    def _feedback_view(self, answer: Answer, guild_id: int | None) -> discord.ui.View:
        key = self.bot.answers.add(
            answer.question, [q.article_id for q in answer.quotes] or [h.article_id for h in answer.closest], guild_id
        )
        return feedback_view(key)

    async def _rate_limited(self, interaction: discord.Interaction) -> bool:
        """True (after telling the user, ephemerally) when the user or server is over its limit."""
        verdict = self.limiter.check(interaction.user.id, interaction.guild_id)
        if verdict.allowed:
            return False
        await interaction.response.send_message(verdict.message(), ephemeral=True, allowed_mentions=NO_MENTIONS)
        return True

    async def _fail(self, interaction: discord.Interaction, error: BaseException, what: str) -> None:
        if isinstance(error, (QuestionError, ArticleNotFoundError)):
            logger.info("%s: %s", what, error)
        else:
            logger.error("%s failed", what, exc_info=error)
        text = user_message(error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            logger.warning("could not tell the user about the failure of %s", what, exc_info=True)

    # ---- questions in channels ----------------------------------------------------------------------

    def _question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None when the message is not for the bot."""
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id:
            return None
        # The bot's own role (people often pick it from the mention list) counts as mentioning the bot.
        own_roles = [role.id for role in message.role_mentions if role.tags is not None and role.tags.bot_id == me.id]
        mentioned = bool(own_roles) or any(user.id == me.id for user in message.mentions)
        in_dm = message.guild is None
        parent_id = getattr(message.channel, "parent_id", None) if isinstance(message.channel, discord.Thread) else None
        listed = message.channel.id in self.config.channels or parent_id in self.config.channels
        if not (mentioned or in_dm or listed):
            return None
        text = re.sub(rf"<@!?{me.id}>", " ", message.content or "")
        for role_id in own_roles:
            text = text.replace(f"<@&{role_id}>", " ")
        text = " ".join(text.split())
        if not text and not (mentioned or in_dm):
            return None  # an image or sticker posted in a listed channel is not a question
        return text

    async def _ask_typing(self, channel: discord.abc.Messageable, question: str) -> Answer:
        """Answer while showing "typing…"; a channel where the bot may not type still gets its answer."""
        typing = channel.typing()
        try:
            await typing.__aenter__()
        except discord.HTTPException:
            logger.debug("could not show typing", exc_info=True)
            return await self.archive.ask(question, max_quotes=self.config.max_quotes)
        try:
            return await self.archive.ask(question, max_quotes=self.config.max_quotes)
        finally:
            await typing.__aexit__(None, None, None)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = self._question_in(message)
        if question is None:
            return
        verdict: Verdict = self.limiter.check(
            message.author.id, message.guild.id if message.guild else None, warn_once=True
        )
        if not verdict.allowed:
            if verdict.first_refusal:  # one warning per wait, so a flood doesn't get a flood of warnings
                await message.reply(
                    verdict.message(),
                    allowed_mentions=NO_MENTIONS,
                    mention_author=False,
                    delete_after=max(5.0, min(verdict.retry_after, 60.0)),
                )
            return
        if not question:
            await message.reply(HELP_TEXT, allowed_mentions=NO_MENTIONS, mention_author=False)
            return
        try:
            answer = await self._ask_typing(message.channel, question)
        except Exception as error:
            if isinstance(error, (QuestionError,)):
                logger.info("question refused: %s", error)
            else:
                logger.error("answering a message failed", exc_info=error)
            await message.reply(user_message(error), allowed_mentions=NO_MENTIONS, mention_author=False)
            return
        embed = fmt.answer_embed(answer)
        view = self._feedback_view(answer, message.guild.id if message.guild else None)
        if self.config.threads and isinstance(message.channel, discord.TextChannel):
            try:
                thread = await message.create_thread(name=limits.trim(question, limits.THREAD_NAME) or "Answer")
            except discord.HTTPException:
                logger.warning("could not open a thread; answering in the channel", exc_info=True)
            else:
                await thread.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
                return
        await message.reply(embed=embed, view=view, allowed_mentions=NO_MENTIONS, mention_author=False)

    # ---- slash commands -----------------------------------------------------------------------------

    @app_commands.command(
        name="ask", description="Ask a question; the answer quotes the archive verbatim, with sources."
    )
    @app_commands.describe(
        question="Your question, e.g. What did Obama propose to North Korea?",
        source="Only quote articles whose source contains this text (e.g. Washington Times)",
        after="Only articles published on or after this date (YYYY-MM-DD)",
        before="Only articles published on or before this date (YYYY-MM-DD)",
        private="Show the answer only to you",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 1000],
        source: app_commands.Range[str, 1, 100] | None = None,
        after: app_commands.Range[str, 1, 20] | None = None,
        before: app_commands.Range[str, 1, 20] | None = None,
        private: bool = False,
    ) -> None:
        if await self._rate_limited(interaction):
            return
        await interaction.response.defer(ephemeral=private, thinking=True)
        try:
            answer = await self.archive.ask(
                question, source=source, after=after, before=before, max_quotes=self.config.max_quotes
            )
        except Exception as error:
            await self._fail(interaction, error, "/ask")
            return
        await interaction.followup.send(
            embed=fmt.answer_embed(answer),
            view=self._feedback_view(answer, interaction.guild_id),
            ephemeral=private,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="search", description="List the articles that best match some words.")
    @app_commands.describe(
        query="Words to look for, e.g. North Korea liaison office",
        source="Only articles whose source contains this text",
        after="Only articles published on or after this date (YYYY-MM-DD)",
        before="Only articles published on or before this date (YYYY-MM-DD)",
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 1000],
        source: app_commands.Range[str, 1, 100] | None = None,
        after: app_commands.Range[str, 1, 20] | None = None,
        before: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        if await self._rate_limited(interaction):
            return
        await interaction.response.defer(thinking=True)
        try:
            hits = await self.archive.search(query, source=source, after=after, before=before, limit=25)
        except Exception as error:
            await self._fail(interaction, error, "/search")
            return
        await self._send_pages(interaction, fmt.search_pages(query, hits))

    @app_commands.command(name="article", description="Show one article: where it comes from and its text.")
    @app_commands.describe(id_or_title="The article's id (from an answer or /search), or start typing its title")
    async def article(self, interaction: discord.Interaction, id_or_title: app_commands.Range[str, 1, 300]) -> None:
        if await self._rate_limited(interaction):
            return
        await interaction.response.defer(thinking=True)
        try:
            found = await self.archive.article(id_or_title)
        except Exception as error:
            await self._fail(interaction, error, "/article")
            return
        await self._send_pages(interaction, fmt.article_pages(found))

    @article.autocomplete("id_or_title")
    async def article_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            hits = await self.archive.suggest_titles(current, limit=limits.AUTOCOMPLETE_CHOICES)
        except Exception:
            logger.exception("title autocomplete failed")
            return []
        choices = []
        for hit in hits[: limits.AUTOCOMPLETE_CHOICES]:
            label = " · ".join(part for part in (" ".join(hit.title.split()), hit.date) if part)
            choices.append(
                app_commands.Choice(
                    name=limits.trim(label, limits.CHOICE_NAME) or hit.article_id, value=hit.article_id[:100]
                )
            )
        return choices

    async def _send_pages(self, interaction: discord.Interaction, pages: list[discord.Embed]) -> None:
        if len(pages) > 1:
            await interaction.followup.send(
                embed=pages[0], view=PagerView(pages, interaction.user.id), allowed_mentions=NO_MENTIONS
            )
        else:
            await interaction.followup.send(embed=pages[0], allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="stats", description="How big the archive is, the model, the last reindex and feedback.")
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        try:
            figures = await self.archive.stats()
        except Exception as error:
            await self._fail(interaction, error, "/stats")
            return
        await interaction.followup.send(embed=fmt.stats_embed(figures, self.reindexing), allowed_mentions=NO_MENTIONS)

    # ---- admin: reindex -----------------------------------------------------------------------------

    @property
    def reindexing(self) -> bool:
        return self.archive.reindexing or (self._reindex_task is not None and not self._reindex_task.done())

    @app_commands.command(name="reindex", description="Admin: bring the index up to date with the archive folders.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(_admin_check)
    async def reindex(self, interaction: discord.Interaction) -> None:
        if self.reindexing:
            progress = self._reindex_progress
            where = (
                f" ({fmt.PHASES.get(progress.phase, progress.phase).lower()}, {progress.done:,}/{progress.total:,})"
                if progress
                else ""
            )
            await interaction.response.send_message(
                f"A reindex is already running{where}; I'll post its summary when it finishes. Please wait for it.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.send_message("Reindex starting…", allowed_mentions=NO_MENTIONS)
        self._reindex_progress = None
        self._reindex_task = asyncio.create_task(self._run_reindex(interaction), name="archivebot-reindex")

    async def _run_reindex(self, interaction: discord.Interaction) -> None:
        throttle = fmt.ProgressThrottle(self.config.progress_interval)
        edits: set[asyncio.Task] = set()
        finished = False
        editable = [True]  # False once an edit failed (the interaction token lasts 15 minutes): stop trying

        async def edit(text: str) -> None:
            try:
                await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as error:
                editable[0] = False
                logger.warning(
                    "could not edit the reindex progress message (%s); the summary goes to the channel", error
                )

        loop = asyncio.get_running_loop()

        def show(progress: Progress) -> None:  # on the event loop
            if finished:
                return
            self._reindex_progress = progress
            if not editable[0] or any(not task.done() for task in edits) or not throttle.due(progress):
                return
            task = loop.create_task(edit(fmt.progress_text(progress)))
            edits.add(task)
            task.add_done_callback(edits.discard)

        def on_progress(progress: Progress) -> None:
            # The engine reports from the event loop or from its worker threads: hop onto the loop either way.
            loop.call_soon_threadsafe(show, progress)

        try:
            summary = await self.archive.reindex(progress=on_progress)
        except Exception as error:
            if isinstance(error, IndexBusyError):
                text = "Another reindex (perhaps from the command line) is running; try again when it has finished."
                logger.info("reindex refused: %s", error)
            else:
                logger.error("reindex failed", exc_info=error)
                text = "The reindex failed; the details are in the bot's log. Questions are still answered from the previous index."
        else:
            logger.info("reindex done: %s", summary.to_dict())
            text = fmt.summary_text(summary)
        finally:
            self._reindex_progress = None
            finished = True
        await asyncio.sleep(0)  # let progress reports queued from worker threads run (they are ignored now)
        if edits:
            await asyncio.gather(*edits, return_exceptions=True)
        try:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            logger.warning("could not edit the reindex message; posting the summary in the channel", exc_info=True)
            channel = interaction.channel
            if isinstance(channel, discord.abc.Messageable):
                try:
                    await channel.send(text, allowed_mentions=NO_MENTIONS)
                except discord.HTTPException:
                    logger.error("could not post the reindex summary", exc_info=True)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, NotArchiveAdmin) or isinstance(error, app_commands.CheckFailure):
            text = (
                "Only server admins (Manage Server"
                + (" and an admin role" if self.config.admin_role_ids else "")
                + ") can run this command."
            )
            logger.info("refused %s to user %s", interaction.command and interaction.command.name, interaction.user.id)
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        original = getattr(error, "original", error)
        await self._fail(interaction, original, f"/{interaction.command.name if interaction.command else '?'}")

    async def cog_unload(self) -> None:
        if self._reindex_task is not None and not self._reindex_task.done():
            self._reindex_task.cancel()
