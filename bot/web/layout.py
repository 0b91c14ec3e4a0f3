"""The frame every reading-room page shares: the document around its content (landmarks, skip link, navigation,
footer), the question and search forms, and the small date and source line. `pages` builds the pages inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from . import cite
from .cite import human_date

SITE_NAME = "Archivebot reading room"
STYLESHEET = "/static/style.css"
HINT = (
    "Ask in plain words — who, what, when, how much. Narrow it with "
    '<code>source:"…"</code>, <code>after:2009-01-01</code> or <code>before:2009-12-31</code>, '
    "or name a period (“in 2009”)."
)


def time_tag(value: str | None) -> str:
    """A date as `<time datetime="2009-12-19">19 December 2009</time>` ("" for none)."""
    if not value:
        return ""
    return f'<time datetime="{escape(value)}">{escape(human_date(value))}</time>'


def short_time(value: str) -> str:
    """`<time datetime="2009-12-19">19 Dec 2009</time>` (the value as it is when it is not a date)."""
    parsed = cite.parse_iso(value)
    shown = f"{parsed.day} {parsed:%b %Y}" if parsed else value
    return f'<time datetime="{escape(value)}">{escape(shown)}</time>'


def meta_line(source: str | None, date: str | None, *more: str | None, short: bool = True) -> str:
    """`Source · 19 Dec 2009 · …` as HTML, the parts that exist (`short=False`: `19 December 2009`)."""
    when = (short_time(date) if short else time_tag(date)) if date else ""
    parts = [escape(source) if source else "", when, *(escape(part) for part in more if part)]
    return ' <span aria-hidden="true">·</span> '.join(part for part in parts if part)


def layout(title: str, content: str, *, current: str = "") -> str:
    """A whole page: skip link, header with the navigation, the content in `main`, a footer."""
    nav = "".join(
        f'<a href="{href}"' + (' aria-current="page"' if name == current else "") + f">{label}</a>"
        for name, href, label in (("ask", "/", "Ask"), ("search", "/search", "Search"))
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} · {SITE_NAME}</title>\n"
        f'<link rel="stylesheet" href="{STYLESHEET}">\n</head>\n<body>\n'
        '<a class="skip" href="#main">Skip to content</a>\n'
        '<header class="site"><div class="bar">'
        '<a class="brand" href="/"><span class="logo" aria-hidden="true">“</span>Archivebot'
        ' <span class="brand-sub">reading room</span></a>'
        f'<nav class="primary" aria-label="Main">{nav}</nav></div></header>\n'
        f'<main id="main" tabindex="-1">\n{content}\n</main>\n'
        '<footer class="site"><div class="bar"><p>Every quote is verbatim from the archive and links to its'
        " place in the article.</p><p>Read-only · no scripts · no tracking</p></div></footer>\n"
        "</body>\n</html>\n"
    )


def question_form(query: str = "") -> str:
    return (
        '<form class="ask" action="/" method="get" role="search">'
        f'<label for="q">{"Ask another question" if query else "Ask the archive a question"}</label>'
        f'<div class="row"><input id="q" name="q" type="search" value="{escape(query)}" maxlength="1000"'
        ' placeholder="Ask a question" autocomplete="off" required>'
        '<button type="submit">Ask</button></div></form>'
    )


def search_form(query: str = "", filters: Mapping[str, str] | None = None) -> str:
    filters = filters or {}
    fields = "".join(
        f'<div class="field"><label for="{name}">{label}</label><input id="{name}" name="{name}" type="{kind}"'
        f' value="{escape(filters.get(name, ""))}"{extra}></div>'
        for name, label, kind, extra in (
            ("source", "Source", "text", ' maxlength="200" placeholder="Any source"'),
            ("after", "From", "date", ""),
            ("before", "Until", "date", ""),
        )
    )
    return (
        '<form class="ask search" action="/search" method="get" role="search">'
        '<label for="q">Search the archive</label>'
        f'<div class="row"><input id="q" name="q" type="search" value="{escape(query)}" maxlength="1000"'
        ' placeholder="Words, names, places" autocomplete="off" required>'
        '<button type="submit">Search</button></div>'
        f'<details class="filters"{" open" if filters else ""}><summary>Filters</summary>'
        f'<div class="fields">{fields}</div></details></form>'
    )


# ---- home --------------------------------------------------------------------------------------------------
