"""Citations of archived articles as plain text, BibTeX and RIS (the reading room's "Cite this").

Article metadata is hostile input like the body: every value is put on one line (a newline in a title must not
start a new RIS tag or end the record) and BibTeX's special characters are escaped, so a title can neither
close its field nor run TeX commands. The HTML pages escape the results once more when they show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from index import Article, Copy, Quote

from .links import article_url, original_url

FORMATS = {"txt": "text/plain", "bib": "application/x-bibtex", "ris": "application/x-research-info-systems"}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIBTEX_SPECIAL = {
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


@dataclass(frozen=True)
class Citation:
    """What a citation needs: the article's id, title, source, date, byline and an address to reach it."""

    article_id: str
    title: str
    source: str | None = None
    date: str | None = None
    byline: str | None = None
    url: str = ""  # the original http(s) address, else the reading room's page (public URL set), else ""

    @classmethod
    def of_article(cls, article: Article, public_url: str = "") -> Citation:
        url = original_url(article.url) or article_url(public_url, article.article_id)
        return cls(article.article_id, article.title, article.source, article.published, article.byline, url)

    @classmethod
    def of_quote(cls, quote: Quote | Copy, public_url: str = "") -> Citation:
        """From a quote (or a copy) alone, when its article could not be read: no byline, no original URL."""
        date_value = quote.date
        return cls(
            quote.article_id, quote.title, quote.source, date_value, None, article_url(public_url, quote.article_id)
        )


def one_line(text: str | None) -> str:
    """Control characters and line breaks become spaces, runs of spaces one space."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def parse_iso(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


def human_date(value: str | None) -> str:
    """`2009-12-19` -> `19 December 2009`; anything else is returned as it is."""
    parsed = parse_iso(value)
    return f"{parsed.day} {parsed:%B %Y}" if parsed else one_line(value)


def _sentence(text: str | None) -> str:
    """One line, ending in a full stop unless it already ends in . ? ! or …"""
    line = one_line(text)
    return line if line.endswith((".", "?", "!", "…")) else line + "."


def plain_text(citation: Citation) -> str:
    """`Byline. “Title.” Source, 19 December 2009. URL. Archivebot article ID.`"""
    parts = []
    if citation.byline:
        parts.append(_sentence(citation.byline))
    parts.append(f"“{_sentence(citation.title)}”")
    where = ", ".join(part for part in (one_line(citation.source), human_date(citation.date)) if part)
    if where:
        parts.append(where + ".")
    if citation.url:
        parts.append(one_line(citation.url) + ".")
    parts.append(f"Archivebot article {one_line(citation.article_id)}.")
    return " ".join(parts)


def bibtex_escape(text: str | None) -> str:
    return "".join(_BIBTEX_SPECIAL.get(character, character) for character in one_line(text))


def _bibtex_url(url: str) -> str:
    # url fields are read verbatim: braces, backslashes and spaces would end or break the field, so encode them.
    encoded = one_line(url)
    for character, code in (("\\", "%5C"), ("{", "%7B"), ("}", "%7D"), (" ", "%20")):
        encoded = encoded.replace(character, code)
    return encoded


def bibtex_key(article_id: str) -> str:
    return "archivebot-" + (re.sub(r"[^0-9A-Za-z_-]", "", article_id) or "article")


def bibtex(citation: Citation) -> str:
    """An `@article` entry (journal = the source); the title in double braces keeps its capitals."""
    fields: list[tuple[str, str]] = []
    if citation.byline:
        fields.append(("author", "{" + bibtex_escape(citation.byline) + "}"))
    fields.append(("title", "{{" + bibtex_escape(citation.title) + "}}"))
    if citation.source:
        fields.append(("journal", "{" + bibtex_escape(citation.source) + "}"))
    parsed = parse_iso(citation.date)
    if parsed:
        fields += [("year", str(parsed.year)), ("month", MONTHS[parsed.month - 1]), ("date", parsed.isoformat())]
    if citation.url:
        fields.append(("url", "{" + _bibtex_url(citation.url) + "}"))
    fields.append(("note", "{Archivebot article " + bibtex_escape(citation.article_id) + "}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields)
    return f"@article{{{bibtex_key(citation.article_id)},\n{body}\n}}\n"


def ris(citation: Citation, newline: str = "\r\n") -> str:
    """A RIS record (`TY  - NEWS` … `ER  - `): one tag a line, every value on one line."""
    lines = [("TY", "NEWS")]
    if citation.byline:
        lines.append(("AU", one_line(citation.byline)))
    lines.append(("TI", one_line(citation.title)))
    if citation.source:
        lines.append(("T2", one_line(citation.source)))
    parsed = parse_iso(citation.date)
    if parsed:
        lines += [("PY", str(parsed.year)), ("DA", f"{parsed:%Y/%m/%d}/")]
    if citation.url:
        lines.append(("UR", one_line(citation.url)))
    lines += [("N1", f"Archivebot article {one_line(citation.article_id)}"), ("ER", "")]
    return newline.join(f"{tag}  - {value}" for tag, value in lines) + newline


def render(citation: Citation, kind: str) -> str:
    """The citation in one of FORMATS (`txt`, `bib`, `ris`)."""
    if kind == "bib":
        return bibtex(citation)
    if kind == "ris":
        return ris(citation)
    return plain_text(citation) + "\n"
