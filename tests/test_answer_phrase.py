"""The answer phrase: the number, name or date in the first quote that answers the question's how many /
how much / who / when / where, as offsets in the verbatim quote."""

from __future__ import annotations

import pytest

from index.answering.answer_phrase import answer_span
from index.answering.lexical import has_answer_type


@pytest.mark.parametrize(
    ("question", "quote", "phrase"),
    [
        ("How much did they pay?", "Harbor Foods bought Bay Bakery for $40 million on Monday.", "$40 million"),
        ("When was it announced?", "Harbor Foods announced the deal on Monday.", "Monday"),
        ("Who bought Bay Bakery?", "Harbor Foods said it had bought Bay Bakery.", "Harbor Foods"),
        ("How much did it take on Christmas Day?", "It took $19.1m (£9.9m) on Christmas Day alone.", "$19.1m"),
        ("How many homes are planned?", "Ministers plan 200,000 homes by 2016.", "200,000 homes"),
        ("What share of firms grew?", "Some 43% of firms grew, up from 40% in 2003.", "43%"),
        ("Where was Arthur Hailey born?", "Hailey was born in Luton, England, in 1920.", "Luton"),
        ("How much oil will the world use each day?", "Demand will be 84 million barrels a day.", "84 million barrels"),
        # a price in pence or cents is an amount: not the "12 points" before it
        ("To what price did the shares drop?", "Shares fell 12 points to 44p on Tuesday.", "44p"),
        ("How much is a stamp?", "A stamp now costs 32p, up from 30 cents.", "32p"),
    ],
)
def test_the_phrase_that_answers_is_found(question: str, quote: str, phrase: str) -> None:
    span = answer_span(question, quote)
    assert span is not None and quote[span[0] : span[1]] == phrase


@pytest.mark.parametrize(
    ("question", "quote"),
    [
        ("What did Obama propose?", "Obama proposed a liaison office."),  # no typed answer asked for
        ("How much did they pay in 2005?", "They paid in 2005, the firm said."),  # only the question's own number
        ("Who bought Bay Bakery?", "Bay Bakery was bought."),  # only the question's own name
    ],
)
def test_no_phrase_when_the_question_asks_for_none_or_the_quote_has_none(question: str, quote: str) -> None:
    assert answer_span(question, quote) is None


@pytest.mark.parametrize(
    ("sentence", "holds"),
    [
        ("Shares in the firm fell to 44p.", True),
        ("The levy is 3.5 pence a litre.", True),
        ("Tickets cost 50 cents.", True),
        ("The meeting ends at 3pm.", False),  # a time, not pence
        ("The firm hired 44 people.", False),
    ],
)
def test_pence_and_cents_are_amounts_for_the_scorer(sentence: str, holds: bool) -> None:
    assert has_answer_type("money", sentence, "How much did it cost?") is holds
