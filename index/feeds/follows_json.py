"""`FollowStore` as one JSON file in the data directory (`follows.json`), like `JsonFeedStore`: every change a
read-modify-write under an exclusive `flock` on `follows.json.lock`, written atomically (mode 0600)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .follows import Follow, FollowError, FollowSettings, check_query, limit_problem, new_follow_id
from .json_store import write_atomically

FILE_NAME = "follows.json"
FORMAT_VERSION = 1

_Result = TypeVar("_Result")


class JsonFollowStore:
    """Follows, notified pairs and channels with follows off in `path` ({version, follows, notified,
    channels_off}); `notified` maps a follow id to the article ids it was told about."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> JsonFollowStore:
        return cls(Path(data_dir) / FILE_NAME)

    # ---- FollowStore -------------------------------------------------------------------------------

    async def add_follow(
        self, owner_id: int, guild_id: int | None, channel_id: int, query: str, now: float, limits: FollowSettings
    ) -> Follow:
        query = check_query(query)

        def add(data: dict[str, Any]) -> Follow:
            if str(channel_id) in data["channels_off"]:
                raise FollowError("Follows are turned off in this channel by the server's admins.")
            follows = [Follow(**record) for record in data["follows"].values()]
            mine = sum(1 for follow in follows if follow.owner_id == owner_id)
            here = sum(1 for follow in follows if guild_id is not None and follow.guild_id == guild_id)
            problem = limit_problem(mine, here, guild_id is not None, limits)
            if problem:
                raise FollowError(problem)
            follow = Follow(new_follow_id(data["follows"]), owner_id, guild_id, channel_id, query, now)
            data["follows"][follow.id] = dataclasses.asdict(follow)
            return follow

        return self._change(add)

    async def follows(self) -> list[Follow]:
        return sorted((Follow(**record) for record in self._read()["follows"].values()), key=lambda f: f.created)

    async def follows_of(self, owner_id: int) -> list[Follow]:
        return [follow for follow in await self.follows() if follow.owner_id == owner_id]

    async def follows_in(self, guild_id: int | None) -> list[Follow]:
        return [follow for follow in await self.follows() if follow.guild_id == guild_id]

    async def remove_follow(self, follow_id: str, owner_id: int | None = None) -> bool:
        def remove(data: dict[str, Any]) -> bool:
            record = data["follows"].get(follow_id)
            if record is None or (owner_id is not None and record["owner_id"] != owner_id):
                return False
            del data["follows"][follow_id]
            data["notified"].pop(follow_id, None)
            return True

        return self._change(remove)

    async def record_notified(self, follow_id: str, article_id: str) -> bool:
        def record(data: dict[str, Any]) -> bool:
            told: list[str] = data["notified"].setdefault(follow_id, [])
            if article_id in told:
                return False
            told.append(article_id)
            return True

        return self._change(record)

    async def was_notified(self, follow_id: str, article_id: str) -> bool:
        return article_id in self._read()["notified"].get(follow_id, [])

    async def set_channel_follows(self, channel_id: int, allowed: bool) -> None:
        def change(data: dict[str, Any]) -> None:
            if allowed:
                data["channels_off"].pop(str(channel_id), None)
            else:
                data["channels_off"][str(channel_id)] = True

        self._change(change)

    async def channel_follows_allowed(self, channel_id: int) -> bool:
        return str(channel_id) not in self._read()["channels_off"]

    async def close(self) -> None:
        """Nothing to let go: each change opens the file."""

    # ---- the file ----------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except FileNotFoundError:
            data = {"version": FORMAT_VERSION}
        for part in ("follows", "notified", "channels_off"):
            data.setdefault(part, {})
        return data

    def _change(self, change: Callable[[dict[str, Any]], _Result]) -> _Result:
        with self._locked():
            data = self._read()
            result = change(data)  # raises (FollowError) before anything is written
            write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
        return result

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)
