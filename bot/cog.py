"""The Discord command layer: questions in channels, slash commands, the admin reindex (extension `bot.cog`).

Thin on purpose: the engine (`index.Archive`) answers, `bot.discord_format` renders, `bot.ratelimit` limits,
`bot.reindex` runs a reindex; this module only wires them to Discord. Every send passes
`AllowedMentions.none()`, so no quote can ping anyone. Each command's docstring is its slash-command
description.
"""

from __future__ import annotations

import contextlib
import logging

import discord
from discord import app_commands
from discord.ext import commands

from index import Answer, Archive, ArticleNotFoundError, QuestionError, Turn, feed_health

from . import discord_format as fmt
from . import limits
from .admin import admin_check, refusal_text
from .answers import AnswerRegistry
from .app import archive_bot
from .cog_feeds import FeedsCog
from .config import BotConfig
from .conversations import Conversations, turn_of
from .messages import history_of, in_bot_thread, question_in
from .ratelimit import RateLimiter
from .reindex import BUSY_ELSEWHERE, ReindexJob
from .text import reindex_status_text
from .views import NO_MENTIONS, ContextButton, FeedbackButton, FollowButton, PagerView, answer_view

logger = logging.getLogger("archivebot.bot")

# The options /ask and /search share: their types (lengths Discord enforces) and descriptions.
Source = app_commands.Range[str, 1, 100]
Day = app_commands.Range[str, 1, 20]
FILTER_DESCRIPTIONS = {
    "after": "Only articles published on or after this date (YYYY-MM-DD)",
    "before": "Only articles published on or before this date (YYYY-MM-DD)",
}


async def setup(bot: commands.Bot) -> None:
    """The extension's entry point (`await bot.load_extension("bot.cog")`): the cog, given the resources of
    the `ArchiveBot` it is loaded into, and the persistent 👍/👎 and "Context n" buttons (they work under
    answers sent before a restart)."""
    resources = archive_bot(bot)
    cog = ArchiveCog(bot, resources.archive, resources.config, resources.answers)
    await bot.add_cog(cog)
    feeds = FeedsCog(
        bot, resources.archive, resources.config, resources.feed_store, resources.follow_store, cog.reindex_job
    )
    await bot.add_cog(feeds)
    bot.add_dynamic_items(FeedbackButton, ContextButton, FollowButton)


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(FeedbackButton, ContextButton, FollowButton)


