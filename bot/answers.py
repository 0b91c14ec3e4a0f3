"""What recent answers quoted, by answer key, for the 👍/👎 buttons under them (plain, tested without Discord)."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AnsweredQuestion:
    question: str
    article_ids: tuple[str, ...]
    guild_id: int | None


class AnswerRegistry:
    """What each recent answer was about (question, quoted article ids), by answer key, for feedback clicks.

    Bounded (least recently used answers are forgotten); a click on an answer no longer here, e.g. after a
    restart, is still recorded from the message itself (see `views.FeedbackButton.recover`)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, AnsweredQuestion] = OrderedDict()

    def add(self, question: str, article_ids: Sequence[str], guild_id: int | None) -> str:
        key = secrets.token_hex(8)
        self._items[key] = AnsweredQuestion(question, tuple(article_ids), guild_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return key

    def get(self, key: str) -> AnsweredQuestion | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def __len__(self) -> int:
        return len(self._items)
