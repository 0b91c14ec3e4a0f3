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

import numpy as np

from index.answering import scoring_model as _scoring
from index.answering.candidates import Candidate, QuestionAnalysis, Scored
from index.answering.lexical import words

_ANAPHOR = re.compile(
    r"^[\"“‘']?(?:He|She|It|They|This|These|That|Those|His|Her|Its|Their|The (?:company|firm|group|club|bank|"
    r"move|deal|film|band|player|star|minister|government|report|survey|figures?)|But|However|Yet)\b"
)


PREVIOUS_MARGIN = 0.2  # a sentence whose predecessor holds this much more of the question is quoted with it


def leans_on_previous(item: Scored) -> bool:
    """The sentence scored well thanks to its predecessor, which holds clearly more of the question than it
    does ("… the market for beer-like drinks is set to grow 84%. Asahi is predicting profits…"): quoting
    both, one contiguous span, keeps what made it relevant (often the answer itself)."""
    return item.previous >= item.lexical + PREVIOUS_MARGIN


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
