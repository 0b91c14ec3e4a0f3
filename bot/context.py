"""A quote inside the text around it, for the "Context n" buttons under an answer (plain, tested without Discord).

Each button carries its quote's place (article id, `[start, end)` and a digest of the quoted text) in its
custom id, so the bot keeps nothing per message and the button works after a restart. A click reads the
article again; when the text at that place no longer has the digest (the article changed) or the article is
gone, the user is told so instead of being shown other text. Otherwise the quote, exactly `body[start:end]`,
is shown in bold within up to two sentences either side, cut to fit at sentence boundaries.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from index import Quote

from . import limits

SENTENCES_AROUND = 2
CUSTOM_ID_LIMIT = 100  # Discord's limit on a component's custom id
CUSTOM_ID_TEMPLATE = r"archivebot:ctx:(?P<start>\d{1,9}):(?P<end>\d{1,9}):(?P<digest>[0-9a-f]{12}):(?P<article_id>.+)"
# Where a sentence begins: after terminal punctuation (and closing quotes or brackets) and white space, or
# after a paragraph break (headlines and list items often end without a full stop).
_SENTENCE_BREAK = re.compile(r"[.!?…][\"'”’)\]]*\s+|\n\s*\n")


def quote_digest(text: str) -> str:
    """12 hex digits that change when the quoted text changes."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


@dataclass(frozen=True)
class QuotePlace:
    """Where a quote stands: the article, the span in its body, and a digest of the text quoted from it."""

    article_id: str
    start: int
    end: int
    digest: str

    @classmethod
    def of(cls, quote: Quote) -> QuotePlace:
        return cls(quote.article_id, quote.start, quote.end, quote_digest(quote.text))

    @property
    def custom_id(self) -> str:
        return f"archivebot:ctx:{self.start}:{self.end}:{self.digest}:{self.article_id}"

    @property
    def fits_a_button(self) -> bool:
        return len(self.custom_id) <= CUSTOM_ID_LIMIT and self.start < self.end

    def holds(self, body: str) -> bool:
        """The body still has the quoted text at this place."""
        return 0 <= self.start < self.end <= len(body) and quote_digest(body[self.start : self.end]) == self.digest


@dataclass(frozen=True)
class QuoteContext:
    """A quote and the sentences around it, all verbatim slices of the body: `before` nearest last (its
    last piece may be the start of the quote's own sentence), `after` nearest first."""

    before: tuple[str, ...]
    quote: str
    after: tuple[str, ...]
    from_start: bool  # `before` begins where the body begins
    to_end: bool  # `after` ends where the body ends


def _sentence_starts(body: str) -> list[int]:
    return sorted({0, *(match.end() for match in _SENTENCE_BREAK.finditer(body))} - {len(body)})


def context_of(body: str, start: int, end: int, sentences: int = SENTENCES_AROUND) -> QuoteContext:
    """`body[start:end]` with up to `sentences` whole sentences either side (and the rest of its own)."""
    starts = _sentence_starts(body)
    bounds = [*starts, len(body)]
    own = bisect_right(starts, start) - 1  # the sentence the quote begins in
    first = max(own - sentences, 0)
    before = [body[bounds[i] : bounds[i + 1]] for i in range(first, own)]
    if bounds[own] < start:
        before.append(body[bounds[own] : start])
    following = bisect_left(bounds, end)  # the first sentence start at or after the quote's end
    last = min(following + sentences, len(bounds) - 1)
    after = [body[bounds[i] : bounds[i + 1]] for i in range(following, last)]
    rest = body[end : bounds[following]]  # the rest of the quote's last sentence, or the space after it
    if rest.strip():
        after.insert(0, rest)
    elif after:
        after[0] = rest + after[0]
    return QuoteContext(
        tuple(before), body[start:end], tuple(after), from_start=bounds[first] == 0, to_end=bounds[last] == len(body)
    )


def _compose(before: list[str], quote: str, after: list[str], cut_front: bool, cut_back: bool) -> str:
    escape = limits.escape_markdown
    return (
        ("… " if cut_front else "")
        + escape("".join(before))
        + f"**{escape(quote)}**"
        + escape("".join(after)).rstrip()
        + (" …" if cut_back else "")
    )


def render_context(context: QuoteContext, limit: int) -> tuple[str, bool]:
    """Markdown for a Discord message: the quote in bold inside its context, at most `limit` characters.
    Outer sentences go first (from the side with more, after on a tie); only a quote too long on its own is
    shortened (a verbatim prefix and "…"). Returns the text and whether the quote had to be shortened."""
    before, after = list(context.before), list(context.after)
    cut_front, cut_back = not context.from_start, not context.to_end
    text = _compose(before, context.quote, after, cut_front, cut_back)
    while len(text) > limit and (before or after):
        if len(after) >= len(before):
            after.pop()
            cut_back = True
        else:
            before.pop(0)
            cut_front = True
        text = _compose(before, context.quote, after, cut_front, cut_back)
    if len(text) > limit:  # no room for the marks that say the text goes on
        text = _compose([], context.quote, [], cut_front=False, cut_back=False)
    if len(text) <= limit:
        return text, False
    room = limit - 4  # the ** either side
    while True:
        text = f"**{limits.escape_markdown(limits.trim(context.quote, room))}**"
        if len(text) <= limit or room <= 1:
            return text[:limit], True
        room -= len(text) - limit
