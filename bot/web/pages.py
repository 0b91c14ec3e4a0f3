"""The reading room's HTML, built from engine results. Every piece of text goes through `escape()`.

Pages are plain HTML5 with one same-origin style sheet: no script, no external fonts, no inline styles (the
Content-Security-Policy forbids them). Each page has the landmarks a screen reader expects (a skip link, header,
navigation, main, footer) and labelled form fields. The article body keeps its line breaks through CSS
(`white-space: pre-line`), so the highlighted quote is one `<mark id="quote">` holding exactly `body[start:end]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote_plus, urlencode

from index import Answer, Article, ArticleHit, Copy, Quote

from . import cite
from .cite import Citation
from .layout import HINT, layout, meta_line, question_form, search_form, short_time
from .links import article_path, original_url
from .snippets import highlight, query_terms


def _stat(value: str, label: str, *, label_first: bool = False) -> str:
    value_html, label_html = f'<span class="value">{value}</span>', f'<span class="label">{label}</span>'
    return f"<li>{label_html}{value_html}</li>" if label_first else f"<li>{value_html}{label_html}</li>"


def home_page(stats: Any, recent: Sequence[ArticleHit] = (), examples: Sequence[str] = ()) -> str:
    """The question box, what the archive holds, example questions (the operator's) or a hint, and the newest
    headlines. `stats` is the engine's `Stats`; `sources`, `first_published` and `last_published` are shown when
    the engine provides them, else the newest headline's date stands for the end of the range."""
    articles = int(getattr(stats, "articles", 0) or 0)
    figures = [_stat(f"{articles:,}", "articles" if articles != 1 else "article")]
    sources = getattr(stats, "sources", None)
    if isinstance(sources, int):
        figures.append(_stat(f"{sources:,}", "sources" if sources != 1 else "source"))
    first, last = getattr(stats, "first_published", None), getattr(stats, "last_published", None)
    newest = last or next((hit.date for hit in recent if hit.date), None)
    if first and newest:
        years = sorted({str(first)[:4], str(newest)[:4]})
        figures.append(_stat(escape("–".join(years)), "published"))
    elif newest:
        figures.append(_stat(short_time(newest), "Latest story", label_first=True))
    updated = getattr(stats, "last_indexed", None)
    if updated:
        figures.append(_stat(short_time(str(updated)[:10]), "Updated", label_first=True))
    hero = (
        '<section class="hero" aria-labelledby="hero-title">'
        '<h1 id="hero-title">Ask the archive.</h1>'
        '<p class="lede">Answers come as verbatim sentences from the archive, each cited and linked to its place'
        " in the article — never as made-up text.</p>"
        f"{question_form()}"
        f'<ul class="stats" aria-label="What the archive holds">{"".join(figures)}</ul></section>'
    )
    if examples:
        links = "".join(
            f'<li><a href="/?q={_quote_param(q)}">{escape(q)}<span class="arrow" aria-hidden="true">→</span></a></li>'
            for q in examples
        )
        guide = (
            '<section class="examples" aria-labelledby="examples-title"><h2 id="examples-title">Try asking</h2>'
            f'<ul class="suggestions">{links}</ul></section>'
        )
    else:
        guide = (
            '<section class="examples" aria-labelledby="examples-title"><h2 id="examples-title">How to ask</h2>'
            f'<p class="hint">{HINT}</p></section>'
        )
    latest = ""
    if recent:
        cards = "".join(
            f'<li class="card"><a class="title" href="{escape(article_path(hit.article_id))}">{escape(hit.title)}</a>'
            + (f'<p class="meta">{meta_line(hit.source, hit.date)}</p>' if hit.source or hit.date else "")
            + "</li>"
            for hit in recent
        )
        latest = (
            '<section class="recent" aria-labelledby="recent-title"><h2 id="recent-title">Recently in the archive</h2>'
            f'<ol class="cards">{cards}</ol></section>'
        )
    return layout("Ask", hero + guide + latest, current="ask")


def _quote_param(text: str) -> str:
    return escape(quote_plus(text))


# ---- answers -----------------------------------------------------------------------------------------------


def copies_html(copies: tuple[Copy, ...]) -> str:
    """ "Also in: …" for the other copies of a syndicated story, each linking to its article ("" for none)."""
    if not copies:
        return ""
    items = "; ".join(
        f'<a href="{escape(article_path(copy.article_id))}">{escape(copy.title)}</a>'
        + (f" · {meta_line(copy.source, copy.date)}" if copy.source or copy.date else "")
        for copy in copies
    )
    return f'<p class="also">Also in: {items}</p>'


def answer_span(quote: Quote) -> tuple[int, int] | None:
    """The answering phrase inside the quote text, when the engine marks one (`answer_start`/`answer_end`)."""
    start, end = getattr(quote, "answer_start", None), getattr(quote, "answer_end", None)
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(quote.text):
        return None
    return start, end


def quote_html(quote: Quote) -> str:
    """The quote's text, escaped, with its answering phrase in `<mark class="answer">` when it has one."""
    span = answer_span(quote)
    if span is None:
        return escape(quote.text)
    start, end = span
    text = quote.text
    return f'{escape(text[:start])}<mark class="answer">{escape(text[start:end])}</mark>{escape(text[end:])}'


def _cite_block(citation: Citation) -> str:
    """ "Cite this": the citation as plain text, BibTeX and RIS to copy, and links to download each."""
    base = article_path(citation.article_id)
    blocks = "".join(
        f'<div class="format"><p class="format-head"><span>{label}</span>'
        f'<a href="{escape(base)}/cite.{kind}" download>Download .{kind}</a></p>'
        f"<pre>{escape(text)}</pre></div>"
        for label, kind, text in (
            ("Plain text", "txt", cite.plain_text(citation)),
            ("BibTeX", "bib", cite.bibtex(citation).rstrip("\n")),
            ("RIS", "ris", cite.ris(citation, newline="\n").rstrip("\n")),
        )
    )
    return (
        '<details class="cite"><summary>Cite this</summary>'
        f'<p class="id">Article id <code>{escape(citation.article_id)}</code></p>{blocks}</details>'
    )


def _sources(answer: Answer, citations: Mapping[str, Citation]) -> tuple[dict[str, int], str]:
    """Each cited article once, numbered in the order the quotes first cite it."""
    numbers: dict[str, int] = {}
    firsts: list[Quote] = []
    for quote in answer.quotes:
        if quote.article_id not in numbers:
            numbers[quote.article_id] = len(numbers) + 1
            firsts.append(quote)
    items = []
    for quote in firsts:
        number = numbers[quote.article_id]
        citation = citations.get(quote.article_id) or Citation.of_quote(quote)
        link = article_path(quote.article_id, question=answer.question)
        meta = meta_line(quote.source, quote.date, citation.byline)
        items.append(
            f'<li class="source card" id="source-{number}"><span class="number" aria-hidden="true">{number}</span>'
            f'<div class="source-body"><a class="title" href="{escape(link)}">{escape(quote.title)}</a>'
            + (f'<p class="meta">{meta}</p>' if meta else "")
            + copies_html(quote.also_in)
            + _cite_block(citation)
            + "</div></li>"
        )
    heading = "Source" if len(items) == 1 else "Sources"
    html = (
        '<section class="sources" aria-labelledby="sources-title">'
        f'<h2 id="sources-title">{heading}</h2><ol class="sources">{"".join(items)}</ol></section>'
    )
    return numbers, html


def _quote_item(quote: Quote, number: int, question: str) -> str:
    link = article_path(quote.article_id, quote.start, quote.end, question=question)
    return (
        '<li class="quote card">'
        f'<blockquote cite="{escape(link)}"><p>“{quote_html(quote)}”</p></blockquote>'
        '<p class="quote-foot">'
        f'<a class="ref" href="#source-{number}"><span class="visually-hidden">Source </span>{number}</a>'
        f'<span class="from">{escape(quote.source or quote.title)}</span>'
        f'<a class="context" href="{escape(link)}">Read in context<span aria-hidden="true"> →</span></a></p>'
        "</li>"
    )


def hit_item(hit: ArticleHit, *, snippet_html: str = "", search: str = "", question: str = "") -> str:
    meta = meta_line(hit.source, hit.date)
    link = article_path(hit.article_id, question=question, search=search)
    return (
        f'<li class="hit card"><a class="title" href="{escape(link)}">{escape(hit.title)}</a>'
        + (f'<p class="meta">{meta}</p>' if meta else "")
        + (f'<p class="snippet">{snippet_html}</p>' if snippet_html else "")
        + copies_html(hit.also_in)
        + "</li>"
    )


def _notes(caveats: Sequence[str], date_note: str | None) -> str:
    """What the reader must know before trusting the quotes: a caveat (a qualifier of the question the quoted
    article does not hold) or how a date in the question was read."""
    notes = [*(f"Note: {caveat}." for caveat in caveats), *([date_note] if date_note else [])]
    if not notes:
        return ""
    return '<ul class="notes" role="note">' + "".join(f"<li>{escape(note)}</li>" for note in notes) + "</ul>"


def answer_page(answer: Answer, citations: Mapping[str, Citation] | None = None) -> str:
    """The question, its quotes (each once, in rank order, with a "Read in context" link) and each cited
    article once under Sources, with "Cite this"; or "not found" with the closest articles."""
    heading = f'<p class="eyebrow">Question</p><h1 id="answer-title" class="question">{escape(answer.question)}</h1>'
    if answer.answered:
        numbers, sources = _sources(answer, citations or {})
        items = "\n".join(_quote_item(q, numbers[q.article_id], answer.question) for q in answer.quotes)
        count = len(answer.quotes)
        summary = (
            f'<p class="summary"><span class="badge">{answer.confidence:.0%} confidence</span>'
            f" {count} verbatim quote{'s' if count != 1 else ''} from {len(numbers)}"
            f" article{'s' if len(numbers) != 1 else ''}</p>"
        )
        heading += summary + _notes(answer.caveats, answer.date_note)
        body = f'<ol class="quotes">\n{items}\n</ol>{sources}'
    else:
        # Why, when the engine can say (the year, place or person asked is not the one the archive has).
        reason = (
            escape(answer.not_found_reason) + "."
            if answer.not_found_reason
            else ("No sentence in the archive answers this closely enough to quote. Try other words, or search.")
        )
        body = (
            '<div class="not-found card"><p class="verdict">Not found in the archive.</p>'
            f'<p class="reason">{reason}</p>{_notes((), answer.date_note)}</div>'
        )
        if answer.closest:
            hits = "\n".join(hit_item(hit, question=answer.question) for hit in answer.closest)
            body += f'<h2>Closest articles</h2>\n<ul class="hits">\n{hits}\n</ul>'
    content = (
        f'<section class="answer" aria-labelledby="answer-title">'
        f'<div class="answer-head">{heading}</div>\n{body}</section>'
        f'<section class="ask-again" aria-label="Ask again">{question_form(answer.question)}</section>'
    )
    return layout(answer.question, content, current="ask")


# ---- search ------------------------------------------------------------------------------------------------


def search_page(
    query: str,
    hits: Sequence[ArticleHit],
    *,
    snippets: Mapping[str, str] | None = None,
    filters: Mapping[str, str] | None = None,
) -> str:
    """The search form with its filters; with a query, the ranked articles with their best-matching sentence
    (`snippets`, plain text by article id) and the query's words marked."""
    form = search_form(query, filters)
    if not query:
        intro = '<h1 class="page-title">Search the archive</h1>'
        return layout("Search", f'<section class="search-page">{intro}{form}</section>', current="search")
    terms = query_terms(query)
    snippets = snippets or {}
    count = len(hits)
    heading = (
        f'<h1 class="page-title">Results for “{escape(query)}”</h1>'
        f'<p class="summary">{count} article{"s" if count != 1 else ""}</p>'
    )
    if hits:
        items = "\n".join(
            hit_item(hit, snippet_html=highlight(snippets.get(hit.article_id, ""), terms), search=query) for hit in hits
        )
        body = f'<ol class="hits">\n{items}\n</ol>'
    else:
        body = '<div class="not-found card"><p class="verdict">No matching articles.</p></div>'
    content = f'<section class="search-page">{form}{heading}{body}</section>'
    return layout(f"Search: {query}", content, current="search")


# ---- articles ----------------------------------------------------------------------------------------------


def _body_html(body: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return escape(body)
    start, end = span
    return f'{escape(body[:start])}<mark id="quote">{escape(body[start:end])}</mark>{escape(body[end:])}'


def _back_link(question: str, search: str) -> str:
    if question:
        href, label = "/?" + urlencode({"q": question}), "Back to the answer"
    elif search:
        href, label = "/search?" + urlencode({"q": search}), "Back to the results"
    else:
        return ""
    return (
        f'<nav class="crumbs" aria-label="Back"><a href="{escape(href)}"><span aria-hidden="true">← </span>'
        f'{label}</a> <span class="crumb-query">{escape(question or search)}</span></nav>'
    )


def article_page(
    article: Article,
    span: tuple[int, int] | None = None,
    *,
    question: str = "",
    search: str = "",
    public_url: str = "",
) -> str:
    """The article with `body[start:end]` highlighted (and the anchor `#quote` on it) when a span is given; a
    link back to the answer (`question`) or the search results (`search`) it was opened from."""
    quote_text = article.body[span[0] : span[1]] if span else ""
    original = original_url(article.url, quote_text)
    links = ""
    if original:
        label = "Original article, quote highlighted" if quote_text else "Original article"
        links = (
            f'<p class="links"><a class="original" href="{escape(original)}" rel="noopener noreferrer nofollow">'
            f'{label}<span aria-hidden="true"> ↗</span></a></p>'
        )
    meta = meta_line(None, article.published, article.dateline, article.byline, short=False)
    content = (
        _back_link(question, search)
        + '<article class="reading"><header class="article-head">'
        + (f'<p class="eyebrow">{escape(article.source)}</p>' if article.source else "")
        + f"<h1>{escape(article.title)}</h1>"
        + (f'<p class="meta">{meta}</p>' if meta else "")
        + links
        + "</header>"
        f'<div class="text">{_body_html(article.body, span)}</div>'
        f'<footer class="article-foot">{_cite_block(Citation.of_article(article, public_url))}</footer>'
        "</article>"
    )
    return layout(article.title, content)


def error_page(status: int, reason: str, message: str) -> str:
    content = (
        f'<section class="error card"><h1>{status} {escape(reason)}</h1>'
        f"<p>{escape(message)}</p>"
        '<p><a href="/">Ask a question</a> or <a href="/search">search the archive</a>.</p></section>'
    )
    return layout(f"{status} {reason}", content)
