"""The plain-text formats: `.txt` (the seed's shape with a "- Publication - Weekday, Month D, YYYY" header
and a "CITY |" dateline, the BBC shape with a headline line, or plain text) and `.md`/`.markdown` (optional
front matter)."""

from __future__ import annotations

import re

from index._models import ParsedArticle
from index.reading.article import make_article, paragraphs_of, strip_boilerplate
from index.reading.dates import MONTHS
from index.reading.files import ArchiveFile

_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_HEADER = re.compile(
    r"^\s*[-–—]?\s*(?P<source>[^\n]+?)\s+[-–—|]\s+(?:" + _WEEKDAY + r",?\s+)?"
    r"(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})\s*$"
)
_DATELINE = re.compile(r"^(?P<dateline>[A-Z][A-Za-z .'’,-]{1,40}?)\s*\|\s+")
_BYLINE = re.compile(r"^\s*By\s+(?P<name>[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})\s*$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(?P<meta>.*?)\n---\s*\n", re.DOTALL)


def parse_text(file: ArchiveFile, text: str, default_source: str | None) -> ParsedArticle | None:
    """Plain text: the seed's shape, the BBC shape (headline line first) or anything else."""
    paragraphs = paragraphs_of(text)
    if not paragraphs:
        return None
    source, published, title, dateline, byline = default_source, None, None, None, None
    header = _HEADER.match(paragraphs[0]) if "\n" not in paragraphs[0] and len(paragraphs[0]) <= 300 else None
    if header and header.group("month").lower() in MONTHS:
        source = header.group("source").strip(" -–—")
        published = f"{header.group('month')} {header.group('day')}, {header.group('year')}"
        paragraphs = paragraphs[1:]
    elif _looks_like_headline(paragraphs):
        first, _, rest = paragraphs[0].partition("\n")
        title = first
        paragraphs = ([rest.strip()] if rest.strip() else []) + paragraphs[1:]
    if paragraphs and (byline_match := _BYLINE.match(paragraphs[0])):
        byline = byline_match.group("name")
        paragraphs = paragraphs[1:]
    if paragraphs and (dateline_match := _DATELINE.match(paragraphs[0])):
        dateline = dateline_match.group("dateline").strip()
        paragraphs[0] = paragraphs[0][dateline_match.end() :]
    paragraphs = strip_boilerplate(paragraphs)
    return make_article(
        file,
        body="\n\n".join(paragraphs),
        title=title,
        source=source,
        published=published,
        dateline=dateline,
        byline=byline,
    )


def _looks_like_headline(paragraphs: list[str]) -> bool:
    first_line = paragraphs[0].split("\n", 1)[0].strip()
    if len(paragraphs) < 2 and "\n" not in paragraphs[0]:
        return False
    # A headline may ask or exclaim ("Could Yukos be a blessing in disguise?") or trail off ("... Apple..."),
    # but does not end like a sentence or a clause.
    ends_like_text = re.search(r"[.,;:]$", first_line) and not first_line.endswith(("...", "…"))
    return 0 < len(first_line) <= 200 and not ends_like_text and len(first_line.split()) <= 25


def parse_markdown(file: ArchiveFile, text: str, default_source: str | None) -> ParsedArticle | None:
    """Markdown: `title`/`source`/`date`/`author`/`url` from front matter, else the first heading as title;
    images dropped, links and emphasis reduced to their text."""
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group("meta").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("'\"")
        text = text[match.end() :]
    title = meta.get("title")
    kept = []
    for line in text.replace("\r\n", "\n").split("\n"):
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            if title is None:
                title = heading.group(1)
                continue
            line = heading.group(1)
        # Bracket classes exclude "[" so a line of thousands of "[" is scanned once, not once per bracket.
        line = re.sub(r"!\[[^\[\]]{0,1000}\]\([^()]{0,2000}\)", "", line)  # images
        line = re.sub(r"\[([^\[\]]{1,1000})\]\([^()]{0,2000}\)", r"\1", line)  # links keep their text
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        kept.append(line)
    paragraphs = strip_boilerplate(paragraphs_of("\n".join(kept)))
    return make_article(
        file,
        body="\n\n".join(paragraphs),
        title=title,
        source=meta.get("source") or default_source,
        published=meta.get("date") or meta.get("published"),
        byline=meta.get("author") or meta.get("byline"),
        url=meta.get("url"),
    )
