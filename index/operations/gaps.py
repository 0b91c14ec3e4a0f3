"""Coverage gaps: the questions the archive could not answer (or answered unhelpfully), grouped by meaning.

Pure functions, no I/O: the engine reads the recorded questions from storage and embeds their texts with
the archive's embedder; this module groups them. Grouping is greedy and leader-based: distinct questions
are taken most asked first, and each joins the first group whose leader (its most asked question) it
resembles, else it leads a new group. Comparing with the leader rather than with any member keeps a
chain of small steps from drifting into one big group.

Two questions resemble each other when the cosine of their vectors is at least GROUP_THRESHOLD and
their anchors agree. Sentence embeddings place "How many people live in Tokyo?" and "... in Osaka?"
close together (cosine 0.86 with the bundled model), though they are different gaps, so anchors
(numbers and capitalised words: names, years) veto a match when each question has one the other lacks.
The threshold was chosen on tests/data/gap_questions.json (docs/quality.md, "Coverage gaps").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index._models import GapGroup
from index._rows import THUMBS_DOWN, AskedQuestion
from index.answering.lexical import STOPWORDS

GROUP_THRESHOLD = 0.6

_TOKEN = re.compile(r"[\w'’-]+")


def normalise(question: str) -> str:
    """The key two spellings of one question share: words only, case-folded."""
    return " ".join(_TOKEN.findall(question.casefold()))


def anchors(question: str) -> set[str]:
    """Numbers and capitalised words (names, places, years), case-folded, without function words."""
    found = set()
    for token in _TOKEN.findall(question):
        folded = re.sub(r"['’]s$", "", token.casefold()).strip("'’-")  # "Australia's" is "australia"
        if not folded or folded in STOPWORDS:
            continue
        if any(character.isdigit() for character in token) or any(character.isupper() for character in token):
            found.add(folded)
    return found


def resemble(first: str, first_vector: np.ndarray, second: str, second_vector: np.ndarray) -> bool:
    """Same gap: close in meaning, and no name or number on each side that the other lacks."""
    if float(np.dot(first_vector, second_vector)) < GROUP_THRESHOLD:
        return False
    first_anchors, second_anchors = anchors(first), anchors(second)
    return not (first_anchors - second_anchors and second_anchors - first_anchors)


@dataclass
class _Distinct:
    text: str  # the latest spelling
    count: int = 0
    last_asked: str = ""
    not_found: int = 0
    thumbs_down: int = 0

    def add(self, record: AskedQuestion) -> None:
        self.count += 1
        if record.asked_at >= self.last_asked:
            self.last_asked, self.text = record.asked_at, record.question
        if record.kind == THUMBS_DOWN:
            self.thumbs_down += 1
        else:
            self.not_found += 1


def distinct_questions(records: Sequence[AskedQuestion]) -> list[_Distinct]:
    """One entry per normalised question, most asked (then most recently asked) first."""
    by_key: dict[str, _Distinct] = {}
    for record in records:
        key = normalise(record.question)
        if key:
            by_key.setdefault(key, _Distinct(record.question)).add(record)
    return sorted(by_key.values(), key=lambda item: (-item.count, _descending(item.last_asked), item.text))


def group_questions(records: Sequence[AskedQuestion], vectors: dict[str, np.ndarray]) -> list[GapGroup]:
    """The records grouped by similar question (vectors: unit vectors by question text, for every distinct
    question's latest spelling), most asked group first."""
    leaders: list[tuple[str, np.ndarray]] = []
    members: list[list[_Distinct]] = []
    for item in distinct_questions(records):
        vector = vectors[item.text]
        for position, (leader, leader_vector) in enumerate(leaders):
            if resemble(item.text, vector, leader, leader_vector):
                members[position].append(item)
                break
        else:
            leaders.append((item.text, vector))
            members.append([item])
    groups = [
        GapGroup(
            questions=tuple(member.text for member in group),
            count=sum(member.count for member in group),
            last_asked=max(member.last_asked for member in group),
            not_found=sum(member.not_found for member in group),
            thumbs_down=sum(member.thumbs_down for member in group),
        )
        for group in members
    ]
    return sorted(groups, key=lambda group: (-group.count, _descending(group.last_asked)))


def _descending(text: str) -> tuple[int, ...]:
    """A sort key that orders ISO timestamps latest first."""
    return tuple(-ord(character) for character in text)
