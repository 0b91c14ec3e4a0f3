"""Dates: reading an article's date, and the dates and sources named in a question.

- `parse_date` turns the forms articles state their dates in into ISO dates.
- Inline options `after:2009-01-01`, `before:2009-12-31`, `source:"Washington Times"` become hard filters
  and are removed from the question text.
- Phrases like "in 2009", "in December 2009", "last December", "this year", "last month" become a soft
  date preference: articles dated inside the range rank higher, articles dated outside it lower, and
  undated articles are left alone (an archive with no dates still answers).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from index._errors import QuestionError

# Month names and the abbreviations news copy uses: English whatever the locale (`calendar`'s names follow it).
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# Longest names first, so "sept" is not read as "sep" followed by a "t".
_MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_OPTION = re.compile(r"\b(after|before|since|until|source):\s*(\"[^\"]+\"|'[^']+'|\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class DateRange:
    start: str  # ISO, inclusive
    end: str  # ISO, inclusive

    def contains(self, published: str | None) -> bool | None:
        if not published:
            return None
        return self.start <= published <= self.end


@dataclass(frozen=True)
class QuestionOptions:
    text: str  # the question without inline options
    source: str | None = None
    after: str | None = None
    before: str | None = None
    period: DateRange | None = None


def _month_range(year: int, month: int) -> DateRange:
    last = calendar.monthrange(year, month)[1]
    return DateRange(date(year, month, 1).isoformat(), date(year, month, last).isoformat())


def _year_range(year: int) -> DateRange:
    return DateRange(f"{year:04d}-01-01", f"{year:04d}-12-31")


def parse_date(text: str | None) -> str | None:
    """An ISO date from common forms: 2009-12-19, December 19, 2009, 19 December 2009, Dec. 19, 2009."""
    if not text:
        return None
    text = str(text).strip()
    match = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if match:
        return _iso(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = re.search(r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})", text)
    if match and match.group(1).lower() in MONTHS:
        return _iso(int(match.group(3)), MONTHS[match.group(1).lower()], int(match.group(2)))
    match = re.search(r"(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})", text)
    if match and match.group(2).lower() in MONTHS:
        return _iso(int(match.group(3)), MONTHS[match.group(2).lower()], int(match.group(1)))
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _option_date(value: str, end: bool) -> str | None:
    value = value.strip("\"'")
    parsed = parse_date(value)
    if parsed:
        return parsed
    if re.fullmatch(r"\d{4}", value):
        return f"{value}-12-31" if end else f"{value}-01-01"
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", value)
    if match and 1 <= int(match.group(2)) <= 12:
        period = _month_range(int(match.group(1)), int(match.group(2)))
        return period.end if end else period.start
    return None


def _checked_option_date(key: str, value: str, end: bool) -> str:
    """An inline date option's value, or `QuestionError`: a filter the reader typed is never silently dropped
    (the question would be answered from the whole archive as if it had none)."""
    parsed = _option_date(value, end)
    if parsed is None:
        shown = value.strip("\"'")
        raise QuestionError(f"{key}: must be a date like 2009-12-19, 2009-12 or 2009, got {shown!r}")
    return parsed


def parse_question(question: str, today: date | None = None) -> QuestionOptions:
    """Split a question into its text, hard filters (inline options) and a soft date preference."""
    today = today or date.today()
    source = after = before = None
    for match in _OPTION.finditer(question):
        key, value = match.group(1).lower(), match.group(2)
        if key == "source":
            source = value.strip("\"'")
        elif key in {"after", "since"}:
            after = _checked_option_date(key, value, end=False)
        else:
            before = _checked_option_date(key, value, end=True)
    text = re.sub(r"\s+", " ", _OPTION.sub(" ", question)).strip()
    return QuestionOptions(text or question, source, after, before, period_in(text, today))


def period_in(text: str, today: date) -> DateRange | None:
    lowered = text.lower()
    match = re.search(r"\b(?:in|during|of|from)\s+" + _MONTH + r"\s+((?:19|20)\d\d)\b", lowered)
    if match:
        return _month_range(int(match.group(2)), MONTHS[match.group(1)])
    match = re.search(r"\b" + _MONTH + r"\s+((?:19|20)\d\d)\b", lowered)
    if match:
        return _month_range(int(match.group(2)), MONTHS[match.group(1)])
    match = re.search(r"\blast\s+" + _MONTH + r"\b", lowered)
    if match:
        month = MONTHS[match.group(1)]
        year = today.year if month < today.month else today.year - 1
        return _month_range(year, month)
    if re.search(r"\blast month\b", lowered):
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return _month_range(year, month)
    if re.search(r"\bthis month\b", lowered):
        return _month_range(today.year, today.month)
    if re.search(r"\bthis year\b", lowered):
        return _year_range(today.year)
    if re.search(r"\blast year\b", lowered):
        return _year_range(today.year - 1)
    match = re.search(r"\b(?:in|during|since|of)\s+((?:19|20)\d\d)\b", lowered)
    if match:
        return _year_range(int(match.group(1)))
    return None


# ---- relative to the archive ("the latest", "this year"), not to the clock ----------------------------

_RECENT = re.compile(r"\b(?:latest|most recent(?:ly)?|newest|recently|lately)\b", re.IGNORECASE)
_RELATIVE = re.compile(r"\b(?:this year|last year|last month|this month|last\s+" + _MONTH + r")\b", re.IGNORECASE)


def asks_for_recent(text: str) -> bool:
    """ "What is the latest on…", "the most recent…": a preference for the archive's newest articles."""
    return bool(_RECENT.search(text))


def relative_phrase(text: str) -> str | None:
    """The phrase ("this year", "last month", "last December") that `period_in` reads relative to a date."""
    match = _RELATIVE.search(text)
    return match.group(0) if match else None
