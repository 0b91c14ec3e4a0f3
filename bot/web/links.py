"""Links into the reading room and out to the original article (plain functions, shared with the Discord bot)."""

from __future__ import annotations

from urllib.parse import quote, quote_plus, urlencode, urlsplit

FRAGMENT_WORDS = 5  # a long quote is matched by its first and last words (textStart,textEnd)
FRAGMENT_MAX_CHARS = 80  # quotes up to this length are matched whole
MAX_CARRIED_BYTES = 3000  # a question or search longer than this, encoded, is not carried (the server's limit is 4,096)


def article_path(
    article_id: str, start: int | None = None, end: int | None = None, *, question: str = "", search: str = ""
) -> str:
    """`/articles/<id>`, with `?start=S&end=E#quote` when a span is given (the anchor scrolls to it, no script).

    `question` (`q=`) or `search` (`s=`) ride along so that the article page can link back to the answer or the
    search results it was opened from (the reading room sends no Referer, so the link itself carries them); one
    too long to keep the link under the server's query limit is left out."""
    path = "/articles/" + quote(article_id, safe="")
    params: dict[str, str | int] = {}
    if start is not None and end is not None:
        params.update(start=start, end=end)
    if question and len(quote_plus(question)) <= MAX_CARRIED_BYTES:
        params["q"] = question
    elif search and len(quote_plus(search)) <= MAX_CARRIED_BYTES:
        params["s"] = search
    if not params:
        return path
    return f"{path}?{urlencode(params)}" + ("#quote" if "start" in params else "")


def article_url(public_url: str, article_id: str, start: int | None = None, end: int | None = None) -> str:
    """The absolute address of an article page under `public_url` ("" when no public URL is configured)."""
    if not public_url:
        return ""
    return public_url.rstrip("/") + article_path(article_id, start, end)


def _fragment_part(text: str) -> str:
    # The text-fragment syntax reserves "-", "," and "&"; quote() leaves "-" alone, so encode it by hand.
    return quote(text, safe="").replace("-", "%2D")


def text_fragment(text: str) -> str:
    """A `:~:text=` directive that makes a browser highlight `text` on the original page ("" for no words)."""
    words = text.split()
    if not words:
        return ""
    if len(" ".join(words)) <= FRAGMENT_MAX_CHARS or len(words) <= 2 * FRAGMENT_WORDS:
        return ":~:text=" + _fragment_part(" ".join(words))
    first = " ".join(words[:FRAGMENT_WORDS])
    last = " ".join(words[-FRAGMENT_WORDS:])
    return f":~:text={_fragment_part(first)},{_fragment_part(last)}"


def original_url(url: str | None, quote_text: str = "") -> str:
    """The article's original address (http/https only), with a text fragment for the quote when one is given."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""  # a javascript: or data: address from an archived file is never turned into a link
    base = url.strip().split("#", 1)[0]
    fragment = text_fragment(quote_text) if quote_text else ""
    return f"{base}#{fragment}" if fragment else base
