"""The Discord bot's configuration, read once from the environment (and `.env`) into a frozen dataclass.

The token is kept out of `repr()` so it never reaches a log line or a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from index import ConfigurationError, Environment, FeedSettings, FollowSettings

from .ratelimit import RateLimit
from .web.settings import WebSettings, max_quotes

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


def _shards(count_raw: str, ids_raw: str) -> tuple[int | None, tuple[int, ...] | None]:
    """`ARCHIVEBOT_SHARD_COUNT` / `ARCHIVEBOT_SHARD_IDS`: (None, None) lets discord.py ask Discord how many
    shards to run, all in this process; a count alone runs all of them here; ids pick this process's share."""
    count_raw, ids_raw = count_raw.strip(), ids_raw.strip()
    if not count_raw:
        if ids_raw:
            raise ConfigurationError("ARCHIVEBOT_SHARD_IDS needs ARCHIVEBOT_SHARD_COUNT (the shards of all processes)")
        return None, None
    if not count_raw.isdigit() or int(count_raw) < 1:
        raise ConfigurationError(f"ARCHIVEBOT_SHARD_COUNT must be a whole number of at least 1, got {count_raw!r}")
    count = int(count_raw)
    if not ids_raw:
        return count, None
    values = [part.strip() for part in ids_raw.replace(";", ",").replace(" ", ",").split(",") if part.strip()]
    if not values or not all(value.isdigit() for value in values):
        raise ConfigurationError(f"ARCHIVEBOT_SHARD_IDS must be comma-separated shard numbers, got {ids_raw!r}")
    ids = [int(value) for value in values]
    outside = sorted({number for number in ids if number >= count})
    if outside:
        raise ConfigurationError(
            f"ARCHIVEBOT_SHARD_IDS {', '.join(map(str, outside))} out of range: with ARCHIVEBOT_SHARD_COUNT={count}"
            f" shards are numbered 0 to {count - 1}"
        )
    repeated = sorted({number for number in ids if ids.count(number) > 1})
    if repeated:
        raise ConfigurationError(f"ARCHIVEBOT_SHARD_IDS lists shard {', '.join(map(str, repeated))} more than once")
    return count, tuple(sorted(ids))


@dataclass(frozen=True)
class BotConfig:
    """Everything the Discord front end reads from the environment. Build with `BotConfig.from_env()`."""

    token: str = field(default="", repr=False)
    guild_id: int | None = None  # sync the slash commands to this server only (instant; global sync can take an hour)
    channels: frozenset[int] = frozenset()  # channels where every message is a question (no mention needed)
    admin_role_ids: frozenset[int] = frozenset()  # when set, /reindex also needs one of these roles
    threads: bool = False  # answer mentions in a new thread rather than in the channel
    user_rate: RateLimit = RateLimit(5, 60.0)
    guild_rate: RateLimit = RateLimit(30, 60.0)
    api_base: str = DISCORD_API_BASE
    gateway_url: str = DISCORD_GATEWAY_URL
    progress_interval: float = 2.0  # seconds between two edits of the /reindex progress message
    max_quotes: int = 3
    web: WebSettings = WebSettings()  # ARCHIVEBOT_WEB (serve the reading room too), ARCHIVEBOT_PUBLIC_URL (links)
    # discord.py sharding: several processes (one database) split the servers; None lets Discord decide
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None  # this process's shards (None: all of them)
    log_level: str = "INFO"  # ARCHIVEBOT_LOG_LEVEL: the bot's own messages (libraries stay at WARNING)
    feeds: FeedSettings = FeedSettings()  # ARCHIVEBOT_FEEDS* (docs/feeds.md)
    follows: FollowSettings = FollowSettings()  # ARCHIVEBOT_FOLLOWS_PER_USER / _PER_SERVER
    feed_cycle_seconds: float = 60.0  # how often the bot polls its due feeds (each feed has its own interval)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> BotConfig:
        env = Environment.read(environ, load_dotenv=load_dotenv)
        guild_raw = env.text("DISCORD_GUILD_ID")
        if guild_raw and not guild_raw.isdigit():
            raise ConfigurationError(f"DISCORD_GUILD_ID must be a numeric server id, got {guild_raw!r}")
        shard_count, shard_ids = _shards(env.text("ARCHIVEBOT_SHARD_COUNT"), env.text("ARCHIVEBOT_SHARD_IDS"))
        return cls(
            token=env.text("DISCORD_TOKEN"),
            guild_id=int(guild_raw) if guild_raw else None,
            channels=env.ids("ARCHIVEBOT_CHANNELS"),
            admin_role_ids=env.ids("ARCHIVEBOT_ADMIN_ROLE_IDS"),
            threads=env.switch("ARCHIVEBOT_THREADS", False),
            user_rate=RateLimit.parse("ARCHIVEBOT_USER_RATE", env.text("ARCHIVEBOT_USER_RATE"), cls.user_rate),
            guild_rate=RateLimit.parse("ARCHIVEBOT_GUILD_RATE", env.text("ARCHIVEBOT_GUILD_RATE"), cls.guild_rate),
            api_base=env.text("DISCORD_API_BASE", DISCORD_API_BASE).rstrip("/"),
            gateway_url=env.text("DISCORD_GATEWAY_URL", DISCORD_GATEWAY_URL),
            progress_interval=env.number("ARCHIVEBOT_PROGRESS_SECONDS", cls.progress_interval, minimum=0),
            max_quotes=max_quotes(env),
            web=WebSettings.from_environment(env),
            shard_count=shard_count,
            shard_ids=shard_ids,
            log_level=env.choice(
                "ARCHIVEBOT_LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
            ).upper(),
            feeds=FeedSettings.from_environment(env),
            follows=FollowSettings.from_environment(env),
        )

    @property
    def syncs_commands(self) -> bool:
        """Only one process syncs the slash commands: the one running shard 0 (or every shard)."""
        return self.shard_ids is None or 0 in self.shard_ids

    def shard_text(self) -> str:
        """This process's shards, for the log ("" when Discord decides)."""
        if self.shard_count is None:
            return ""
        ids = self.shard_ids if self.shard_ids is not None else range(self.shard_count)
        return f"shard(s) {', '.join(map(str, ids))} of {self.shard_count}"

    def require_token(self) -> str:
        if not self.token:
            raise ConfigurationError("DISCORD_TOKEN is not set: put the bot token in the environment or .env")
        return self.token


def apply_endpoints(config: BotConfig) -> None:
    """Point discord.py at `config.api_base` / `config.gateway_url` (Discord's own by default).

    discord.py reads both from class attributes: `Route.BASE` (REST and interaction webhooks) and
    `DiscordWebSocket.DEFAULT_GATEWAY`. Setting them is process-wide, like discord.py's own `_set_api_version`.
    """
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = config.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)
