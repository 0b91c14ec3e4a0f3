"""`FeedStore` as one JSON file in the data directory (`feeds.json`), for a single machine.

Every change is a read-modify-write under an exclusive `flock` on `feeds.json.lock`, written to a temporary
file, flushed to disk and renamed over the old one: several processes may share the file, and a crash
leaves the old version or the new one, never half of each. Reads reuse the parsed file while it is
unchanged on disk (same inode, size and modification time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .store import FeedState, SeenItem

FILE_NAME = "feeds.json"
FORMAT_VERSION = 1

_Result = TypeVar("_Result")


class JsonFeedStore:
    """Feeds, seen items and leases in `path` (a JSON document: {version, feeds, items, leases})."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> JsonFeedStore:
        return cls(Path(data_dir) / FILE_NAME)

    # ---- FeedStore ---------------------------------------------------------------------------------

    async def feeds(self) -> list[FeedState]:
        return [FeedState(**record) for record in self._read()["feeds"].values()]

    async def add_feed(self, url: str, interval_seconds: float) -> FeedState:
        def add(data: dict[str, Any]) -> FeedState:
            if url not in data["feeds"]:
                data["feeds"][url] = dataclasses.asdict(FeedState(url=url, interval_seconds=interval_seconds))
            return FeedState(**data["feeds"][url])

        return self._change(add)

    async def remove_feed(self, url: str) -> bool:
        def remove(data: dict[str, Any]) -> bool:
            data["leases"].pop(url, None)
            return data["feeds"].pop(url, None) is not None

        return self._change(remove)

    async def save_feed(self, state: FeedState) -> None:
        def save(data: dict[str, Any]) -> None:
            data["feeds"][state.url] = dataclasses.asdict(state)

        self._change(save)

    async def find_item(self, url: str) -> SeenItem | None:
        items: dict[str, dict[str, Any]] = self._read()["items"]
        record = items.get(url) or next((r for r in items.values() if r["canonical_url"] == url), None)
        return SeenItem(**record) if record else None

    async def find_content(self, content_hash: str) -> SeenItem | None:
        if not content_hash:
            return None
        items: dict[str, dict[str, Any]] = self._read()["items"]
        record = next((r for r in items.values() if r["content_hash"] == content_hash), None)
        return SeenItem(**record) if record else None

    async def save_item(self, item: SeenItem) -> None:
        def save(data: dict[str, Any]) -> None:
            data["items"][item.url] = dataclasses.asdict(item)

        self._change(save)

    async def take_lease(self, feed_url: str, owner: str, now: float, until: float) -> bool:
        def take(data: dict[str, Any]) -> bool:
            lease = data["leases"].get(feed_url)
            if lease and lease["owner"] != owner and lease["until"] > now:
                return False
            data["leases"][feed_url] = {"owner": owner, "until": until}
            return True

        return self._change(take)

    async def release_lease(self, feed_url: str, owner: str) -> None:
        def release(data: dict[str, Any]) -> None:
            lease = data["leases"].get(feed_url)
            if lease and lease["owner"] == owner:
                del data["leases"][feed_url]

        self._change(release)

    async def close(self) -> None:
        """Nothing to let go: each change opens the file."""

    # ---- the file ----------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return _empty()
        signature = (status.st_ino, status.st_size, status.st_mtime_ns)
        if self._cache is None or self._cache[0] != signature:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            for part in ("feeds", "items", "leases"):
                data.setdefault(part, {})
            self._cache = (signature, data)
        return self._cache[1]

    def _change(self, change: Callable[[dict[str, Any]], _Result]) -> _Result:
        with self._locked():
            self._cache = None  # another process may have written since: read the file itself
            data = json.loads(json.dumps(self._read()))  # a copy: the cache is only replaced once written
            result = change(data)
            self._write(data)
        return result

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data directory's own mode
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing drops the lock

    def _write(self, data: dict[str, Any]) -> None:
        write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
        status = os.stat(self.path)
        self._cache = ((status.st_ino, status.st_size, status.st_mtime_ns), data)


def write_atomically(path: Path, content: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `content` (file mode `mode`): a temporary file beside it (not named like an archive
    file), flushed to disk, then renamed over it, and the folder flushed, so a crash leaves the old file or
    the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _empty() -> dict[str, Any]:
    return {"version": FORMAT_VERSION, "feeds": {}, "items": {}, "leases": {}}
