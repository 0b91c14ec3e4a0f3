"""Conversation context: a follow-up question answered in the light of the turns before it.

"Who bought the company?", then "How much did they pay?": the second question names nothing, so alone it
retrieves whatever best matches "pay". Given the earlier turns, the engine retrieves and chooses sentences
with their key terms (at a lower weight than the question's own) and with the articles they cited as a
prior. A question that plainly changes the subject ("Different question: …", or one that names its own
subject and refers back to nothing) is answered as if alone. No front-end code here: the Discord bot, the
CLI and the evaluation each pass the earlier turns they know.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from index.answering.lexical import content_terms, stem, words

MAX_TURNS = 3  # earlier turns taken into account, the most recent ones
CONTEXT_TERM_WEIGHT = 0.5  # an earlier turn's word counts this much of a word of the question itself
PRIOR_ARTICLE_BOOST = 1.25  # retrieval: a passage of an article an earlier turn cited ranks this much higher

_SWITCH = re.compile(
    r"^\s*(?:(?:a|one)\s+)?(?:different|new|another|unrelated|separate|other)\s+(?:question|topic|subject|thing)\b"
    r"|^\s*(?:changing|switching|change|switch)\s+(?:the\s+)?(?:subject|topic)\b"
    r"|^\s*(?:on\s+)?(?:a\s+)?(?:different|another|unrelated)\s+note\b"
    r"|^\s*(?:something|anything)\s+(?:else|different)\b(?=\s*[:,.;-])",
    re.IGNORECASE,
)
_SWITCH_TAIL = re.compile(r"^[\s:;,.!-]+")
_REFERS_BACK = re.compile(
    r"\b(?:he|she|him|his|her|hers|they|them|their|theirs|it|its|this|that|these|those|there|then|the same)\b"
    r"|^\s*(?:and|but|so|also|what about|how about)\b"
    r"|\b(?:the|that|this)\s+(?:company|firm|club|airline|team|band|group|bank|deal|film|movie|player|coach|singer|"
    r"building|country|government|minister|man|woman|court|report|plan|case|trial|album|show|game|event|"
    r"inquiry|remark|comments?|takeover|bid|offer|shares|sale|move|decision|story|article)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’-]+")


@dataclass(frozen=True)
class Turn:
    """An earlier question of the conversation and the articles its answer cited (best first)."""

    question: str
    article_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """The earlier turns a question is answered with; empty when it is answered alone."""

    turns: tuple[Turn, ...] = ()  # oldest first
    terms: tuple[str, ...] = ()  # their content terms the question does not have
    article_ids: tuple[str, ...] = ()  # the articles they cited, the most recent turn's first

    def __bool__(self) -> bool:
        return bool(self.turns)

    @property
    def text(self) -> str:
        """The earlier questions, to encode together with the question."""
        return " ".join(turn.question for turn in self.turns)

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(turn.question for turn in self.turns)


def changes_subject(question: str) -> tuple[str, bool]:
    """The question without a leading "Different question:" (or the like), and whether it had one."""
    match = _SWITCH.match(question)
    if not match:
        return question, False
    rest = _SWITCH_TAIL.sub("", question[match.end() :])
    return (rest[:1].upper() + rest[1:]) if rest else question, bool(rest)


def _names(text: str) -> set[str]:
    return {stem(word) for match in _NAME.findall(text) for word in words(match)}


def refers_back(question: str, turns: Sequence[Turn]) -> bool:
    """Whether the question leans on the conversation: it refers back ("he", "the club", "And which…"), or it
    names no subject of its own (no name the earlier turns did not already use)."""
    if _REFERS_BACK.search(question):
        return True
    earlier = {stem(word) for turn in turns for word in words(turn.question)}
    return not (_names(question) - earlier)


def resolve(question: str, history: Sequence[str | Turn]) -> tuple[str, Context]:
    """The question to answer (a change-of-subject phrase removed) and the earlier turns to answer it with."""
    text, switched = changes_subject(question)
    if switched or not history:
        return text, Context()
    turns = [item if isinstance(item, Turn) else Turn(str(item)) for item in history]
    start = max((i for i, turn in enumerate(turns) if changes_subject(turn.question)[1]), default=0)
    recent = turns[start:][-MAX_TURNS:]  # the turns since the conversation last changed subject
    recent = [Turn(changes_subject(turn.question)[0], turn.article_ids) for turn in recent]
    if not recent or not refers_back(text, recent):
        return text, Context()
    own = set(content_terms(text))
    terms = [term for turn in recent for term in content_terms(turn.question) if term not in own]
    cited = [article_id for turn in reversed(recent) for article_id in turn.article_ids]
    return text, Context(tuple(recent), tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(cited)))
