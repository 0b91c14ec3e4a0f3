"""Sentence selection: which sentences of the retrieved passages answer the question, and how sure we are.

Each candidate sentence (with what retrieval knows about it: its neighbours' text, its article, its
passage's rank) is scored by the learned model of `_scoring` from features that are cheap at query time
(its vector was stored at index time, so no encoding happens here); `score` is the model's probability that
it answers. `confidence` maps the best candidate's evidence to [0, 1]. How the model was fitted and checked:
docs/quality.md, "Sentence scoring".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.answering import scoring_model as _scoring
from index.answering.conversation import CONTEXT_TERM_WEIGHT
from index.answering.lexical import answer_type, content_terms, stem, words

_ANAPHOR = re.compile(
    r"^[\"“‘']?(?:He|She|It|They|This|These|That|Those|His|Her|Its|Their|The (?:company|firm|group|club|bank|"
    r"move|deal|film|band|player|star|minister|government|report|survey|figures?)|But|However|Yet)\b"
)


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


PREVIOUS_MARGIN = 0.2  # a sentence whose predecessor holds this much more of the question is quoted with it


def leans_on_previous(item: Scored) -> bool:
    """The sentence scored well thanks to its predecessor, which holds clearly more of the question than it
    does ("… the market for beer-like drinks is set to grow 84%. Asahi is predicting profits…"): quoting
    both, one contiguous span, keeps what made it relevant (often the answer itself)."""
    return item.previous >= item.lexical + PREVIOUS_MARGIN


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
        present = {stem(word) for text in texts for word in words(text)}
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


def idf_weights(frequencies: dict[str, int], total: int, terms: list[str]) -> dict[str, float]:
    """BM25-style IDF, floored at a small positive value (a word in every passage still counts a little)."""
    result = {}
    for term in terms:
        frequency = frequencies.get(term, 0)
        result[term] = max(0.05, math.log(1 + (total - frequency + 0.5) / (frequency + 0.5)))
    return result


def score_candidates(
    analysis: QuestionAnalysis, question_vector: np.ndarray | None, candidates: list[Candidate]
) -> list[Scored]:
    """Every candidate scored by the learned model of `_scoring` (the probability that it answers), best
    first; ties keep the given order, i.e. retrieval order."""
    raw = _scoring.pool_features(analysis, question_vector, candidates)
    log_odds = _scoring.logits(raw)
    dense, lexical, gain = (FEATURE_COLUMNS[name] for name in ("dense", "lexical", "context_gain"))
    strong, weak = FEATURE_COLUMNS["typed_strong"], FEATURE_COLUMNS["typed_weak"]
    scored = [
        Scored(
            candidate,
            _scoring.probability(float(log_odds[row])),
            float(raw[row, dense]),
            float(raw[row, lexical]),
            float(raw[row, lexical] + raw[row, gain]),
            bool(raw[row, strong] or raw[row, weak]),
            analysis.coverage(candidate.previous_text) if candidate.previous_text else 0.0,
        )
        for row, candidate in enumerate(candidates)
    ]
    scored.sort(key=lambda item: -item.score)
    return scored


FEATURE_COLUMNS = {name: column for column, name in enumerate(_scoring.FEATURES)}


CONFIDENCE_SLOPE = 12.0
CONFIDENCE_MIDPOINT = 0.585


def confidence(best: Scored) -> float:
    """How sure we are that the best sentence answers, in [0, 1].

    Evidence = 0.6 × the share of the question's IDF-weighted words found anywhere in the best
    sentence's article (title included) + 0.4 × the sentence's cosine similarity to the question,
    mapped through a logistic curve centred on CONFIDENCE_MIDPOINT. An archive that does not hold the
    answer lacks the question's rare words ("moons", "boiling") even in its closest article; raw cosine
    alone can't tell (its ranges overlap for answerable and unanswerable questions).
    """
    evidence = 0.6 * best.candidate.article_coverage + 0.4 * best.dense
    return 1.0 / (1.0 + math.exp(-CONFIDENCE_SLOPE * (evidence - CONFIDENCE_MIDPOINT)))


def needs_predecessor(text: str) -> bool:
    """A sentence whose subject is only in the sentence before it ("He said…", "The firm…")."""
    return bool(_ANAPHOR.match(text.strip()))


def near_duplicate(first: str, second: str) -> bool:
    a, b = set(words(first)), set(words(second))
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= 0.6
