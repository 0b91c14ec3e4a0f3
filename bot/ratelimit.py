"""Rate limits: the one sliding window behind the bot's per-user and per-server limits and the reading room's
per-client-address limit, in plain classes tested without Discord or a web server."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from index import ConfigurationError


@dataclass(frozen=True)
class RateLimit:
    """At most `count` requests per `seconds` (0 disables the limit)."""

    count: int
    seconds: float

    @property
    def enabled(self) -> bool:
        return self.count > 0 and self.seconds > 0

    @classmethod
    def parse(cls, name: str, raw: str, default: RateLimit) -> RateLimit:
        """`COUNT/SECONDS` (`COUNT` alone means per minute); `off`, `none` or `0` disables the limit."""
        raw = raw.strip().lower()
        if not raw:
            return default
        if raw in {"0", "off", "none"}:
            return cls(0, 0.0)
        count, sep, seconds = raw.partition("/")
        try:
            parsed = cls(int(count), float(seconds) if sep else 60.0)
        except ValueError as error:
            raise ConfigurationError(f"{name} must look like 5/60 (requests per seconds), got {raw!r}") from error
        if parsed.count < 0 or parsed.seconds < 0:
            raise ConfigurationError(f"{name} must not be negative, got {raw!r}")
        return parsed

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s" if self.enabled else "off"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until the next request would be allowed
    scope: str = ""  # "user" or "server" when refused
    first_refusal: bool = True  # False when this key was already told to slow down in the current window

    def message(self) -> str:
        wait = max(1, int(self.retry_after + 0.999))
        who = "You are" if self.scope == "user" else "This server is"
        return f"Slow down: {who} asking faster than I answer. Try again in {wait} s."


class _Window:
    __slots__ = ("times", "warned_until")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.warned_until = 0.0


class SlidingWindow:
    """At most `limit.count` events per `limit.seconds` for each key."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}

    def _window(self, key: Hashable, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_keys:
                self._forget_idle(now)
            window = self._windows[key] = _Window()
        while window.times and window.times[0] <= now - self.limit.seconds:
            window.times.popleft()
        return window

    def _forget_idle(self, now: float) -> None:
        idle = [key for key, w in self._windows.items() if not w.times or w.times[-1] <= now - self.limit.seconds]
        for key in idle:
            del self._windows[key]

    def retry_after(self, key: Hashable) -> float:
        """0 when one more event is allowed now, else the seconds until it is."""
        if not self.limit.enabled:
            return 0.0
        now = self.clock()
        window = self._window(key, now)
        if len(window.times) < self.limit.count:
            return 0.0
        return window.times[0] + self.limit.seconds - now

    def take(self, key: Hashable) -> float:
        """0.0 when one more event is allowed now (and counted), else the seconds until it would be."""
        wait = self.retry_after(key)
        if wait <= 0:
            self.record(key)
        return wait

    def record(self, key: Hashable) -> None:
        if self.limit.enabled:
            now = self.clock()
            self._window(key, now).times.append(now)

    def warn_once(self, key: Hashable, retry_after: float) -> bool:
        """True the first time a key is refused within its current wait (so a flood gets one warning)."""
        now = self.clock()
        window = self._window(key, now)
        first = now >= window.warned_until
        window.warned_until = max(window.warned_until, now + retry_after)
        return first

    def __len__(self) -> int:
        return len(self._windows)


class RateLimiter:
    """Checks a request against the user's and the server's windows; a refused request uses up neither."""

    def __init__(self, user: RateLimit, guild: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.users = SlidingWindow(user, clock)
        self.guilds = SlidingWindow(guild, clock)

    def check(self, user_id: int, guild_id: int | None, *, warn_once: bool = False) -> Verdict:
        """Allowed (and counted), or refused with the wait. With `warn_once`, `first_refusal` is False for
        repeated refusals within one wait (channel messages warn once; ephemeral refusals may always answer)."""
        wait = self.users.retry_after(user_id)
        if wait > 0:
            return Verdict(False, wait, "user", not warn_once or self.users.warn_once(user_id, wait))
        if guild_id is not None:
            wait = self.guilds.retry_after(guild_id)
            if wait > 0:
                return Verdict(False, wait, "server", not warn_once or self.guilds.warn_once((guild_id, user_id), wait))
        self.users.record(user_id)
        if guild_id is not None:
            self.guilds.record(guild_id)
        return Verdict(True)
