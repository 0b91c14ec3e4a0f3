"""Search-result snippets: the sentence of an article that best matches the query, with the query's words marked.

The text is hostile: it is cut as plain text and escaped piece by piece around the `<mark>` elements, so markup
in an article (or in the query) is only ever shown as text.
"""

from __future__ import annotations

import re
from html import escape

from index import STOPWORDS  # the words the engine's search leaves out are the ones not worth marking

SNIPPET_CHARS = 240
MAX_TERMS = 12
_OPTION = re.compile(r"\b\w+:(?:\"[^\"]*\"|'[^']*'|\S+)")  # inline options: source:"…", after:2009-01-01
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def query_terms(query: str) -> tuple[str, ...]:
    """The query's words worth marking: lower case, at least three letters (or a number), no stop words."""
    terms: list[str] = []
    for word in _WORD.findall(_OPTION.sub(" ", query).lower()):
        if (len(word) >= 3 or word.isdigit()) and word not in STOPWORDS and word not in terms:
            terms.append(word)
    return tuple(terms[:MAX_TERMS])


def _pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\w*", re.IGNORECASE)  # "runner" also marks "runners"


def snippet(body: str, terms: tuple[str, ...], limit: int = SNIPPET_CHARS) -> str:
    """The sentence with the most distinct query words (the first of equals; the opening if none matches),
    cut to about `limit` characters around its first match, with "…" where it was cut."""
    sentences = [part.strip() for part in _SENTENCE_END.split(body) if part.strip()]
    if not sentences:
        return ""
    pattern = _pattern(terms)
    best, first_match = sentences[0], 0
    if pattern is not None:
        scored = [
            (len({m.group(0).lower() for m in pattern.finditer(s)}), -number) for number, s in enumerate(sentences)
        ]
        count, negative_index = max(scored)
        if count:
            best = sentences[-negative_index]
            found = pattern.search(best)
            first_match = found.start() if found else 0
    if len(best) <= limit:
        return best
    start = max(0, first_match - limit // 3)
    if start:
        space = best.find(" ", start)
        start = space + 1 if 0 <= space < first_match else start
    end = start + limit
    if end < len(best):
        space = best.rfind(" ", start, end)
        end = space if space > start else end
    return ("…" if start else "") + best[start:end].strip() + ("…" if end < len(best) else "")


def highlight(text: str, terms: tuple[str, ...]) -> str:
    """`text` as HTML with each query word in `<mark>`; everything escaped."""
    pattern = _pattern(terms)
    if pattern is None:
        return escape(text)
    out: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        out.append(escape(text[position : match.start()]))
        out.append(f"<mark>{escape(match.group(0))}</mark>")
        position = match.end()
    out.append(escape(text[position:]))
    return "".join(out)
