"""`FeedStore` and `FollowStore` in the archive's database (`index.storage.feed_tables`): SQLite's
`feeds.sqlite3` in the data directory, or the PostgreSQL database of `ARCHIVEBOT_DATABASE_URL`, so every bot
process sharing the archive shares the feeds, their leases and the follows. A feed's state and a seen item
are kept as JSON (their fields can grow without a migration), with the columns they are looked up by."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from index.storage import feed_tables as sql
from index.storage.feed_tables import FeedDatabase

from .follows import Follow, FollowError, FollowSettings, check_query, limit_problem, new_follow_id
from .store import FeedState, SeenItem


def _json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), ensure_ascii=False)


class DatabaseFeedStore:
    def __init__(self, database: FeedDatabase) -> None:
        self.database = database

    async def feeds(self) -> list[FeedState]:
        async with self.database.transaction() as run:
            return [FeedState(**json.loads(data)) for (data,) in await run.fetch(sql.FEEDS)]

    async def add_feed(self, url: str, interval_seconds: float) -> FeedState:
        async with self.database.transaction() as run:
            await run.execute(sql.ADD_FEED, (url, _json(FeedState(url=url, interval_seconds=interval_seconds))))
            ((data,),) = await run.fetch(sql.FEED, (url,))
        return FeedState(**json.loads(data))

    async def remove_feed(self, url: str) -> bool:
        async with self.database.transaction() as run:
            await run.execute(sql.REMOVE_LEASE, (url,))
            return await run.execute(sql.REMOVE_FEED, (url,)) > 0

    async def save_feed(self, state: FeedState) -> None:
        async with self.database.transaction() as run:
            await run.execute(sql.SAVE_FEED, (state.url, _json(state)))

    async def find_item(self, url: str) -> SeenItem | None:
        async with self.database.transaction() as run:
            rows = await run.fetch(sql.ITEM_BY_URL, (url,)) or await run.fetch(sql.ITEM_BY_CANONICAL_URL, (url,))
        return SeenItem(**json.loads(rows[0][0])) if rows else None

    async def find_content(self, content_hash: str) -> SeenItem | None:
        if not content_hash:
            return None
        async with self.database.transaction() as run:
            rows = await run.fetch(sql.ITEM_BY_CONTENT, (content_hash,))
        return SeenItem(**json.loads(rows[0][0])) if rows else None

    async def save_item(self, item: SeenItem) -> None:
        async with self.database.transaction() as run:
            await run.execute(sql.SAVE_ITEM, (item.url, item.canonical_url, item.content_hash, _json(item)))

    async def take_lease(self, feed_url: str, owner: str, now: float, until: float) -> bool:
        async with self.database.transaction() as run:
            return await run.execute(sql.TAKE_LEASE, (feed_url, owner, until, now)) > 0

    async def release_lease(self, feed_url: str, owner: str) -> None:
        async with self.database.transaction() as run:
            await run.execute(sql.RELEASE_LEASE, (feed_url, owner))

    async def close(self) -> None:
        await self.database.close()


def _follow(row: tuple[Any, ...]) -> Follow:
    id, owner_id, guild_id, channel_id, query, created = row
    return Follow(
        str(id), int(owner_id), None if guild_id is None else int(guild_id), int(channel_id), query, float(created)
    )


class DatabaseFollowStore:
    def __init__(self, database: FeedDatabase) -> None:
        self.database = database

    async def add_follow(
        self, owner_id: int, guild_id: int | None, channel_id: int, query: str, now: float, limits: FollowSettings
    ) -> Follow:
        query = check_query(query)
        async with self.database.transaction(exclusive=True) as run:  # limits read and written in one step
            if await run.fetch(sql.CHANNEL_OFF, (channel_id,)):
                raise FollowError("Follows are turned off in this channel by the server's admins.")
            mine = (await run.fetch(sql.COUNT_OF, (owner_id,)))[0][0]
            here = (await run.fetch(sql.COUNT_IN, (guild_id,)))[0][0] if guild_id is not None else 0
            problem = limit_problem(int(mine), int(here), guild_id is not None, limits)
            if problem:
                raise FollowError(problem)
            follow_id = new_follow_id(())
            while await run.fetch(sql.FOLLOW_EXISTS, (follow_id,)):
                follow_id = new_follow_id(())
            follow = Follow(follow_id, owner_id, guild_id, channel_id, query, now)
            await run.execute(sql.ADD_FOLLOW, (follow_id, owner_id, guild_id, channel_id, query, now))
        return follow

    async def follows(self) -> list[Follow]:
        async with self.database.transaction() as run:
            return [_follow(row) for row in await run.fetch(sql.FOLLOWS)]

    async def follows_of(self, owner_id: int) -> list[Follow]:
        async with self.database.transaction() as run:
            return [_follow(row) for row in await run.fetch(sql.FOLLOWS_OF, (owner_id,))]

    async def follows_in(self, guild_id: int | None) -> list[Follow]:
        async with self.database.transaction() as run:
            if guild_id is None:
                return [_follow(row) for row in await run.fetch(sql.FOLLOWS_IN_DMS)]
            return [_follow(row) for row in await run.fetch(sql.FOLLOWS_IN, (guild_id,))]

    async def remove_follow(self, follow_id: str, owner_id: int | None = None) -> bool:
        async with self.database.transaction() as run:
            if owner_id is None:
                removed = await run.execute(sql.REMOVE_FOLLOW, (follow_id,))
            else:
                removed = await run.execute(sql.REMOVE_OWN_FOLLOW, (follow_id, owner_id))
            if removed:
                await run.execute(sql.FORGET_NOTICES, (follow_id,))
        return removed > 0

    async def record_notified(self, follow_id: str, article_id: str) -> bool:
        async with self.database.transaction() as run:
            return await run.execute(sql.RECORD_NOTICE, (follow_id, article_id)) > 0

    async def was_notified(self, follow_id: str, article_id: str) -> bool:
        async with self.database.transaction() as run:
            return bool(await run.fetch(sql.NOTICE_EXISTS, (follow_id, article_id)))

    async def set_channel_follows(self, channel_id: int, allowed: bool) -> None:
        async with self.database.transaction() as run:
            await run.execute(sql.TURN_CHANNEL_ON if allowed else sql.TURN_CHANNEL_OFF, (channel_id,))

    async def channel_follows_allowed(self, channel_id: int) -> bool:
        async with self.database.transaction() as run:
            return not await run.fetch(sql.CHANNEL_OFF, (channel_id,))

    async def close(self) -> None:
        await self.database.close()
