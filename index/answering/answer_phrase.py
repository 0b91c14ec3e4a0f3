"""The answer phrase: the number, name or date inside a quote that answers a how many / how much / who /
when / where question, as offsets in the quote (the front ends mark it; the quote itself stays verbatim).

Typed spans (money, percent, number, date, time, score, name, place, by `lexical.answer_type`) that the
question does not itself mention; of several, the one nearest the question's own words in the quote (the
answer usually stands next to what the question asks about). Pure string work on one sentence.
"""

from __future__ import annotations

import re

from index.answering.lexical import PENCE_FIGURE, STOPWORDS, answer_type, content_terms, stem, words

_SCALE = r"(?:\s?(?:bn|m|k|billion|million|thousand|trillion)\b)?"
_MONEY = re.compile(
    rf"[$£€¥]\s?\d[\d,]*(?:\.\d+)?{_SCALE}|\b\d[\d,]*(?:\.\d+)?{_SCALE}\s(?:dollars|pounds|euros|yen|francs)\b"
    rf"|\b\d[\d,]*(?:\.\d+)?\s?(?:bn|m)\b"
    rf"|{PENCE_FIGURE}|\b\d[\d,]*(?:\.\d+)?\s(?:pence|cents)\b"
)
_PERCENT = re.compile(r"\b\d[\d,]*(?:\.\d+)?\s?(?:%|per ?cent\b)")
_NUMBER = re.compile(
    r"(?:[$£€¥]\s?)?\b\d[\d,]*(?:\.\d+)?(?:\s?(?:%|per ?cent\b|bn\b|m\b|billion\b|million\b|thousand\b))?"
    r"(?:\s(?!(?:a|an|the|and|or|of|in|on|at|to|for|by|from|with|was|is|are|were)\b)[a-z]+)?"
)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s)?{_MONTH}(?:\s\d{{1,2}}(?!\d))?(?:,?\s(?:1[89]|20)\d\d)?\b"
    r"|\b(?:1[89]|20)\d\d(?:[-/](?:\d\d))?\b"
    r"|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|last week|last year|next year)\b"
)
_TIME = re.compile(
    r"\b\d{1,2}(?:[:.]\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)|\b\d{1,2}[:.]?\d{2}\s?(?:GMT|BST|CET|EST|PST)\b", re.I
)
_SCORE = re.compile(r"\b\d{1,3}\s?[-–]\s?\d{1,3}\b")
_NAME = re.compile(r"\b[A-Z][\w'’-]+(?:\s+(?:(?:of|de|van|von|der|du|la|le)\s+)?[A-Z][\w'’-]+)*")
_NOT_NAMES = frozenset(
    {"mr", "mrs", "ms", "dr", "sir", "but", "the", "he", "she", "it", "they", "we", "i", "in", "on", "at", "a", "an"}
    | {m.lower() for m in _MONTH[3:-1].split("|")}
    | {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)
_PATTERNS = {
    "money": (_MONEY, _PERCENT, _NUMBER),
    "percent": (_PERCENT,),
    "number": (_NUMBER,),
    "date": (_DATE,),
    "time": (_TIME,),
    "score": (_SCORE,),
    "name": (_NAME,),
    "place": (_NAME,),
}


def answer_span(question: str, quote: str) -> tuple[int, int] | None:
    """(start, end) of the answer phrase in `quote`, or None when the question asks for no typed answer or
    the quote holds none the question does not already say."""
    kind = answer_type(question)
    if kind is None:
        return None
    asked = {stem(word) for word in words(question)}
    spans: list[tuple[int, int]] = []
    for pattern in _PATTERNS[kind]:  # in order of preference: money before a bare number
        spans = [
            (m.start(), m.end())
            for m in pattern.finditer(quote)
            if _new(m.group(0), kind, asked) and not quote[: m.start()].rstrip().endswith("(")
        ]  # a figure in brackets restates the one before it ("$19.1m (£9.9m)"): the first is the answer
        if spans:
            break
    if not spans:
        return None
    anchors = _anchors(question, quote)
    if not anchors:
        return min(spans)
    return min(spans, key=lambda span: (min(abs(span[0] - a) for a in anchors), span[0]))


def _new(phrase: str, kind: str, asked: set[str]) -> bool:
    """The phrase says something the question does not: a name not made of the question's words, a number
    not written in it."""
    tokens = [word for word in words(phrase) if word not in _NOT_NAMES]
    if kind in {"name", "place"}:
        tokens = [t for t in tokens if t not in STOPWORDS]
        return bool(tokens) and not all(stem(t) in asked for t in tokens)
    if kind in {"date", "time"}:
        return bool(words(phrase)) and not all(stem(t) in asked for t in words(phrase))
    digits = [t for t in tokens if any(ch.isdigit() for ch in t)]
    return bool(digits) and not all(t in asked for t in digits)


def _anchors(question: str, quote: str) -> list[int]:
    """Where the question's content words stand in the quote."""
    terms = {stem(term) for term in content_terms(question)}
    return [m.start() for m in re.finditer(r"[^\W_]+", quote) if stem(m.group(0)) in terms]
