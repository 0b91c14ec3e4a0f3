"""Discord's message limits, and trimming text to fit them at sentence (else word) boundaries.

Discord rejects the whole message (HTTP 400, code 50035) when any limit is exceeded, and discord.py checks
almost none of them; everything the bot sends is built to fit with these helpers.
"""

from __future__ import annotations

import re

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
FIELD_VALUE = 1024
FOOTER = 2048
AUTOCOMPLETE_CHOICES = 25
CHOICE_NAME = 100
THREAD_NAME = 100

ELLIPSIS = "…"
# The end of a sentence: terminal punctuation, optional closing quotes/brackets, then whitespace.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_SPACE = re.compile(r"\s+")


_MARKDOWN = re.compile(r"([\\*_~|`\[\]<>#])|^(\s*)([-+])(?=\s)|^(\s*\d+)(\.)(?=\s)", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """`text` as Discord shows it literally: a backslash before every character Discord's markdown reads
    (emphasis, code, spoilers, masked links, mentions, headings, list markers). discord.py's own
    `escape_markdown` matches a masked link greedily, from the first `[` to the last `)`, and leaves
    everything in between unescaped, so a second link in the same text stayed live (tests/test_bot_units.py)."""
    return _MARKDOWN.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    character, indent, bullet, number, dot = match.groups()
    if character:
        return "\\" + character
    return f"{indent}\\{bullet}" if bullet else f"{number}\\{dot}"


def trim(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """`text` if it fits in `limit` characters; otherwise its longest prefix that ends a sentence (when that
    keeps at least half the room), else that ends a word, followed by `ellipsis`. Never longer than `limit`."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    if room <= 0:
        return text[:limit]
    head = text[: room + 1]  # one more character: a boundary right at the limit counts
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= room]
    if ends and ends[-1] >= room // 2:
        return text[: ends[-1]].rstrip() + ellipsis
    spaces = [m.start() for m in _SPACE.finditer(head) if m.start() <= room]
    if spaces and spaces[-1] > 0:
        return text[: spaces[-1]].rstrip() + ellipsis
    return text[:room] + ellipsis


def split_pages(text: str, size: int) -> list[str]:
    """Split text into pages of at most `size` characters, preferring paragraph, then sentence, then word breaks."""
    if size <= 0:
        raise ValueError("page size must be positive")
    pages: list[str] = []
    rest = text.strip()
    while len(rest) > size:
        window = rest[: size + 1]
        cut = window.rfind("\n\n", 0, size)
        if cut < size // 2:
            ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= size]
            cut = ends[-1] if ends and ends[-1] >= size // 2 else -1
        if cut < size // 2:
            cut = window.rfind(" ", 0, size)
        if cut <= 0:
            cut = size
        pages.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pages:
        pages.append(rest)
    return pages
