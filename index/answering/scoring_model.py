"""How well each candidate sentence answers the question: a small learned linear model.

Two stages, each a logistic regression whose weights are fitted by `python -m bench.fit_scoring` (the
command prints them with its cross-validated figures; docs/quality.md, "Sentence scoring", says how):

1. **Text relevance** of a sentence to the question, from the sentence alone: the cosine of their
   vectors, the IDF-weighted share of the question's words in the sentence, how tightly those words sit
   together, how many of the question's own names it repeats, and whether it holds the kind of answer asked
   for. Fitted on the public TREC answer-selection training file (question + candidate sentences + labels,
   where nothing but the text is known); its regularisation and feature set chosen on the TREC development
   file; reported on that file and on our held-out news fixture.
2. **In the archive** the text relevance is combined with what retrieval knows: how much of the question
   the sentence's predecessor, title and lede add, how well its passage ranked, how much of the question
   its whole article covers, and how early it stands. Fitted on the candidate pools the engine builds for
   the development questions only (never the held-out ones).

Every continuous feature is standardised over the candidate pool of one question (z-scores): a cosine of
0.5 means little by itself, being the pool's best by two standard deviations means a lot, and the
scales of cosine, coverage and compactness become comparable without hand-set weights. A feature that is the
same for every candidate (as the archive features are in answer-selection data) contributes nothing.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np

from index.answering.lexical import STRONG_TYPES, has_answer_type, stem, words

if TYPE_CHECKING:
    from index.answering.candidates import Candidate, QuestionAnalysis

# Raw features of one candidate, in this column order.
FEATURES = (
    "dense",  # cosine of question and sentence vectors
    "lexical",  # IDF-weighted share of the question's words in the sentence
    "typed_strong",  # holds the number / amount / date / time / score asked for
    "typed_weak",  # holds a name or place, asked for by who / where / which
    "missing_strong",  # a number-like answer is asked for and the sentence has none
    "open_name",  # the question asks for no particular type ("what is…") and the sentence names someone new
    "compact",  # how tightly the question's words sit: distinct ones found / span of words they cover
    "names",  # share of the question's own proper names ("Durst", "Harlem Globetrotters") in the sentence
    "context_gain",  # the share of the question's words its predecessor, title and lede add
    "retrieval",  # its passage's retrieval score relative to the best passage
    "article",  # IDF-weighted share of the question's words anywhere in its article
    "lede",  # 1 / (1 + position in the article)
    "focus",  # names the noun a which/what question asks about ("which banned *stimulant*")
)
CONTINUOUS = frozenset({"dense", "lexical", "compact", "context_gain", "retrieval", "article", "lede"})
TEXT_FEATURES = FEATURES[:8]
ARCHIVE_FEATURES = FEATURES[8:]

# Fitted by `python -m bench.fit_scoring` (see docs/quality.md, "Sentence scoring", for the data and figures):
# the text stage on the TREC training file only, its L2 strength and features chosen on the TREC development file.
TEXT_WEIGHTS = {
    "dense": 1.35,
    "lexical": 0.67,
    "typed_strong": 2.51,
    "typed_weak": 1.90,
    "missing_strong": 1.69,
    "open_name": 1.38,
    "compact": 0.07,
    "names": 0.37,
}
ARCHIVE_WEIGHTS = {"text": 0.70, "context_gain": 0.98, "retrieval": 0.01, "article": 0.34, "lede": 0.35, "focus": 0.53}

# The TREC answer-selection files mask every number as "<num>": the typed features read it as a number (not a
# year), so that they mean in the training data what they mean in the archive.
_MASKED_NUMBER = re.compile(r"<num>")

# A proper name in the question: a capitalised word (and the capitalised words after it) not opening a sentence.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z'’]+(?:\s+(?:[A-Z][a-z'’]+|van|de|der|von|du))*")


def question_names(question: str) -> list[re.Pattern[str]]:
    """The question's proper names ("Durst's" as "Durst"), each as a case-insensitive whole-phrase pattern."""
    names = dict.fromkeys(re.sub(r"['’]s?$", "", match.group(0).lower()) for match in _NAME.finditer(question))
    return [re.compile(r"\b" + re.escape(name) + r"\b", re.I) for name in names]


def compactness(stems: list[str], question: dict[str, float]) -> float:
    """Distinct question words found / the number of words from the first of them to the last (0 if none)."""
    positions = [i for i, item in enumerate(stems) if item in question]
    if not positions:
        return 0.0
    return len({stems[i] for i in positions}) / (positions[-1] - positions[0] + 1)


def pool_features(
    analysis: QuestionAnalysis, question_vector: np.ndarray | None, candidates: list[Candidate]
) -> np.ndarray:
    """The raw features (columns in FEATURES order) of every candidate of one question."""
    strong = analysis.kind in STRONG_TYPES
    names = question_names(analysis.question)
    matrix = np.zeros((len(candidates), len(FEATURES)))
    for row, candidate in enumerate(candidates):
        stems = [stem(word) for word in words(candidate.text)]
        dense = (
            float(np.dot(question_vector, candidate.vector))
            if question_vector is not None and candidate.vector is not None
            else 0.0
        )
        lexical = analysis.coverage(candidate.text)
        context = analysis.coverage(candidate.text, candidate.previous_text, candidate.title, candidate.lede_text)
        typed = has_answer_type(analysis.kind, _MASKED_NUMBER.sub("1000", candidate.text), analysis.question)
        open_name = analysis.kind is None and has_answer_type("name", candidate.text, analysis.question)
        matrix[row] = (
            dense,
            lexical,
            1.0 if typed and strong else 0.0,
            1.0 if typed and not strong else 0.0,
            1.0 if strong and not typed else 0.0,
            1.0 if open_name else 0.0,
            compactness(stems, analysis.weights),
            sum(1 for name in names if name.search(candidate.text)) / len(names) if names else 0.0,
            context - lexical,
            candidate.retrieval,
            candidate.article_coverage,
            1.0 / (1.0 + candidate.ordinal),
            1.0 if analysis.focus_stem and analysis.focus_stem in stems else 0.0,
        )
    return matrix


def standardise(matrix: np.ndarray) -> np.ndarray:
    """Continuous columns as z-scores over the pool (0 where a column does not vary); the others (binary, or
    shares such as `names`) centred on the pool's mean, so that a feature equal for every candidate adds nothing
    to any of them (the probability of a question's candidates is not shifted by what kind of question it is)."""
    result = matrix.astype(float, copy=True)
    if not len(result):
        return result
    for column, name in enumerate(FEATURES):
        values = result[:, column]
        spread = float(values.std())
        if name not in CONTINUOUS:
            result[:, column] = values - values.mean()
        else:
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
