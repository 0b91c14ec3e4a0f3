"""News awareness: dates and sources named in a question.

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

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
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


def _option_date(value: str, end: bool) -> str | None:
    from ._parse import parse_date

    value = value.strip("\"'")
    parsed = parse_date(value)
    if parsed:
        return parsed
    if re.fullmatch(r"\d{4}", value):
        return f"{value}-12-31" if end else f"{value}-01-01"
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", value)
    if match:
        period = _month_range(int(match.group(1)), int(match.group(2)))
        return period.end if end else period.start
    return None


def parse_question(question: str, today: date | None = None) -> QuestionOptions:
    """Split a question into its text, hard filters (inline options) and a soft date preference."""
    today = today or date.today()
    source = after = before = None
    for match in _OPTION.finditer(question):
        key, value = match.group(1).lower(), match.group(2)
        if key == "source":
            source = value.strip("\"'")
        elif key in {"after", "since"}:
            after = _option_date(value, end=False) or after
        else:
            before = _option_date(value, end=True) or before
    text = re.sub(r"\s+", " ", _OPTION.sub(" ", question)).strip()
    return QuestionOptions(text or question, source, after, before, period_in(text, today))


def period_in(text: str, today: date) -> DateRange | None:
    lowered = text.lower()
    match = re.search(r"\b(?:in|during|of|from)\s+" + _MONTH + r"\s+((?:19|20)\d\d)\b", lowered)
    if match:
        return _month_range(int(match.group(2)), _MONTHS[match.group(1)])
    match = re.search(r"\b" + _MONTH + r"\s+((?:19|20)\d\d)\b", lowered)
    if match:
        return _month_range(int(match.group(2)), _MONTHS[match.group(1)])
    match = re.search(r"\blast\s+" + _MONTH + r"\b", lowered)
    if match:
        month = _MONTHS[match.group(1)]
        year = today.year if month < today.month else today.year - 1
        return _month_range(year, month)
    if re.search(r"\blast month\b", lowered):
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        return _month_range(year, month)
    if re.search(r"\bthis year\b", lowered):
        return _year_range(today.year)
    if re.search(r"\blast year\b", lowered):
        return _year_range(today.year - 1)
    match = re.search(r"\b(?:in|during|since|of)\s+((?:19|20)\d\d)\b", lowered)
    if match:
        return _year_range(int(match.group(1)))
    return None
