"""What sentence scoring works on: a candidate sentence (`Candidate`), its score (`Scored`), and the question
as the scorer sees it (`QuestionAnalysis`: content words, IDF weights, answer type, focus noun).

The scorer (`sentence_scorer`) and its fitted model (`scoring_model`) both take these; keeping them here is
what lets the model module stand below the scorer instead of the two importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.answering.conversation import CONTEXT_TERM_WEIGHT
from index.answering.lexical import answer_type, content_terms, stem, stemmed_words


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer, with where it stands."""

    key: tuple[int, int]  # (article row, sentence ordinal)
    text: str
    vector: np.ndarray | None
    previous_text: str = ""
    title: str = ""
    lede_text: str = ""  # the article's first sentence: with the title, it names the article's subject
    article_coverage: float = 0.0  # share of the question's (IDF-weighted) words anywhere in the article
    retrieval: float = 0.0  # 0..1, 1 for the best passage
    ordinal: int = 0


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    dense: float
    lexical: float
    context: float
    typed: bool
    previous: float = 0.0  # the question's (IDF-weighted) share in the sentence before it


class QuestionAnalysis:
    """The question's content words with their IDF weights and the answer type it asks for."""

    def __init__(self, question: str, idf: dict[str, float] | None = None, context_terms: Sequence[str] = ()) -> None:
        self.question = question
        self.terms = content_terms(question)
        self.stems = [stem(term) for term in self.terms]
        default = max(idf.values()) if idf else 1.0
        self.weights = {stem(term): (idf.get(term, default) if idf else 1.0) for term in self.terms}
        self.focus = question_focus(question)
        self.focus_stem = stem(self.focus) if self.focus else ""
        if self.focus and stem(self.focus) in self.weights:
            self.weights[stem(self.focus)] *= FOCUS_BOOST
        for term in context_terms:  # a follow-up's earlier turns: their words count, less than the question's
            self.weights.setdefault(stem(term), (idf.get(term, default) if idf else 1.0) * CONTEXT_TERM_WEIGHT)
        self.total_weight = sum(self.weights.values()) or 1.0
        self.kind = answer_type(question)

    def coverage(self, *texts: str) -> float:
        present = frozenset().union(*map(stemmed_words, texts))
        return sum(weight for term, weight in self.weights.items() if term in present) / self.total_weight


FOCUS_BOOST = 2.0
_FOCUS = re.compile(r"\b(?:[Ww]hich|[Ww]hat)\s+((?:[A-Z][\w'’-]*\s+){0,3})([a-z][\w-]+)")


def question_focus(question: str) -> str | None:
    """The noun a which/what question asks about ("Which banned stimulant…" → "stimulant"): the answer
    sentence usually names it next to the answer."""
    match = _FOCUS.search(question)
    if not match:
        return None
    candidate = match.group(2).lower()
    following = question[match.end() :].lstrip()
    # "which banned stimulant": an adjective or participle before the noun; take the next lower-case word.
    if candidate.endswith(("ed", "al", "ic", "ous", "ive")) and following and following.split()[0][:1].islower():
        candidate = re.sub(r"\W+$", "", following.split()[0].lower())
    if candidate in {"is", "was", "are", "were", "did", "does", "do", "has", "have", "had", "will", "would", "can"}:
        return None
    return candidate
