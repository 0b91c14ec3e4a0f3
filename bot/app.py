"""The Discord bot: `main()` builds the archive and the configuration and hands them to `ArchiveBot`.

In the style of discord.py's `examples/advanced_startup.py`: resources are created in `main`, passed into the
bot, and `setup_hook` loads the extension `bot.cog` and syncs the slash commands (to `DISCORD_GUILD_ID` only,
when set). The extension takes the archive, configuration and answer registry from the `ArchiveBot` it is
loaded into (see `bot.cog.setup`); this module imports neither the cog nor its views.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from index import Archive, ArchivebotError, ConfigurationError, Settings, open_feed_store, open_follow_store

from .answers import AnswerRegistry
from .config import BotConfig, apply_endpoints
from .startup import quiet_libraries, set_offline_defaults
from .web.server import start_server

logger = logging.getLogger("archivebot.bot")


class ArchiveTree(app_commands.CommandTree):
    """Check failures are answered by the cog; only real errors are logged with a traceback."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return
        name = interaction.command.name if interaction.command else "?"
        logger.error("error in /%s", name, exc_info=error)


class ArchiveBot(commands.AutoShardedBot):
    """The bot and what its extension needs: the archive, the configuration, the answers for 👍/👎, the feed
    and follow stores.

    Sharded (discord.py's `AutoShardedBot`): with `ARCHIVEBOT_SHARD_COUNT` / `ARCHIVEBOT_SHARD_IDS` several
    processes split the servers between them (Discord sends a server's events to shard
    `(server id >> 22) % count` only) and share one archive; unset, Discord says how many shards to run here.
    """

    def __init__(self, archive: Archive, config: BotConfig, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: questions in ARCHIVEBOT_CHANNELS are read without a mention
        intents.members = False
        intents.presences = False
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        options.setdefault("tree_cls", ArchiveTree)
        options.setdefault("shard_count", config.shard_count)
        if config.shard_ids is not None:
            options.setdefault("shard_ids", list(config.shard_ids))
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None, **options)
        self.archive = archive
        self.config = config
        self.answers = AnswerRegistry()  # what recent answers quoted, for 👍/👎 clicks
        self.feed_store = open_feed_store(archive.settings)  # feeds and follows (docs/feeds.md)
        self.follow_store = open_follow_store(archive.settings)
        self.synced: list[app_commands.AppCommand] = []

    async def setup_hook(self) -> None:
        await self.load_extension("bot.cog")  # the commands, the question listener and the persistent buttons
        if self.config.shard_count is not None:
            logger.info("running %s (the other shards' processes answer the other servers)", self.config.shard_text())
        if not self.config.syncs_commands:
            # Commands belong to the application, not to a shard: one process (shard 0's) syncs them for all.
            logger.info("slash commands are synced by the process running shard 0")
            return
        if self.config.guild_id:
            guild = discord.Object(self.config.guild_id)
            self.tree.copy_global_to(guild=guild)
            self.synced = await self.tree.sync(guild=guild)
        else:
            self.synced = await self.tree.sync()
        logger.info(
            "synced %d slash commands%s",
            len(self.synced),
            f" to server {self.config.guild_id}" if self.config.guild_id else " globally",
        )

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: questions are handled by the cog's listener (a mention is not a command).
        return

    async def on_ready(self) -> None:
        shards = self.config.shard_text() or f"{self.shard_count or 1} shard(s)"
        logger.info(
            "connected as %s (id %s) to %d server(s), %s",
            self.user,
            self.user and self.user.id,
            len(self.guilds),
            shards,
        )


def archive_bot(client: discord.Client) -> ArchiveBot:
    """The `ArchiveBot` behind an interaction, typed: every interaction this package handles reaches one."""
    if not isinstance(client, ArchiveBot):
        raise TypeError(f"Archivebot's handlers run in an ArchiveBot, not in a {type(client).__name__}")
    return client


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Started from `archivebot run`, the CLI has configured logging already (WARNING): the bot's own
    # messages (connected, commands synced, reindex summaries) still show at the configured level.
    logging.getLogger("archivebot.bot").setLevel(getattr(logging, level, logging.INFO))
    quiet_libraries(logging.WARNING)
    logging.getLogger("discord").setLevel(logging.WARNING if level != "DEBUG" else logging.INFO)


async def run(config: BotConfig, settings: Settings) -> None:
    """Open the archive, connect, serve until cancelled or signalled, then close everything."""
    apply_endpoints(config)
    archive = await Archive.open(settings)
    try:
        if archive.built:
            await archive.warm_up()  # load the model now, not on the first question
        else:
            logger.warning("the archive is not indexed yet: run `archivebot index` or /reindex")
        async with contextlib.AsyncExitStack() as stack:
            if config.web.listen is not None:  # ARCHIVEBOT_WEB: the reading room in this process too
                try:
                    server = await start_server(archive, config.web)
                except OSError as error:  # the port is taken, or the address is not this machine's
                    where = f"{config.web.host}:{config.web.port}"
                    raise ConfigurationError(f"ARCHIVEBOT_WEB: cannot listen on {where}: {error.strerror}") from error
                stack.push_async_callback(server.close)
                logger.info("reading room on %s/", server.url)
            bot = await stack.enter_async_context(ArchiveBot(archive, config))
            loop = asyncio.get_running_loop()
            for signame in ("SIGINT", "SIGTERM"):
                # no signal handlers on Windows' event loop: Ctrl-C still stops the bot there
                with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
                    loop.add_signal_handler(getattr(signal, signame), lambda: asyncio.ensure_future(bot.close()))
            await bot.start(config.require_token())
    finally:
        await archive.close()


def main() -> int:
    """Start the Discord bot. Returns the process exit code (0 after a clean shutdown)."""
    set_offline_defaults()
    try:
        config = BotConfig.from_env()
        settings = Settings.from_env()
        config.require_token()
    except ArchivebotError as error:
        _configure_logging(BotConfig.log_level)
        logger.error("configuration: %s", error)
        return 2
    _configure_logging(config.log_level)
    try:
        asyncio.run(run(config, settings))
    except KeyboardInterrupt:
        return 0
    except discord.LoginFailure:
        logger.error("Discord refused the token (DISCORD_TOKEN): check it in the developer portal")
        return 1
    except discord.PrivilegedIntentsRequired:
        logger.error(
            "enable the Message Content intent for the bot in the developer portal (Bot → Privileged Gateway Intents)"
        )
        return 1
    except ArchivebotError as error:
        logger.error("%s", error)
        return 1
    except Exception:
        logger.exception("the bot stopped on an unexpected error")
        return 1
    return 0
