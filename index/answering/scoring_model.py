"""How well each candidate sentence answers the question: a small learned linear model.

Two stages, each a logistic regression whose weights are fitted by `python -m bench.fit_scoring` (the
command prints them with its cross-validated figures; docs/quality.md, "Sentence scoring", says how):

1. **Text relevance** of a sentence to the question, from the sentence alone: the cosine of their
   vectors, the IDF-weighted share of the question's words in the sentence, its BM25 score, and whether
   it holds the kind of answer asked for. Fitted on answer-selection data (question + candidate
   sentences + labels), where nothing but the text is known.
2. **In the archive** the text relevance is combined with what retrieval knows: how much of the question
   the sentence's predecessor, title and lede add, how well its passage ranked, how much of the question
   its whole article covers, and how early it stands. Fitted on the candidate pools the engine builds for
   the development questions.

Every continuous feature is standardised over the candidate pool of one question (z-scores): a cosine of
0.5 means little by itself, being the pool's best by two standard deviations means a lot, and the
scales of cosine, coverage and BM25 become comparable without hand-set weights. A feature that is the
same for every candidate (as the archive features are in answer-selection data) contributes nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from index.answering.lexical import STRONG_TYPES, has_answer_type, stem, words

if TYPE_CHECKING:
    from index.answering.candidates import Candidate, QuestionAnalysis

# Raw features of one candidate, in this column order.
FEATURES = (
    "dense",  # cosine of question and sentence vectors
    "lexical",  # IDF-weighted share of the question's words in the sentence
    "bm25",  # BM25 of the sentence for the question's words (IDF from the archive or the file)
    "typed_strong",  # holds the number / amount / date / time / score asked for
    "typed_weak",  # holds a name or place, asked for by who / where / which
    "missing_strong",  # a number-like answer is asked for and the sentence has none
    "context_gain",  # the share of the question's words its predecessor, title and lede add
    "retrieval",  # its passage's retrieval score relative to the best passage
    "article",  # IDF-weighted share of the question's words anywhere in its article
    "lede",  # 1 / (1 + position in the article)
    "focus",  # names the noun a which/what question asks about ("which banned *stimulant*")
)
CONTINUOUS = frozenset({"dense", "lexical", "bm25", "context_gain", "retrieval", "article", "lede"})
TEXT_FEATURES = FEATURES[:6]
ARCHIVE_FEATURES = FEATURES[6:]

# Fitted by `python -m bench.fit_scoring` (2026-11-30; see docs/quality.md for the data and the figures).
TEXT_WEIGHTS = {
    "dense": 1.19,
    "lexical": 1.08,
    "bm25": -0.74,
    "typed_strong": 0.60,
    "typed_weak": 0.56,
    "missing_strong": -1.20,
}
ARCHIVE_WEIGHTS = {"text": 0.79, "context_gain": 0.75, "retrieval": 0.11, "article": 0.46, "lede": 0.35, "focus": 0.45}

BM25_K1 = 1.2
BM25_B = 0.75


def _bm25(weights: dict[str, float], stems: list[str], average_length: float) -> float:
    counts: dict[str, int] = {}
    for item in stems:
        counts[item] = counts.get(item, 0) + 1
    norm = BM25_K1 * (1 - BM25_B + BM25_B * max(len(stems), 1) / average_length)
    return sum(
        weight * counts[term] * (BM25_K1 + 1) / (counts[term] + norm)
        for term, weight in weights.items()
        if term in counts
    )


def pool_features(
    analysis: QuestionAnalysis, question_vector: np.ndarray | None, candidates: list[Candidate]
) -> np.ndarray:
    """The raw features (columns in FEATURES order) of every candidate of one question."""
    stems = [[stem(word) for word in words(candidate.text)] for candidate in candidates]
    average_length = (sum(len(s) for s in stems) / len(stems)) if stems else 1.0
    strong = analysis.kind in STRONG_TYPES
    matrix = np.zeros((len(candidates), len(FEATURES)))
    for row, candidate in enumerate(candidates):
        dense = (
            float(np.dot(question_vector, candidate.vector))
            if question_vector is not None and candidate.vector is not None
            else 0.0
        )
        lexical = analysis.coverage(candidate.text)
        context = analysis.coverage(candidate.text, candidate.previous_text, candidate.title, candidate.lede_text)
        typed = has_answer_type(analysis.kind, candidate.text, analysis.question)
        matrix[row] = (
            dense,
            lexical,
            _bm25(analysis.weights, stems[row], average_length or 1.0),
            1.0 if typed and strong else 0.0,
            1.0 if typed and not strong else 0.0,
            1.0 if strong and not typed else 0.0,
            context - lexical,
            candidate.retrieval,
            candidate.article_coverage,
            1.0 / (1.0 + candidate.ordinal),
            1.0 if analysis.focus_stem and analysis.focus_stem in stems[row] else 0.0,
        )
    return matrix


def standardise(matrix: np.ndarray) -> np.ndarray:
    """Continuous columns as z-scores over the pool (0 where a column does not vary); binary ones as they are."""
    result = matrix.astype(float, copy=True)
    if not len(result):
        return result
    for column, name in enumerate(FEATURES):
        if name not in CONTINUOUS:
            continue
        values = result[:, column]
        spread = float(values.std())
        result[:, column] = (values - values.mean()) / spread if spread > 1e-9 else 0.0
    return result


def text_logits(standardised: np.ndarray) -> np.ndarray:
    weights = np.array([TEXT_WEIGHTS[name] for name in TEXT_FEATURES])
    result: np.ndarray = standardised[:, : len(TEXT_FEATURES)] @ weights
    return result


def logits(raw: np.ndarray) -> np.ndarray:
    """The model's log-odds that each candidate answers (higher is better)."""
    standardised = standardise(raw)
    result = ARCHIVE_WEIGHTS["text"] * text_logits(standardised)
    for column, name in enumerate(FEATURES):
        if name in ARCHIVE_WEIGHTS:
            result += ARCHIVE_WEIGHTS[name] * standardised[:, column]
    return result


def probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
