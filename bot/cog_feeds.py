"""The feed and follow commands, and the background feed task (loaded with `bot.cog`): `/feeds add|list|remove`
(admins, as /reindex), `/follow`, `/follows`, `/unfollow`. Thin on purpose: the engine polls, indexes and
matches (`index.poll_and_index`), `bot.feeds.FeedTask` runs the cycles, `bot.follows` says it on Discord."""

from __future__ import annotations

import logging
import time
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from index import (
    Archive,
    ArchivebotError,
    FeedStore,
    FollowError,
    FollowMatch,
    FollowStore,
    checked_feed_url,
)

from . import discord_format as fmt
from . import limits
from .admin import admin_check, is_archive_admin, refusal_text
from .config import BotConfig
from .feeds import FeedTask
from .follows import FollowListView, followed_text, follows_text, post_notice
from .reindex import ReindexJob

logger = logging.getLogger("archivebot.bot")

NO_MENTIONS = discord.AllowedMentions.none()
Url = app_commands.Range[str, 1, 2000]


class FeedsCog(commands.Cog, name="Feeds"):
    """Feeds that keep the archive current, and follows that tell readers when their story moves."""

    feeds = app_commands.Group(
        name="feeds",
        description="Admin: the RSS and Atom feeds that keep the archive current",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(
        self,
        bot: commands.Bot,
        archive: Archive,
        config: BotConfig,
        feed_store: FeedStore,
        follow_store: FollowStore,
        reindex_job: ReindexJob,
    ) -> None:
        self.bot = bot
        self.config = config
        self.feed_store = feed_store
        self.follow_store = follow_store
        self.task = FeedTask(
            archive,
            feed_store,
            follow_store,
            config.feeds,
            self._notify,
            reindex_running=lambda: reindex_job.running,
            interval=config.feed_cycle_seconds,
            max_quotes=config.max_quotes,
        )
        reindex_job.on_indexed = self.task.indexed  # /reindex's new articles are matched against follows too

    async def cog_load(self) -> None:
        self.task.start(self.bot.wait_until_ready)

    async def cog_unload(self) -> None:
        await self.task.stop()
        for store in (self.feed_store, self.follow_store):  # their database connections
            await store.close()

    async def _notify(self, match: FollowMatch) -> None:
        await post_notice(self.bot, match, self.config.web.public_url)

    async def _tell(self, interaction: discord.Interaction, text: str) -> None:
        text = limits.trim(text, limits.CONTENT)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            logger.warning("could not answer /%s", interaction.command and interaction.command.name, exc_info=True)

    # ---- admin: feeds -------------------------------------------------------------------------------

    @feeds.command(name="add")
    @app_commands.check(admin_check)
    @app_commands.describe(url="The feed's address (RSS or Atom, http or https)", interval="Minutes between polls")
    async def feeds_add(
        self, interaction: discord.Interaction, url: Url, interval: app_commands.Range[int, 1, 10080] | None = None
    ) -> None:
        """Admin: add a feed; its new articles are fetched, indexed and answerable within a few minutes."""
        try:
            url = checked_feed_url(url)
        except ArchivebotError as error:
            await self._tell(interaction, f"Not added: {error}.")
            return
        seconds = 60.0 * interval if interval else self.config.feeds.interval_seconds
        known = {feed.url for feed in await self.feed_store.feeds()}
        feed = await self.feed_store.add_feed(url, seconds)
        logger.info("feed %s added by user %s", url, interaction.user.id)
        verb = "is already polled" if url in known else "added; polled"
        await self._tell(interaction, f"<{feed.url}> {verb} every {feed.interval_seconds / 60:g} minutes.")

    @feeds.command(name="list")
    @app_commands.check(admin_check)
    async def feeds_list(self, interaction: discord.Interaction) -> None:
        """Admin: the feeds, their interval and which fail."""
        await self._tell(interaction, fmt.feeds_text(await self.feed_store.feeds()))

    @feeds.command(name="remove")
    @app_commands.check(admin_check)
    @app_commands.describe(url="The feed's address, as /feeds list shows it")
    async def feeds_remove(self, interaction: discord.Interaction, url: Url) -> None:
        """Admin: stop polling a feed (its articles stay in the archive)."""
        removed = await self.feed_store.remove_feed(url.strip())
        await self._tell(interaction, f"Removed <{url.strip()}>." if removed else "No such feed; see /feeds list.")

    # ---- follows ------------------------------------------------------------------------------------

    @app_commands.command(name="follow")
    @app_commands.describe(query="Words or a question to follow, e.g. Borussia Dortmund debts")
    async def follow(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 300]) -> None:
        """Be told here when a new article answers this; /follows lists yours."""
        channel_id = interaction.channel_id
        if channel_id is None:
            await self._tell(interaction, "Follows can't be made here.")
            return
        try:
            made = await self.follow_store.add_follow(
                interaction.user.id, interaction.guild_id, channel_id, query, time.time(), self.config.follows
            )
        except FollowError as error:
            await self._tell(interaction, str(error))
            return
        await self._tell(interaction, followed_text(made))

    @app_commands.command(name="follows")
    @app_commands.describe(channel="Admins: turn follows in this channel off or back on")
    async def follows(self, interaction: discord.Interaction, channel: Literal["off", "on"] | None = None) -> None:
        """Your follows, with buttons to remove them (admins: channel off/on)."""
        if channel is not None:
            await self._channel_follows(interaction, channel == "on")
            return
        mine = await self.follow_store.follows_of(interaction.user.id)
        view = FollowListView(self.follow_store, mine, interaction.user.id) if mine else discord.utils.MISSING
        await interaction.response.send_message(
            follows_text(mine), view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    async def _channel_follows(self, interaction: discord.Interaction, allowed: bool) -> None:
        admin = interaction.guild is not None and is_archive_admin(
            interaction.user, interaction.permissions, self.config
        )
        if not admin or interaction.channel_id is None:
            await self._tell(interaction, refusal_text(self.config))
            return
        await self.follow_store.set_channel_follows(interaction.channel_id, allowed)
        logger.info(
            "follows %s in channel %s by user %s",
            "on" if allowed else "off",
            interaction.channel_id,
            interaction.user.id,
        )
        state = "on: anyone can /follow here" if allowed else "off: /follow is refused here (existing follows stay)"
        await self._tell(interaction, f"Follows in this channel are {state}.")

    @app_commands.command(name="unfollow")
    @app_commands.describe(id="The follow's id, as /follows shows it")
    async def unfollow(self, interaction: discord.Interaction, id: app_commands.Range[str, 1, 20]) -> None:
        """Stop one of your follows."""
        removed = await self.follow_store.remove_follow(id.strip().strip("`"), owner_id=interaction.user.id)
        await self._tell(interaction, "Stopped." if removed else "You have no follow with that id; see /follows.")

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):  # NotArchiveAdmin, or /feeds outside a server
            logger.info("refused %s to user %s", interaction.command and interaction.command.name, interaction.user.id)
            await self._tell(interaction, refusal_text(self.config))
            return
        logger.error("error in /%s", interaction.command and interaction.command.name, exc_info=error)
        await self._tell(interaction, fmt.user_message(getattr(error, "original", error)))
