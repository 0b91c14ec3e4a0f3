"""Follows: a reader's standing question, told when a newly indexed article answers it (docs/feeds.md#follows).

A follow is a query, its owner and where to tell them (a server channel, or a DM). After a reindex,
`match_follows` asks every follow's query the way a question is asked (`Archive.ask`: the same retrieval and
confidence) and reports a follow when the answer is confident and quotes one of the articles that reindex
added or changed; each (follow, article) pair is reported once, ever (`FollowStore.record_notified`).
Nothing here imports Discord code: the bot posts the notices.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from index._errors import ArchivebotError
from index._models import Answer, Quote
from index._settings import Environment

if TYPE_CHECKING:
    from index._archive import Archive

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 300  # a follow is a topic or a question, not an article


class FollowError(ArchivebotError):
    """A follow can't be added (a limit is reached, follows are off in the channel, the query is empty or too
    long) or removed (no such follow of yours). The message is for the user, in one line."""


@dataclass(frozen=True)
class Follow:
    """One reader's follow. Ids are Discord snowflakes; `guild_id` None: the follow was made in a DM (the
    notice goes there). `created`: seconds since the epoch."""

    id: str  # 6 hex digits, unique in the store: what /unfollow takes
    owner_id: int
    guild_id: int | None
    channel_id: int
    query: str
    created: float


@dataclass(frozen=True)
class FollowSettings:
    """How many follows one user, and one server, may hold. Build with `FollowSettings.from_env()`."""

    per_user: int = 10
    per_server: int = 100

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> FollowSettings:
        """`ARCHIVEBOT_FOLLOWS_PER_USER` (default 10) and `ARCHIVEBOT_FOLLOWS_PER_SERVER` (default 100); a bad
        value raises `ConfigurationError` with one line."""
        return cls.from_environment(Environment.read(environ, load_dotenv=load_dotenv))

    @classmethod
    def from_environment(cls, env: Environment) -> FollowSettings:
        return cls(
            per_user=env.whole_number("ARCHIVEBOT_FOLLOWS_PER_USER", 10, minimum=0, maximum=1000),
            per_server=env.whole_number("ARCHIVEBOT_FOLLOWS_PER_SERVER", 100, minimum=0, maximum=100_000),
        )


class FollowStore(Protocol):
    """Follows, which (follow, article) pairs were notified, and the channels where follows are off. Every
    method is one atomic step for every process sharing the store."""

    async def add_follow(
        self, owner_id: int, guild_id: int | None, channel_id: int, query: str, now: float, limits: FollowSettings
    ) -> Follow:
        """Add a follow with a new id; `FollowError` when the owner or the server is at its limit, or follows
        are off in the channel."""
        ...

    async def follows(self) -> list[Follow]:
        """Every follow, oldest first."""
        ...

    async def follows_of(self, owner_id: int) -> list[Follow]: ...

    async def follows_in(self, guild_id: int | None) -> list[Follow]:
        """The follows made in one server (None: in DMs)."""
        ...

    async def remove_follow(self, follow_id: str, owner_id: int | None = None) -> bool:
        """Remove a follow (only `owner_id`'s when given); False when there is none. Its notified pairs go too."""
        ...

    async def record_notified(self, follow_id: str, article_id: str) -> bool:
        """Record that `follow_id` was told about `article_id`. True the first time only: the caller who gets
        True tells the reader, so two processes never both do."""
        ...

    async def was_notified(self, follow_id: str, article_id: str) -> bool: ...

    async def set_channel_follows(self, channel_id: int, allowed: bool) -> None:
        """Turn follows in a channel off (no new ones there) or back on."""
        ...

    async def channel_follows_allowed(self, channel_id: int) -> bool: ...

    async def close(self) -> None:
        """Let go of its connection (a store used after closing connects again)."""
        ...


def check_query(query: str) -> str:
    """The query, stripped; `FollowError` when it is empty or too long."""
    cleaned = " ".join(query.split())
    if not cleaned:
        raise FollowError("A follow needs some words to look for.")
    if len(cleaned) > MAX_QUERY_CHARS:
        raise FollowError(f"A follow is at most {MAX_QUERY_CHARS} characters; this one is {len(cleaned)}.")
    return cleaned


def new_follow_id(taken: Collection[str]) -> str:
    """A short random id not in `taken` (6 hex digits: easy to type after /unfollow)."""
    while True:
        candidate = secrets.token_hex(3)
        if candidate not in taken:
            return candidate


def limit_problem(mine: int, here: int, in_server: bool, limits: FollowSettings) -> str | None:
    """Why one more follow is over a limit, for a user who holds `mine` follows, made in a server (`in_server`)
    that holds `here`; None when it fits."""
    if mine >= limits.per_user:
        return f"You follow {mine} stories, the most allowed ({limits.per_user}); remove one with /unfollow first."
    if in_server and here >= limits.per_server:
        return f"This server has {here} follows, the most allowed ({limits.per_server})."
    return None


@dataclass(frozen=True)
class FollowMatch:
    """A follow to tell: the new article's best quote for its query, and the whole answer."""

    follow: Follow
    quote: Quote
    answer: Answer


async def match_follows(
    archive: Archive, store: FollowStore, changed_ids: Collection[str], *, max_quotes: int = 3
) -> list[FollowMatch]:
    """The follows a reindex's new and changed articles (`IndexSummary.changed_ids`) answer, each (follow,
    article) once ever. A follow matches when `archive.ask(query)` is answered (confidence above the answer
    threshold) and one of its quotes comes from a changed article; the first such quote is the notice's.
    A follow whose query fails is logged and skipped."""
    changed = set(changed_ids)
    if not changed:
        return []
    matches: list[FollowMatch] = []
    for follow in await store.follows():
        try:
            answer = await archive.ask(follow.query, max_quotes=max_quotes)
        except ArchivebotError as error:
            logger.warning("follow %s (%r) could not be matched: %s", follow.id, follow.query, error)
            continue
        if not answer.answered:
            continue
        quote = next((quote for quote in answer.quotes if quote.article_id in changed), None)
        if quote is None or not await store.record_notified(follow.id, quote.article_id):
            continue
        matches.append(FollowMatch(follow, quote, answer))
    return matches
