"""The conversations the bot takes part in, so a follow-up is answered in context (plain, tested without Discord).

A conversation is a thread the bot started (keyed by the thread's id) or a chain of replies to its answers
(keyed by the id of the answer message replied to). Kept in bounded memory: the least recently used
conversations are forgotten, and each keeps only its last few turns. A reply to an answer the memory no longer
holds (after a restart) is still answered in context: the answer's embed names its question and the articles
it cited (`turn_from_embed`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence

from index import Answer, Turn

TURNS_KEPT = 3  # the engine uses at most the last 3 turns
_ARTICLE_ID = re.compile(r"· id `([^`]+)`")


def turn_of(answer: Answer, question: str) -> Turn:
    """The turn an answer adds: its question and the articles its quotes cite, best first."""
    return Turn(answer.question or question, tuple(dict.fromkeys(quote.article_id for quote in answer.quotes)))


def turn_from_embed(title: str | None, description: str | None) -> Turn | None:
    """An earlier turn read back from one of the bot's answer embeds (question as title, `id `…`` citations)."""
    if not title:
        return None
    return Turn(title.rstrip("…").strip(), tuple(dict.fromkeys(_ARTICLE_ID.findall(description or ""))))


class Conversations:
    """Earlier turns by conversation key (a thread id, or the id of the answer message a reply answers)."""

    def __init__(self, capacity: int = 5_000, turns_kept: int = TURNS_KEPT) -> None:
        self.capacity = capacity
        self.turns_kept = turns_kept
        self._items: OrderedDict[int, tuple[Turn, ...]] = OrderedDict()

    def turns(self, key: int) -> list[Turn]:
        found = self._items.get(key)
        if found is None:
            return []
        self._items.move_to_end(key)
        return list(found)

    def __contains__(self, key: int) -> bool:
        return key in self._items

    def record(self, key: int, turns: Sequence[Turn]) -> None:
        self._items[key] = tuple(turns)[-self.turns_kept :]
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
