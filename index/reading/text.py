"""Sentence splitting and passage building, with exact character offsets into the clean body.

Every span is `[start, end)` into the body string, so `body[start:end]` is the verbatim text. The
splitter is rule-based (about 250x faster than pysbd on this corpus) and knows the cases news text is
full of: honorifics ("Mr. Obama’s"), dotted acronyms ("U.S. envoy", "U.N. sanctions"), initials,
abbreviated months ("Dec. 9"), decimals ("$1.5bn"), and closing quotes after the full stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that end with a full stop without ending the sentence when a capitalised word follows.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "messrs",
        "mme",
        "mlle",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "gen",
        "lt",
        "col",
        "maj",
        "capt",
        "cmdr",
        "adm",
        "sgt",
        "cpl",
        "pvt",
        "gov",
        "sen",
        "rep",
        "rev",
        "hon",
        "pres",
        "supt",
        "insp",
        "det",
        "fr",
        "sen",
        "atty",
        "amb",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "no",
        "nos",
        "vol",
        "vols",
        "fig",
        "figs",
        "pp",
        "ca",
        "approx",
        "est",
        "dept",
        "univ",
        "assn",
        "bros",
        "vs",
        "v",
        "etc",
        "cf",
        "al",
        "inc",
        "corp",
        "co",
        "ltd",
        "plc",
        "llc",
        "mt",
        "ft",
    ]
)
# Abbreviations that only abbreviate before a number ("No. 10", "vol. 2"); before a word they end a
# sentence ("The answer was no. Then he left.", '"No. Definitely not."').
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "vol", "vols", "fig", "figs", "pp"})
# Abbreviations that may legitimately end a sentence ("... of Acme Inc. The company said").
_TERMINAL_ABBREVIATIONS = frozenset({"etc", "inc", "corp", "co", "ltd", "plc", "llc", "bros"})
# Common sentence openers: after a dotted acronym ("U.S.") these mean a new sentence began.
_OPENERS = frozenset(
    [
        "the",
        "a",
        "an",
        "he",
        "she",
        "it",
        "they",
        "we",
        "i",
        "you",
        "his",
        "her",
        "its",
        "their",
        "our",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "but",
        "and",
        "or",
        "so",
        "yet",
        "however",
        "meanwhile",
        "in",
        "on",
        "at",
        "for",
        "as",
        "after",
        "before",
        "when",
        "while",
        "if",
        "although",
        "though",
        "mr",
        "mrs",
        "ms",
        "dr",
        "some",
        "many",
        "most",
        "all",
        "no",
        "one",
        "two",
        "three",
        "what",
        "who",
        "why",
        "how",
        "where",
        "which",
        "since",
        "during",
    ]
)

_CLOSERS = "\"'”’)]»"
_OPENING = "\"'“‘([«"
# A candidate boundary: terminal punctuation, any closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*(?=\s)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.'’-]*)$")
_DOTTED_ACRONYM = re.compile(r"^(?:[A-Za-z]\.){2,}$|^[A-Z]$")


@dataclass(frozen=True)
class Span:
    """A `[start, end)` slice of the article body."""

    start: int
    end: int


@dataclass(frozen=True)
class PassageSpan:
    """A passage: consecutive sentences `[first_sentence, last_sentence]` and their character span."""

    start: int
    end: int
    first_sentence: int
    last_sentence: int


def _next_word(text: str, position: int) -> str:
    match = re.match(r"\s*[" + re.escape(_OPENING) + r"]*([^\s]*)", text[position : position + 80])
    return match.group(1) if match else ""


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    punctuation = match.group(0)
    after = match.end()
    following = _next_word(text, after)
    if not following:
        return True
    first = following[0]
    # Lower-case continuation ("e.g. the", "U.S. envoy", "said Friday. he"): not a boundary. A brand
    # written in camel case ("iPod", "eBay") counts as a capitalised word.
    if first.islower() and not (len(following) > 1 and following[1].isupper()):
        return False
    if not punctuation.startswith("."):
        return True  # ! ? … followed by a capital or digit
    if punctuation != "." and punctuation[0] == "." and punctuation.rstrip(_CLOSERS) == ".":
        return True  # full stop inside closing quotes: 'said.”'
    before = _WORD_BEFORE.search(text[max(0, match.start() - 40) : match.start()])
    word = before.group(1) if before else ""
    bare = word.rstrip(".").lower()
    if bare in _NUMBER_ABBREVIATIONS:
        return not following.lstrip("#(")[:1].isdigit()
    if bare in _ABBREVIATIONS:
        # "Inc. The" ends a sentence; "Mr. Obama" never does.
        return bare in _TERMINAL_ABBREVIATIONS and following.lower().strip(_CLOSERS) in _OPENERS
    if _DOTTED_ACRONYM.match(word + ".") or _DOTTED_ACRONYM.match(word):
        # "U.S." or an initial ("J. K. Rowling"): a boundary only if a typical opener follows. After a
        # single capital ("World War I. But", "R&B. She") the opener must be a word, not another initial.
        opener = following.strip(_CLOSERS + ",")
        return opener.lower() in _OPENERS and len(opener) > 1
    return True


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Split `text[start:end]` into sentence spans (offsets into `text`), trimmed of whitespace.

    Line breaks are hard boundaries (paragraphs, list items).
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        line_end = start + line.end()
        cursor = line_start
        segment = text[line_start:line_end]
        for match in _BOUNDARY.finditer(segment):
            boundary = line_start + match.end()
            # _Shifted offers the group/start/end that _is_boundary reads, in whole-text offsets; re.Match
            # cannot be subclassed or built, so it stands in by duck typing.
            if _is_boundary(text, _Shifted(match, line_start)):  # type: ignore[arg-type]
                _append(text, spans, cursor, boundary)
                cursor = boundary
        _append(text, spans, cursor, line_end)
    return spans


class _Shifted:
    """A regex match moved into the coordinates of the whole text."""

    __slots__ = ("_match", "_offset")

    def __init__(self, match: re.Match[str], offset: int) -> None:
        self._match = match
        self._offset = offset

    def group(self, index: int = 0) -> str:
        return self._match.group(index)

    def start(self) -> int:
        return self._match.start() + self._offset

    def end(self) -> int:
        return self._match.end() + self._offset


def _append(text: str, spans: list[Span], start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and any(ch.isalnum() for ch in text[start:end]):
        spans.append(Span(start, end))


def build_passages(sentences: list[Span], size: int = 3, max_chars: int = 700) -> list[PassageSpan]:
    """Group consecutive sentences into passages of up to `size` sentences and about `max_chars` characters.

    Passages overlap by one sentence when `size` > 2, so an answer that straddles two passages is
    still whole in one of them (the overlap costs no embedding: passage vectors derive from sentences).
    """
    passages: list[PassageSpan] = []
    if not sentences:
        return passages
    step = max(1, size - 1) if size > 2 else size
    index = 0
    while index < len(sentences):
        last = index
        while (
            last + 1 < len(sentences)
            and last + 1 - index < size
            and sentences[last + 1].end - sentences[index].start <= max_chars
        ):
            last += 1
        passages.append(PassageSpan(sentences[index].start, sentences[last].end, index, last))
        if last == len(sentences) - 1:
            break
        index = max(index + 1, min(index + step, last + 1) if last > index else last + 1)
    return passages
