"""A small fake Discord on 127.0.0.1 for end-to-end tests: REST v10 (the routes the bot uses) and the JSON gateway.

The real, unchanged bot connects to it (discord.py redirected through `DISCORD_API_BASE` / `DISCORD_GATEWAY_URL`).
Tests then play users: `message(...)` dispatches MESSAGE_CREATE, `slash(...)`, `click(...)` and
`autocomplete(...)` dispatch INTERACTION_CREATE, and every request the bot made is recorded in `requests`.

Sharded like Discord: `FakeDiscord(shard_count=n)` answers GET /gateway/bot with n shards, refuses an IDENTIFY
whose `shard: [id, count]` does not fit (close code 4010), and sends each server's events only on the
connection of shard `(server id >> 22) % n` (DMs on shard 0). `add_guild(shard=k)` makes more servers.

It answers like Discord where it matters for the bot: 50035 "Invalid Form Body" when a message breaks a limit,
40060 when an interaction is answered twice, 10062 when the first answer comes after 3 seconds, 10015 for a
follow-up before the first answer, 50006 for an empty message. Each rejection is also kept in `rejections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

# Discord's limits, written out independently of the bot's own `bot/limits.py`.
CONTENT_LIMIT = 2000
EMBEDS_LIMIT = 10
EMBED_TOTAL = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
CHOICES_LIMIT = 25
CHOICE_NAME_LIMIT = 100
BUTTON_LABEL_LIMIT = 80
CUSTOM_ID_LIMIT = 100
INTERACTION_DEADLINE = 3.0  # seconds to give the first response to an interaction

EPHEMERAL = 1 << 6
MESSAGE_CONTENT_INTENT = 1 << 15
MANAGE_GUILD = 1 << 5
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 31)  # view channel, send, read history, use app commands
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_GUILD

_ids = itertools.count(1_100_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly application/json (no charset).
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def form_error(errors: list[str]) -> web.Response:
    return json_response({"code": 50035, "message": "Invalid Form Body", "errors": {"_errors": errors}}, 400)


def error(code: int, message: str, status: int) -> web.Response:
    return json_response({"code": code, "message": message}, status)


def message_problems(payload: dict[str, Any], *, edit: bool = False) -> list[str]:
    """What Discord would reject in a message payload (create, edit, interaction response or follow-up)."""
    problems: list[str] = []
    content = payload.get("content")
    if content is not None and len(content) > CONTENT_LIMIT:
        problems.append(f"content: {len(content)} > {CONTENT_LIMIT}")
    embeds = payload.get("embeds") or []
    if len(embeds) > EMBEDS_LIMIT:
        problems.append(f"embeds: {len(embeds)} > {EMBEDS_LIMIT}")
    for number, embed in enumerate(embeds):
        total = 0
        for key, limit in EMBED_LIMITS.items():
            size = len(embed.get(key) or "")
            total += size
            if size > limit:
                problems.append(f"embeds[{number}].{key}: {size} > {limit}")
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_LIMIT:
            problems.append(f"embeds[{number}].fields: {len(fields)} > {FIELDS_LIMIT}")
        for index, item in enumerate(fields):
            name, value = item.get("name") or "", item.get("value") or ""
            total += len(name) + len(value)
            if not name.strip() or not value.strip():
                problems.append(f"embeds[{number}].fields[{index}]: blank name or value")
            if len(name) > FIELD_NAME_LIMIT:
                problems.append(f"embeds[{number}].fields[{index}].name: {len(name)} > {FIELD_NAME_LIMIT}")
            if len(value) > FIELD_VALUE_LIMIT:
                problems.append(f"embeds[{number}].fields[{index}].value: {len(value)} > {FIELD_VALUE_LIMIT}")
        footer = (embed.get("footer") or {}).get("text") or ""
        author = (embed.get("author") or {}).get("name") or ""
        total += len(footer) + len(author)
        if len(footer) > FOOTER_LIMIT:
            problems.append(f"embeds[{number}].footer: {len(footer)} > {FOOTER_LIMIT}")
        if len(author) > AUTHOR_LIMIT:
            problems.append(f"embeds[{number}].author: {len(author)} > {AUTHOR_LIMIT}")
        if total > EMBED_TOTAL:
            problems.append(f"embeds[{number}]: {total} characters > {EMBED_TOTAL}")
    rows = payload.get("components") or []
    if len(rows) > 5:
        problems.append(f"components: {len(rows)} rows > 5")
    for row in rows:
        items = row.get("components") or []
        if len(items) > 5:
            problems.append(f"components: {len(items)} items in a row > 5")
        for item in items:
            if len(item.get("label") or "") > BUTTON_LABEL_LIMIT:
                problems.append(f"button label > {BUTTON_LABEL_LIMIT}")
            if len(item.get("custom_id") or "") > CUSTOM_ID_LIMIT:
                problems.append(f"custom_id > {CUSTOM_ID_LIMIT}")
    if not edit and not (content or embeds or rows or payload.get("attachments")):
        problems.append("empty message")
    return problems


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class Interaction:
    id: str
    token: str
    type: int
    user: dict[str, Any]
    payload: dict[str, Any]
    created: float
    responses: list[dict[str, Any]] = field(default_factory=list)  # callbacks accepted: {"type": n, "data": {...}}
    original: dict[str, Any] | None = None  # the message made by the first response (or its defer)
    followups: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)  # PATCH payloads of the original response
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    expired: bool = False  # True: the token is past Discord's 15 minutes (webhook calls get 50027)

    @property
    def response_type(self) -> int | None:
        return self.responses[0]["type"] if self.responses else None


class FakeDiscord:
    """One guild with one text channel, a bot user, an admin and a member (plus any users tests make)."""

    def __init__(self, *, deadline: float = INTERACTION_DEADLINE, shard_count: int = 1) -> None:
        self.deadline = deadline
        self.shard_count = shard_count
        self.application_id = snowflake()
        self.bot_user = self.user("Archivebot", bot=True, id=self.application_id)
        self.owner = self.user("owner")
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        self.other_channel_id = snowflake()
        # every server's text channels, the first one its default (more servers: `add_guild`)
        self.guild_channels: dict[str, list[str]] = {self.guild_id: [self.channel_id, self.other_channel_id]}
        self.admin_role_id = snowflake()
        self.bot_role_id = snowflake()  # the bot's managed role (Discord creates one when a bot joins)
        self.typing_forbidden = False  # True: typing answers 403 Missing Permissions (50013)
        self.admin = self.user("admin")
        self.member = self.user("member")
        self.member_roles: dict[str, list[str]] = {self.admin["id"]: [self.admin_role_id], self.member["id"]: []}
        self.member_permissions: dict[str, int] = {self.admin["id"]: ADMIN_PERMISSIONS}
        self.requests: list[Request] = []
        self.rejections: list[tuple[Request, dict[str, Any]]] = []
        self.messages: dict[str, dict[str, Any]] = {}  # every message that exists, by id
        self.sent: list[dict[str, Any]] = []  # every message payload the bot got accepted (create, edit, reply)
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # synced commands by guild id (None: global)
        self.identify: dict[str, Any] | None = None  # the latest IDENTIFY (of any shard)
        self.identifies: dict[int, dict[str, Any]] = {}  # the latest IDENTIFY of each shard
        self.threads: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}  # the bot's first reply to each message, by that message's id
        self._sockets: dict[int, web.WebSocketResponse] = {}  # each identified shard's gateway connection
        self._seq: dict[int, int] = {}
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- people and objects -------------------------------------------------------------------------

    @staticmethod
    def user(name: str, *, bot: bool = False, id: str | None = None) -> dict[str, Any]:
        return {
            "id": id or snowflake(),
            "username": name,
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }

    def member_of(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            "user": user,
            "roles": self.member_roles.get(user["id"], []),
            "joined_at": "2024-01-01T00:00:00+00:00",
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "premium_since": None,
            "communication_disabled_until": None,
        }

    def add_guild(self, *, shard: int = 0) -> str:
        """Another server (with one text channel), owned by shard `shard` of `shard_count`; returns its id."""
        high = int(snowflake()) >> 22
        high += (shard - high) % self.shard_count  # the next timestamp part that lands on that shard
        guild_id = str(high << 22 | next(_ids) % (1 << 22))
        self.guild_channels[guild_id] = [snowflake()]
        return guild_id

    def shard_of(self, guild_id: str | None) -> int:
        """The shard Discord sends a server's events on (DMs, without a server: shard 0)."""
        return (int(guild_id) >> 22) % self.shard_count if guild_id else 0

    def guild_of(self, channel_id: str) -> str | None:
        return next((guild for guild, channels in self.guild_channels.items() if channel_id in channels), None)

    def default_channel(self, guild_id: str | None) -> str:
        return self.guild_channels[guild_id or self.guild_id][0]

    def channel(self, channel_id: str | None = None) -> dict[str, Any]:
        channel_id = channel_id or self.channel_id
        return {
            "id": channel_id,
            "type": 0,
            "guild_id": self.guild_of(channel_id) or self.guild_id,
            "name": f"channel-{channel_id[-4:]}",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild_payload(self, guild_id: str | None = None) -> dict[str, Any]:
        guild_id = guild_id or self.guild_id
        everyone = {
            "id": guild_id,
            "name": "@everyone",
            "permissions": str(MEMBER_PERMISSIONS),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        admin_role = dict(
            everyone, id=self.admin_role_id, name="archive-admins", position=1, permissions=str(ADMIN_PERMISSIONS)
        )
        bot_role = dict(
            everyone,
            id=self.bot_role_id,
            name="Archivebot",
            position=2,
            managed=True,
            tags={"bot_id": self.bot_user["id"]},
        )
        return {
            "id": guild_id,
            "name": "Test Newsroom" if guild_id == self.guild_id else f"Newsroom {guild_id[-4:]}",
            "icon": None,
            "owner_id": self.owner["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone, admin_role, bot_role],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "unavailable": False,
            "member_count": 4,
            "large": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "voice_states": [],
            "presences": [],
            "threads": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "members": [self.member_of(self.bot_user)],
            "channels": [self.channel(channel) for channel in self.guild_channels[guild_id]],
        }

    # ---- life cycle ---------------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets.values()):
            if not ws.closed:
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def wait_shards(self, shards: range | list[int], timeout: float = 10.0) -> None:
        """Wait until each of these shards has identified (and got its READY)."""
        await self.wait_for(lambda: all(shard in self._sockets for shard in shards), timeout)

    # ---- gateway ------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            packet = json.loads(frame.data)
            op = packet.get("op")
            if op == 1:
                # ACK after a network-like delay: an instant ACK can overtake discord.py's keep-alive thread,
                # which then measures its latency from the previous beat and warns "Can't keep up".
                asyncio.get_running_loop().call_later(
                    0.05,
                    lambda: (
                        ws.closed or asyncio.ensure_future(ws.send_json({"op": 11, "d": None, "s": None, "t": None}))
                    ),
                )
            elif op == 2:
                shard, count = packet["d"].get("shard") or [0, 1]
                if count != self.shard_count or not 0 <= shard < count:
                    await ws.close(code=4010, message=b"Invalid shard")  # as Discord answers a wrong shard
                    break
                self.identify = self.identifies[shard] = packet["d"]
                self._sockets[shard] = ws
                guilds = [guild for guild in self.guild_channels if self.shard_of(guild) == shard]
                await self.dispatch(
                    "READY",
                    {
                        "v": 10,
                        "user": self.bot_user,
                        "guilds": [{"id": guild, "unavailable": True} for guild in guilds],
                        "session_id": f"fake-session-{shard}",
                        "resume_gateway_url": self.gateway_url,
                        "shard": [shard, count],
                        "application": {"id": self.application_id, "flags": 0},
                        "private_channels": [],
                        "relationships": [],
                        "presences": [],
                        "guild_join_requests": [],
                        "geo_ordered_rtc_regions": [],
                    },
                    shard=shard,
                )
                for guild in guilds:
                    await self.dispatch("GUILD_CREATE", self.guild_payload(guild), shard=shard)
                self._ready.set()
                async with self._changed:
                    self._changed.notify_all()
            elif op == 6:  # resume: pretend all is well
                shard = next((number for number, socket in self._sockets.items() if socket is ws), 0)
                self._sockets[shard] = ws
                await self.dispatch("RESUMED", {}, shard=shard)
        return ws

    async def dispatch(self, event: str, data: dict[str, Any], *, shard: int | None = None) -> None:
        """Send an event on the connection of its server's shard (`shard` when given)."""
        shard = self.shard_of(data.get("guild_id")) if shard is None else shard
        ws = self._sockets.get(shard)
        if ws is None:
            raise RuntimeError(f"no bot is connected for shard {shard}")
        self._seq[shard] = self._seq.get(shard, 0) + 1
        await ws.send_json({"op": 0, "t": event, "s": self._seq[shard], "d": data})

    # ---- what users do ------------------------------------------------------------------------------

    async def message(
        self,
        author: dict[str, Any],
        content: str,
        *,
        channel_id: str | None = None,
        mentions_bot: bool = False,
        dm: bool = False,
        mentions_bot_role: bool = False,
        guild_id: str | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user posts a message; `mentions_bot` prefixes the bot's mention like the Discord client does
        (`mentions_bot_role`: the bot's managed role instead, as people often pick by mistake)."""
        # A reply pings the author replied to (the client's default), which counts as mentioning the bot.
        replying_to_bot = bool(reply_to and reply_to["author"]["id"] == self.bot_user["id"])
        if mentions_bot:
            content = f"<@{self.bot_user['id']}> {content}"
        if mentions_bot_role:
            content = f"<@&{self.bot_role_id}> {content}"
            mentions_bot = True  # for the content intent below: Discord treats it as a mention of the bot
        intents = (self.identify or {}).get("intents", 0)
        if not intents & MESSAGE_CONTENT_INTENT and not mentions_bot and not dm and not replying_to_bot:
            content = ""  # Discord blanks other messages' content for bots without the message-content intent
        data = {
            "id": snowflake(),
            "channel_id": channel_id or self.default_channel(guild_id),
            "author": author,
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self.bot_user] if (mentions_bot and not mentions_bot_role) or replying_to_bot else [],
            "mention_roles": [self.bot_role_id] if mentions_bot_role else [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"]}
            data["referenced_message"] = reply_to
        if dm:
            data["channel_id"] = channel_id or snowflake()
            await self.dispatch(
                "CHANNEL_CREATE", {"id": data["channel_id"], "type": 1, "recipients": [author], "last_message_id": None}
            )
        else:
            data["guild_id"] = self.guild_of(data["channel_id"]) or self.guild_id
            data["member"] = {k: v for k, v in self.member_of(author).items() if k != "user"}
        self.messages[data["id"]] = data
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    def _interaction(self, kind: int, user: dict[str, Any], data: dict[str, Any], **extra: Any) -> Interaction:
        permissions = self.member_permissions.get(user["id"], MEMBER_PERMISSIONS)
        member = self.member_of(user)
        member["permissions"] = str(permissions)
        message_channel = (extra.get("message") or {}).get("channel_id")
        guild_id = extra.pop("guild_id", None) or self.guild_of(message_channel or "") or self.guild_id
        channel_id = message_channel or self.default_channel(guild_id)
        payload = {
            "id": snowflake(),
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "guild_id": guild_id,
            "channel_id": channel_id,
            "channel": self.channel(channel_id),
            "member": member,
            "token": "itoken-" + snowflake(),
            "version": 1,
            "app_permissions": str(ADMIN_PERMISSIONS | (1 << 14) | (1 << 15)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }
        if extra.pop("dm", False):  # a DM: no guild, no member, the user at top level
            for key in ("guild_id", "member", "guild_locale"):
                payload.pop(key)
            channel_id = snowflake()
            payload.update(
                user=user,
                channel_id=channel_id,
                context=1,
                app_permissions=str(MEMBER_PERMISSIONS),
                channel={"id": channel_id, "type": 1, "recipients": [user], "last_message_id": None},
                authorizing_integration_owners={"1": user["id"]},
            )
        payload.update(extra)
        interaction = Interaction(payload["id"], payload["token"], kind, user, payload, time.monotonic())
        self.interactions[interaction.id] = interaction
        return interaction

    def _command(self, name: str, guild_id: str | None = None) -> dict[str, Any]:
        for guild in (guild_id or self.guild_id, None):
            for command in self.commands.get(guild, []):
                if command["name"] == name:
                    return command
        raise KeyError(f"/{name} was not synced")

    async def slash(
        self, user: dict[str, Any], name: str, *, dm: bool = False, guild_id: str | None = None, **options: Any
    ) -> Interaction:
        # "feeds add": the subcommand `add` of the command `feeds` (its options nest under it, as Discord sends them)
        name, _, sub = name.partition(" ")
        command = self._command(name, guild_id)
        declared = command.get("options", [])
        if sub:
            declared = next(o for o in declared if o["name"] == sub and o["type"] == 1).get("options", [])
        types = {o["name"]: o["type"] for o in declared}
        given = [{"name": k, "type": types[k], "value": v} for k, v in options.items()]
        data = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": given}] if sub else given,
        }
        if command.get("guild_id") and not dm:
            data["guild_id"] = command["guild_id"]
        interaction = self._interaction(2, user, data, dm=dm, guild_id=guild_id)
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def autocomplete(self, user: dict[str, Any], name: str, option: str, text: str) -> Interaction:
        command = self._command(name)
        data = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": [{"name": option, "type": 3, "value": text, "focused": True}],
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        interaction = self._interaction(4, user, data)
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def click(self, user: dict[str, Any], message: dict[str, Any], custom_id: str) -> Interaction:
        interaction = self._interaction(3, user, {"custom_id": custom_id, "component_type": 2}, message=message)
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `predicate()` is truthy (checked after every request the bot makes, and every 50 ms)."""

        async def waiter() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    # woken by each request; also polls, for conditions set outside the fake (threads)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.05)

        return await asyncio.wait_for(waiter(), timeout)

    async def answered(self, interaction: Interaction, timeout: float = 10.0) -> Interaction:
        await asyncio.wait_for(interaction.answered.wait(), timeout)
        return interaction

    def bot_messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if m["author"]["id"] == self.bot_user["id"] and (channel_id is None or m["channel_id"] == channel_id)
        ]

    # ---- REST ---------------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json" and raw:
                body = json.loads(raw)
            elif request.content_type.startswith("multipart/"):
                return error(50035, "the fake accepts JSON bodies only", 400)
        record = Request(request.method, "/" + request.match_info["tail"], dict(request.query), body)
        self.requests.append(record)
        try:
            response = await self._route(record)
        except KeyError as missing:
            response = error(10008, f"Unknown object {missing}", 404)
        record.status = response.status
        if response.status >= 400:
            self.rejections.append((record, json.loads(response.body) if response.body else {}))
        async with self._changed:
            self._changed.notify_all()
        return response

    async def _route(self, r: Request) -> web.StreamResponse:
        parts = r.path.strip("/").split("/")
        m, n = r.method, len(parts)
        if m == "GET" and parts == ["gateway", "bot"]:
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return json_response({"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit})
        if m == "GET" and parts == ["gateway"]:
            return json_response({"url": self.gateway_url})
        if m == "GET" and parts == ["users", "@me"]:
            return json_response(self.bot_user)
        if m == "GET" and parts == ["oauth2", "applications", "@me"]:
            return json_response(self._application())
        if parts[0] == "applications" and parts[-1] == "commands" and m == "PUT":
            guild = parts[3] if n == 5 else None
            return json_response(self._sync(guild, r.body or []))
        if parts[0] == "applications" and parts[-1] == "commands" and m == "GET":
            return json_response(self.commands.get(parts[3] if n == 5 else None, []))
        if parts[0] == "channels":
            return self._channel_route(r, parts)
        if parts[0] == "interactions" and n == 4 and parts[3] == "callback" and m == "POST":
            return self._callback(parts[1], parts[2], r.body or {})
        if parts[0] == "webhooks" and n >= 3:
            return self._webhook_route(r, parts)
        return error(0, f"the fake has no route {m} {r.path}", 404)

    def _application(self) -> dict[str, Any]:
        return {
            "id": self.application_id,
            "name": "Archivebot",
            "icon": None,
            "description": "",
            "summary": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.owner,
            "verify_key": "00",
            "team": None,
            "flags": 0,
            "bot": self.bot_user,
            "tags": [],
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "approximate_guild_count": 1,
        }

    def _sync(self, guild: str | None, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
        synced = []
        for command in payload:
            item = dict(command, id=snowflake(), application_id=self.application_id, version=snowflake())
            if guild:
                item["guild_id"] = guild
            item.setdefault("type", 1)
            synced.append(item)
        self.commands[guild] = synced
        return synced

    def _new_message(self, channel_id: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
        message = {
            "id": snowflake(),
            "channel_id": channel_id,
            "author": self.bot_user,
            "content": payload.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": payload.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": payload.get("flags") or 0,
            "components": payload.get("components") or [],
            "allowed_mentions": payload.get("allowed_mentions"),  # kept for the tests' mention checks
        }
        reference = payload.get("message_reference")
        if reference:
            reference = {
                key: str(value) for key, value in reference.items() if value is not None and key != "fail_if_not_exists"
            }
            message["message_reference"] = reference
            message["type"] = 19
            message["referenced_message"] = self.messages.get(str(reference.get("message_id")))
            self.replies.setdefault(reference["message_id"], message)
        message.update(extra)
        self.messages[message["id"]] = message
        self.sent.append(message)
        return message

    def _edit(self, message: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in payload:
                message[key] = payload[key] if payload[key] is not None else ([] if key != "content" else "")
        message["edited_timestamp"] = now_iso()
        self.sent.append(dict(message))
        return message

    def _channel_route(self, r: Request, parts: list[str]) -> web.StreamResponse:
        channel_id, n, m = parts[1], len(parts), r.method
        if n == 3 and parts[2] == "typing" and m == "POST":
            if self.typing_forbidden:
                return error(50013, "Missing Permissions", 403)
            return web.Response(status=204)
        if n == 3 and parts[2] == "messages" and m == "POST":
            problems = message_problems(r.body or {})
            if problems:
                return (
                    form_error(problems)
                    if problems != ["empty message"]
                    else error(50006, "Cannot send an empty message", 400)
                )
            return json_response(self._new_message(channel_id, r.body))
        if n == 4 and parts[2] == "messages":
            message = self.messages[parts[3]]
            if m == "PATCH":
                problems = message_problems(r.body or {}, edit=True)
                return form_error(problems) if problems else json_response(self._edit(message, r.body or {}))
            if m == "DELETE":
                message["deleted"] = True
                return web.Response(status=204)
            if m == "GET":
                return json_response(message)
        if n == 5 and parts[2] == "messages" and parts[4] == "threads" and m == "POST":
            thread = {
                "id": snowflake(),
                "type": 11,
                "guild_id": self.guild_of(channel_id) or self.guild_id,
                "parent_id": channel_id,
                "name": (r.body or {}).get("name", ""),
                "owner_id": self.bot_user["id"],
                "message_count": 0,
                "member_count": 1,
                "rate_limit_per_user": 0,
                "flags": 0,
                "last_message_id": None,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "locked": False,
                    "archive_timestamp": now_iso(),
                },
            }
            if len(thread["name"]) > 100 or not thread["name"]:
                return form_error([f"thread name length {len(thread['name'])}"])
            self.threads.append(thread)
            return json_response(thread)
        return error(0, f"the fake has no route {m} {r.path}", 404)

    def _callback(self, interaction_id: str, token: str, body: dict[str, Any]) -> web.StreamResponse:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction.token != token:
            return error(10062, "Unknown interaction", 404)
        if interaction.responses:
            return error(40060, "Interaction has already been acknowledged.", 400)
        if time.monotonic() - interaction.created > self.deadline:
            return error(10062, "Unknown interaction", 404)
        kind, data = body.get("type"), body.get("data") or {}
        if kind == 4 and (problems := message_problems(data)):
            return form_error(problems)
        if kind == 7 and (problems := message_problems(data, edit=True)):
            return form_error(problems)
        if kind == 8:
            choices = data.get("choices") or []
            bad = [c for c in choices if not 1 <= len(c.get("name", "")) <= CHOICE_NAME_LIMIT]
            if len(choices) > CHOICES_LIMIT or bad:
                return form_error([f"{len(choices)} choices, {len(bad)} with a bad name"])
        interaction.responses.append(body)
        interaction.answered.set()
        resource: dict[str, Any] = {"type": kind}
        ephemeral = bool((data.get("flags") or 0) & EPHEMERAL)
        if kind in (4, 5):
            interaction.original = self._new_message(
                interaction.payload["channel_id"],
                data if kind == 4 else {"content": "", "flags": data.get("flags") or 0},
                interaction={
                    "id": interaction.id,
                    "type": interaction.type,
                    "name": interaction.payload["data"].get("name"),
                    "user": interaction.user,
                },
                application_id=self.application_id,
                webhook_id=self.application_id,
            )
            if kind == 5:
                self.sent.pop()  # a "thinking…" placeholder is not a message the bot wrote
                interaction.original["flags"] = (data.get("flags") or 0) | 128  # LOADING
            resource["message"] = interaction.original
        elif kind == 7:
            message = interaction.payload.get("message", {})
            stored = self.messages.get(message.get("id", ""), message)
            resource["message"] = self._edit(stored, data)
        return json_response(
            {
                "interaction": {
                    "id": interaction.id,
                    "type": interaction.type,
                    "response_message_id": interaction.original["id"] if interaction.original else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": resource,
            }
        )

    def _by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    def _webhook_route(self, r: Request, parts: list[str]) -> web.StreamResponse:
        application_id, token = parts[1], parts[2]
        interaction = self._by_token(token)
        if application_id != self.application_id or interaction is None:
            return error(10015, "Unknown Webhook", 404)
        if not interaction.responses:
            return error(10015, "Unknown Webhook", 404)  # Discord: no follow-up before the first response
        if interaction.expired:
            return error(50027, "Invalid Webhook Token", 401)
        body = r.body or {}
        if len(parts) == 3 and r.method == "POST":
            problems = message_problems(body)
            if problems:
                return (
                    form_error(problems)
                    if problems != ["empty message"]
                    else error(50006, "Cannot send an empty message", 400)
                )
            message = self._new_message(
                interaction.payload["channel_id"],
                body,
                webhook_id=self.application_id,
                application_id=self.application_id,
            )
            if (
                interaction.original is not None
                and interaction.original.get("flags", 0) & 128
                and not interaction.followups
            ):
                # Discord: the first follow-up after a defer replaces the "thinking…" message.
                message["id"] = interaction.original["id"]
                message["flags"] = (interaction.original["flags"] & ~128) | (body.get("flags") or 0)
                self.messages[message["id"]] = message
                interaction.original = message
            interaction.followups.append(message)
            return json_response(message)
        if len(parts) == 5 and parts[3] == "messages":
            target = interaction.original if parts[4] == "@original" else self.messages.get(parts[4])
            if target is None:
                return error(10008, "Unknown Message", 404)
            if r.method == "GET":
                return json_response(target)
            if r.method == "PATCH":
                problems = message_problems(body, edit=True)
                if problems:
                    return form_error(problems)
                interaction.edits.append(body)
                return json_response(self._edit(target, body))
            if r.method == "DELETE":
                target["deleted"] = True
                return web.Response(status=204)
        return error(0, f"the fake has no route {r.method} {r.path}", 404)
