"""The question as asked, made ready for retrieval: checked text, filters, the period it names, its vector.

This is the first step of the question's path (parse -> retrieve -> select -> answer). The engine
builds one `Query` per ask or search; retrieval and selection read it and never go back to the raw text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

from index._errors import QuestionError
from index._rows import Filters as Filters  # defined below storage, which searches within them
from index.answering.conversation import Context
from index.answering.lexical import clean_text, content_terms
from index.reading.dates import DateRange, QuestionOptions, parse_date, parse_question, relative_phrase

# What every front end replies to a message with nothing to answer (empty, only options such as
# `source:"bbc"`, only emoji, punctuation or stop words): the engine raises it as a QuestionError.
_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>")  # a chat mention left in the text (<@123>, <#456>) is no question
NO_QUESTION = 'there is no question in that: ask one, e.g. "Who won best actor at the Baftas?"'


NO_VECTOR = np.zeros(0, np.float32)  # a query whose vector is still being computed (`retrieve(..., encoding=…)`)


@dataclass(frozen=True)
class Query:
    """One question (or search query) ready to retrieve for."""

    text: str  # cleaned, inline options removed
    vector: np.ndarray  # the text's embedding, unit length (NO_VECTOR while retrieval is handed it separately)
    filters: Filters
    period: DateRange | None  # a period the text names ("in March 2005"): passages inside it rank higher
    context: Context = Context()  # earlier turns of a conversation it follows up (empty: asked alone)
    recent: bool = False  # "the latest…": newer passages rank higher
    newest: str | None = None  # the archive's newest publication date (ISO), what "latest"/"this year" mean


def parse_request(
    question: str,
    *,
    source: str | None,
    after: str | date | None,
    before: str | date | None,
    max_chars: int,
    today: date | None = None,
    require_question: bool = True,
) -> tuple[QuestionOptions, Filters]:
    """The question's text and inline options, and the filters: an explicit argument wins over the
    inline option (`source:bbc`, `after:2005-01-01`) of the same name. `today` is what "this year" and
    "last month" are relative to (the archive's newest article date; default the clock's). A question
    (`require_question`, not a search) must ask something: only options, stop words or emoji raise NO_QUESTION."""
    cleaned = validate(question, max_chars)
    options = parse_question(cleaned, today)
    only_options = options.text == cleaned and bool(options.source or options.after or options.before)
    if require_question and (only_options or not content_terms(_MENTION.sub(" ", options.text))):
        raise QuestionError(NO_QUESTION)  # only options, stop words or emoji: nothing to answer
    filters = Filters(
        source or options.source,
        iso_date(after, "after") or options.after,
        iso_date(before, "before") or options.before,
    )
    return options, filters


def validate(question: str, max_chars: int) -> str:
    """The question cleaned, or `QuestionError` saying what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if len(question) > max_chars * 4:
        raise QuestionError(f"the question is too long (limit {max_chars} characters)")
    cleaned = clean_text(question)
    if not cleaned or not any(ch.isalnum() for ch in cleaned):
        raise QuestionError(NO_QUESTION)
    if len(cleaned) > max_chars:
        raise QuestionError(f"the question is too long ({len(cleaned)} characters; the limit is {max_chars})")
    return cleaned


def iso_date(value: str | date | None, name: str) -> str | None:
    """A filter date as ISO text; a bare year means its first day."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    parsed = parse_date(value) or (
        parse_date(f"{value}-01-01") if str(value).isdigit() and len(str(value)) == 4 else None
    )
    if parsed is None:
        raise QuestionError(f"{name} must be a date like 2009-12-19, got {value!r}")
    return parsed


def date_note(query: Query) -> str | None:
    """How the question's relative date was read, for the answer to say (None when it had none); or that a date
    filter can match nothing because no article of the archive carries a date."""
    if (query.filters.after or query.filters.before) and not query.newest:
        return "the archive's articles carry no dates, so no article can match an after: or before: filter"
    phrase = relative_phrase(query.text)
    if phrase and query.period and query.newest:
        return (
            f'"{phrase}" read as {query.period.start} to {query.period.end}, relative to the archive\'s newest'
            f" article ({query.newest[:10]})"
        )
    if query.recent and query.newest:
        return f"newer articles preferred (the archive's newest is from {query.newest[:10]})"
    return None
