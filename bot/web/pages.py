"""The reading room's HTML, built from engine results. Every piece of text goes through `escape()`.

Pages are plain HTML5 with one same-origin style sheet: no script, no external fonts, no inline styles (the
Content-Security-Policy forbids them). The article body keeps its line breaks through CSS (`white-space:
pre-line`), so the highlighted quote is one `<mark id="quote">` holding exactly `body[start:end]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from index import Answer, Article, ArticleHit, Copy, Quote

from .links import article_path, original_url

SITE_NAME = "Archivebot reading room"
STYLESHEET = "/static/style.css"


def _meta_line(parts: Iterable[str | None]) -> str:
    return " · ".join(escape(part) for part in parts if part)


def layout(title: str, content: str, *, query: str = "", search: bool = False) -> str:
    """A whole page: header with the question (or search) box, the content, a footer."""
    box = search_form(query) if search else question_form(query)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)} · {SITE_NAME}</title>\n"
        f'<link rel="stylesheet" href="{STYLESHEET}">\n</head>\n<body>\n'
        '<header class="site"><a class="brand" href="/">Archivebot</a>'
        '<nav><a href="/">Ask</a> <a href="/search">Search</a></nav></header>\n'
        f"<main>\n{box}\n{content}\n</main>\n"
        '<footer class="site">Every quote is verbatim from the archive and links to its article.</footer>\n'
        "</body>\n</html>\n"
    )


def question_form(query: str = "") -> str:
    return (
        '<form class="ask" action="/" method="get" role="search">'
        '<label for="q">Ask the archive a question</label>'
        f'<div class="row"><input id="q" name="q" type="search" value="{escape(query)}" maxlength="1000"'
        ' placeholder="Who scored Chelsea’s late winner?" required>'
        '<button type="submit">Ask</button></div></form>'
    )


def search_form(query: str = "") -> str:
    return (
        '<form class="ask" action="/search" method="get" role="search">'
        '<label for="q">Search the archive</label>'
        f'<div class="row"><input id="q" name="q" type="search" value="{escape(query)}" maxlength="1000"'
        ' placeholder="interest rates" required>'
        '<button type="submit">Search</button></div></form>'
    )


def home_page(article_count: int) -> str:
    intro = (
        '<section class="intro"><p>Answers come as verbatim sentences from the archive'
        f" ({article_count:,} articles), each with its citation. Follow a citation to read the sentence"
        " highlighted in its article.</p></section>"
    )
    return layout("Ask", intro)


def copies_html(copies: tuple[Copy, ...]) -> str:
    """ "Also in: …" for the other copies of a syndicated story, each linking to its article ("" for none)."""
    if not copies:
        return ""
    items = "; ".join(
        f'<a href="{escape(article_path(copy.article_id))}">{escape(copy.title)}</a>'
        + (f" · {_meta_line([copy.source, copy.date])}" if copy.source or copy.date else "")
        for copy in copies
    )
    return f'<p class="also">Also in: {items}</p>'


def _quote_item(quote: Quote) -> str:
    link = article_path(quote.article_id, quote.start, quote.end)
    meta = _meta_line([quote.source, quote.date])
    return (
        "<li>"
        f'<blockquote cite="{escape(link)}"><p>“{escape(quote.text)}”</p></blockquote>'
        f'<p class="cite">— <a href="{escape(link)}">{escape(quote.title)}</a>'
        + (f" · {meta}" if meta else "")
        + f' · <span class="id">{escape(quote.article_id)}</span></p>'
        + copies_html(quote.also_in)
        + "</li>"
    )


def hit_item(hit: ArticleHit) -> str:
    meta = _meta_line([hit.source, hit.date])
    return (
        f'<li><a href="{escape(article_path(hit.article_id))}">{escape(hit.title)}</a>'
        + (f' <span class="meta">{meta}</span>' if meta else "")
        + copies_html(hit.also_in)
        + "</li>"
    )


def answer_page(answer: Answer) -> str:
    heading = f'<h1 class="question">{escape(answer.question)}</h1>'
    if answer.answered:
        items = "\n".join(_quote_item(quote) for quote in answer.quotes)
        body = (
            f'<ol class="quotes">\n{items}\n</ol>'
            f'<p class="confidence">Confidence {answer.confidence:.0%} · verbatim quotes from the archive</p>'
        )
    else:
        body = '<p class="not-found">Not found in the archive.</p>'
        if answer.closest:
            hits = "\n".join(hit_item(hit) for hit in answer.closest)
            body += f'<h2>Closest articles</h2>\n<ul class="hits">\n{hits}\n</ul>'
    return layout(answer.question, f'<section class="answer">{heading}\n{body}</section>', query=answer.question)


def search_page(query: str, hits: list[ArticleHit]) -> str:
    if not query:
        return layout("Search", "", search=True)
    heading = f'<h1 class="question">Articles for “{escape(query)}”</h1>'
    if hits:
        body = '<ol class="hits">\n' + "\n".join(hit_item(hit) for hit in hits) + "\n</ol>"
    else:
        body = '<p class="not-found">No matching articles.</p>'
    return layout(f"Search: {query}", f'<section class="answer">{heading}\n{body}</section>', query=query, search=True)


def _body_html(body: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return escape(body)
    start, end = span
    return f'{escape(body[:start])}<mark id="quote">{escape(body[start:end])}</mark>{escape(body[end:])}'


def article_page(article: Article, span: tuple[int, int] | None = None) -> str:
    """The article with `body[start:end]` highlighted (and the anchor `#quote` on it) when a span is given."""
    quote_text = article.body[span[0] : span[1]] if span else ""
    original = original_url(article.url, quote_text)
    meta = _meta_line([article.source, article.published, article.dateline, article.byline])
    links = f'<span class="id">id {escape(article.article_id)}</span>'
    if original:
        label = "Original article, quote highlighted" if quote_text else "Original article"
        anchor = f'<a class="original" href="{escape(original)}" rel="noopener noreferrer nofollow">{label}</a>'
        links = f"{anchor} · {links}"
    content = (
        "<article>"
        f"<h1>{escape(article.title)}</h1>"
        + (f'<p class="meta">{meta}</p>' if meta else "")
        + f'<p class="links">{links}</p>'
        f'<div class="text">{_body_html(article.body, span)}</div>'
        "</article>"
    )
    return layout(article.title, content)


def error_page(status: int, reason: str, message: str) -> str:
    content = (
        f'<section class="error"><h1>{status} {escape(reason)}</h1><p>{escape(message)}</p>'
        '<p><a href="/">Ask a question</a> or <a href="/search">search the archive</a>.</p></section>'
    )
    return layout(f"{status} {reason}", content)