class ArchiveCog(commands.Cog, name="Archive"):
    """Answers questions about the news archive."""

    def __init__(self, bot: commands.Bot, archive: Archive, config: BotConfig, answers: AnswerRegistry) -> None:
        self.bot = bot
        self.archive = archive
        self.config = config
        self.answers = answers  # what recent answers quoted, for 👍/👎 clicks
        self.conversations = Conversations()  # earlier turns of the bot's threads and reply chains (bounded)
        self.limiter = RateLimiter(config.user_rate, config.guild_rate)
        self.reindex_job = ReindexJob(archive, config.progress_interval)

    # ---- shared helpers -------------------------------------------------------------------------------

    def _answer_view(self, answer: Answer, guild_id: int | None) -> discord.ui.View:
        quoted = [quote.article_id for quote in answer.quotes] or [hit.article_id for hit in answer.closest]
        return answer_view(self.answers.add(answer.question, quoted, guild_id), answer.quotes)

    async def _record_declined(self, answer: Answer, guild_id: int | None) -> None:
        """A question the archive could not answer goes to `archivebot gaps` (text, time, server; no user)."""
        if answer.answered:
            return
        try:
            await self.archive.record_question(
                answer.question, kind="not_found", guild_id=str(guild_id) if guild_id else None
            )
        except Exception:
            logger.exception("recording a declined question failed")

    async def _rate_limited(self, interaction: discord.Interaction) -> bool:
        """True (after telling the user, ephemerally) when the user or server is over its limit."""
        verdict = self.limiter.check(interaction.user.id, interaction.guild_id)
        if verdict.allowed:
            return False
        await interaction.response.send_message(verdict.message(), ephemeral=True, allowed_mentions=NO_MENTIONS)
        return True

    async def _tell(self, interaction: discord.Interaction, text: str, what: str) -> None:
        """An ephemeral message to the user, as the response or, once responded, as a follow-up."""
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            logger.warning("could not tell the user about %s", what, exc_info=True)

    async def _fail(self, interaction: discord.Interaction, error: BaseException, what: str) -> None:
        if isinstance(error, (QuestionError, ArticleNotFoundError)):
            logger.info("%s: %s", what, error)
        else:
            logger.error("%s failed", what, exc_info=error)
        await self._tell(interaction, fmt.user_message(error), f"the failure of {what}")

    async def _send_pages(self, interaction: discord.Interaction, pages: list[discord.Embed]) -> None:
        if len(pages) > 1:
            await interaction.followup.send(
                embed=pages[0], view=PagerView(pages, interaction.user.id), allowed_mentions=NO_MENTIONS
            )
        else:
            await interaction.followup.send(embed=pages[0], allowed_mentions=NO_MENTIONS)

    # ---- questions in channels ----------------------------------------------------------------------

    async def _ask_typing(
        self, channel: discord.abc.Messageable, question: str, history: list[Turn] | None = None
    ) -> Answer:
        """Answer while showing "typing…"; a channel where the bot may not type still gets its answer."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(channel.typing())
            except discord.HTTPException:
                logger.debug("could not show typing", exc_info=True)
            return await self.archive.ask(question, max_quotes=self.config.max_quotes, history=history or [])

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = question_in(message, self.bot.user, self.config.channels, self.conversations)
        if question is None:
            return
        verdict = self.limiter.check(message.author.id, message.guild.id if message.guild else None, warn_once=True)
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
            await message.reply(fmt.HELP_TEXT, allowed_mentions=NO_MENTIONS, mention_author=False)
            return
        history = history_of(message, self.bot.user, self.conversations)
        try:
            answer = await self._ask_typing(message.channel, question, history)
        except Exception as error:
            if isinstance(error, QuestionError):
                logger.info("question refused: %s", error)
            else:
                logger.error("answering a message failed", exc_info=error)
            await message.reply(fmt.user_message(error), allowed_mentions=NO_MENTIONS, mention_author=False)
            return
        await self._record_declined(answer, message.guild.id if message.guild else None)  # before the reply, as /ask
        sent, conversation = await self._post_answer(message, question, answer)
        # The conversation so far, for a reply to this answer and for the next question in its thread.
        turns = [*history, turn_of(answer, question)]
        self.conversations.record(sent.id, turns)
        if conversation is not None:
            self.conversations.record(conversation, turns)

    async def _post_answer(
        self, message: discord.Message, question: str, answer: Answer
    ) -> tuple[discord.Message, int | None]:
        """The answer as a reply, or in a new thread on the question when ARCHIVEBOT_THREADS is on. Returns the
        message sent and the id of the bot's thread it went to (None: not in a thread of the bot's)."""
        embed = fmt.answer_embed(answer, self.config.web.public_url)
        view = self._answer_view(answer, message.guild.id if message.guild else None)
        if self.config.threads and isinstance(message.channel, discord.TextChannel):
            try:
                thread = await message.create_thread(name=limits.trim(question, limits.THREAD_NAME) or "Answer")
            except discord.HTTPException:
                logger.warning("could not open a thread; answering in the channel", exc_info=True)
            else:
                return await thread.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS), thread.id
        sent = await message.reply(embed=embed, view=view, allowed_mentions=NO_MENTIONS, mention_author=False)
        return sent, message.channel.id if in_bot_thread(message.channel, self.bot.user, self.conversations) else None

    # ---- slash commands -----------------------------------------------------------------------------

    @app_commands.command(name="ask")
    @app_commands.describe(
        question="Your question, e.g. What did Obama propose to North Korea?",
        source="Only quote articles whose source contains this text (e.g. Washington Times)",
        private="Show the answer only to you",
        **FILTER_DESCRIPTIONS,
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 1000],
        source: Source | None = None,
        after: Day | None = None,
        before: Day | None = None,
        private: bool = False,
    ) -> None:
        """Ask a question; the answer quotes the archive verbatim, with sources."""
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
        # Recorded before the reply: once the user has it the handler may be cut short (a shutdown), and a
        # write still in flight then was lost (and warned "Event loop is closed" in the e2e tests).
        await self._record_declined(answer, interaction.guild_id)
        await interaction.followup.send(
            embed=fmt.answer_embed(answer, self.config.web.public_url),
            view=self._answer_view(answer, interaction.guild_id),
            ephemeral=private,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="search")
    @app_commands.describe(
        query="Words to look for, e.g. North Korea liaison office",
        source="Only articles whose source contains this text",
        **FILTER_DESCRIPTIONS,
    )
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 1000],
        source: Source | None = None,
        after: Day | None = None,
        before: Day | None = None,
    ) -> None:
        """List the articles that best match some words."""
        if await self._rate_limited(interaction):
            return
        await interaction.response.defer(thinking=True)
        try:
            hits = await self.archive.search(query, source=source, after=after, before=before, limit=25)
        except Exception as error:
            await self._fail(interaction, error, "/search")
            return
        await self._send_pages(interaction, fmt.search_pages(query, hits))

    @app_commands.command(name="article")
    @app_commands.describe(id_or_title="The article's id (from an answer or /search), or start typing its title")
    async def article(self, interaction: discord.Interaction, id_or_title: app_commands.Range[str, 1, 300]) -> None:
        """Show one article: where it comes from and its text."""
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
        choices: list[app_commands.Choice[str]] = []
        for hit in hits[: limits.AUTOCOMPLETE_CHOICES]:
            label = " · ".join(part for part in (" ".join(hit.title.split()), hit.date) if part)
            choices.append(
                app_commands.Choice(
                    name=limits.trim(label, limits.CHOICE_NAME) or hit.article_id, value=hit.article_id[:100]
                )
            )
        return choices

    @app_commands.command(name="stats")
    async def stats(self, interaction: discord.Interaction) -> None:
        """How big the archive is, the model, the last reindex, feedback and feeds."""
        await interaction.response.defer(thinking=True)
        try:
            figures = await self.archive.stats()
        except Exception as error:
            await self._fail(interaction, error, "/stats")
            return
        running = await self.archive.reindex_status()  # this process's reindex, or another's on the archive
        try:
            feeds = await feed_health(archive_bot(self.bot).feed_store)
        except Exception:  # the feed store can't be read: the figures still go out
            logger.warning("could not read the feeds for /stats", exc_info=True)
            feeds = None
        embed = fmt.stats_embed(figures, self.reindex_job.running, running, feeds)
        await interaction.followup.send(embed=embed, allowed_mentions=NO_MENTIONS)

    # ---- admin: reindex -----------------------------------------------------------------------------

    @app_commands.command(name="reindex")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(admin_check)
    @app_commands.describe(allow_removal="Let it remove more than half of the indexed articles (default: stop)")
    async def reindex(self, interaction: discord.Interaction, allow_removal: bool = False) -> None:
        """Admin: bring the index up to date with the archive folders."""
        if self.reindex_job.running:
            await interaction.response.send_message(
                self.reindex_job.busy_text(), ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        running = await self.archive.reindex_status()  # e.g. started in another bot process or the CLI
        if running is not None:
            text = f"{BUSY_ELSEWHERE} Reindex in progress: {reindex_status_text(running)}."
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        await interaction.response.send_message("Reindex starting…", allowed_mentions=NO_MENTIONS)

        async def edit(text: str) -> bool:
            try:
                await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as error:
                logger.warning("could not edit the reindex message (%s); its summary goes to the channel", error)
                return False
            return True

        async def post(text: str) -> bool:
            channel = interaction.channel
            if not isinstance(channel, discord.abc.Messageable):
                return False
            try:
                await channel.send(text, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                logger.error("could not post the reindex summary", exc_info=True)
                return False
            return True

        self.reindex_job.start(edit, post, allow_removal=allow_removal)

    @app_commands.command(name="gaps")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(admin_check)
    @app_commands.describe(since="Only questions asked on or after this day (YYYY-MM-DD)")
    async def gaps(self, interaction: discord.Interaction, since: Day | None = None) -> None:
        """Admin: questions the archive couldn't answer and answers that got 👎, grouped, most asked first."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            report = await self.archive.gaps(since)
        except Exception as error:
            await self._fail(interaction, error, "/gaps")
            return
        pages = fmt.gaps_pages(report)
        view = PagerView(pages, interaction.user.id) if len(pages) > 1 else discord.utils.MISSING
        await interaction.followup.send(embed=pages[0], view=view, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):  # NotArchiveAdmin, or an admin command outside a server
            logger.info("refused %s to user %s", interaction.command and interaction.command.name, interaction.user.id)
            await self._tell(interaction, refusal_text(self.config), "a refused command")
            return
        original = getattr(error, "original", error)
        await self._fail(interaction, original, f"/{interaction.command.name if interaction.command else '?'}")

    async def cog_unload(self) -> None:
        self.reindex_job.cancel()
