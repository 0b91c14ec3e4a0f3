"""The sentence scorer's features (index/answering/scoring_model.py) on hand-made candidates: what each one
measures, so that a refit (bench/fit_scoring.py) works on the features the docs describe. No model needed."""

from __future__ import annotations

import numpy as np

from index.answering import scoring_model as model
from index.answering.candidates import Candidate, QuestionAnalysis


def features(question: str, *sentences: str) -> dict[str, np.ndarray]:
    candidates = [Candidate(key=(0, i), text=text, vector=None) for i, text in enumerate(sentences)]
    raw = model.pool_features(QuestionAnalysis(question), None, candidates)
    return {name: raw[:, column] for column, name in enumerate(model.FEATURES)}


def test_compact_prefers_the_question_words_close_together() -> None:
    found = features(
        "When did the bridge toll rise?",
        "The bridge toll will rise in May.",
        "The bridge, which opened after years of argument about its cost and route, saw its toll rise.",
        "Nothing to see here.",
    )
    assert found["compact"][0] > found["compact"][1] > found["compact"][2] == 0.0


def test_names_is_the_share_of_the_question_s_proper_names_in_the_sentence() -> None:
    found = features(
        "What is the name of Durst's group in Los Angeles?",
        "Fred Durst sang in Los Angeles.",
        "Durst sang.",
        "The band sang in Los Angelesville.",  # whole phrases only
    )
    assert list(found["names"]) == [1.0, 0.5, 0.0]


def test_masked_numbers_count_as_numbers_but_not_as_years() -> None:
    found = features("How many people attended?", "About <num> people came .", "Many people came .")
    assert list(found["typed_strong"]) == [1.0, 0.0] and list(found["missing_strong"]) == [0.0, 1.0]
    dated = features("When was the court set up?", "It was set up in <num> .")
    assert list(dated["typed_strong"]) == [0.0]  # "<num>" may be any number: not taken for a date


def test_open_name_only_for_questions_asking_for_no_particular_type() -> None:
    open_question = features(
        "What sport do the Globetrotters play?", "The Globetrotters toured widely.", "They play Basketball."
    )
    assert list(open_question["open_name"]) == [0.0, 1.0]  # only a name the question does not hold counts
    typed_question = features("How many games did the Globetrotters play?", "They play Basketball in Cuba.")
    assert list(typed_question["open_name"]) == [0.0]


def test_a_feature_equal_for_every_candidate_adds_nothing() -> None:
    raw = np.zeros((3, len(model.FEATURES)))
    raw[:, model.FEATURES.index("typed_strong")] = 1.0  # every candidate holds a number
    raw[:, model.FEATURES.index("dense")] = [0.2, 0.5, 0.8]
    standardised = model.standardise(raw)
    assert np.all(standardised[:, model.FEATURES.index("typed_strong")] == 0.0)
    logits = model.logits(raw)
    assert abs(float(logits.mean())) < 1e-9 and logits[2] > logits[1] > logits[0]
