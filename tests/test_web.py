"""The reading room over HTTP: a real server on 127.0.0.1 and a small fake-embedder archive, every route and
every kind of bad input of issue 13 (unknown id, offsets outside or reversed, a 10 kB query, `..` paths, ids
with SQL or HTML, other methods), and a hostile article whose markup must come out as text."""

from __future__ import annotations

import asyncio
import json
import re
from html import escape, unescape
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import aiohttp
import pytest
from web_support import (
    HOSTILE_IMAGE,
    HOSTILE_SENTENCE,
    HOSTILE_TITLE,
    WebArchive,
    build_web_archive,
    parse_page,
    serving,
)

from bot.ratelimit import RateLimit
from bot.web import WebSettings, cite, start_server
from index import Archive, HashEmbedder, Settings

QUESTION = "What did Obama propose to North Korea?"
LEAKS = ("Traceback", 'File "', "sqlite", "/tmp/", str(Path.cwd()))


@pytest.fixture(scope="session")
def web_archive(tmp_path_factory: pytest.TempPathFactory) -> WebArchive:
    return build_web_archive(tmp_path_factory.mktemp("web"))


async def fetch(url: str, method: str = "GET", **options: object) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **options) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers), await response.text()


async def raw_request(host: str, port: int, request_line: str) -> tuple[int, str]:
    """Send a request line exactly as written (clients normalise `..` away; attackers don't)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    text = data.decode("utf-8", "replace")
    return int(text.split(" ", 2)[1]), text


def article_links(html: str) -> list[str]:
    return [unescape(link) for link in re.findall(r'href="(/articles/[^"]+)"', html)]


def back_link(html: str) -> str | None:
    """The href of the article page's way back (to the answer or the search results), or None."""
    found = re.search(r'<nav class="crumbs" aria-label="Back"><a href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


def assert_clean_error(status: int, expected: int, body: str) -> None:
    assert status == expected, body[:300]
    assert "<!doctype html>" in body and f"<h1>{expected} " in body
    for leak in LEAKS:
        assert leak not in body


# ---- routes ------------------------------------------------------------------------------------------------


async def test_healthz_reports_articles_and_last_indexed(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        status, headers, body = await fetch(server.url + "/healthz")
        stats = await archive.stats()
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    data = json.loads(body)
    assert data == {"status": "ok", "articles": 3, "last_indexed": stats.last_indexed}
    assert data["last_indexed"]


async def test_healthz_and_questions_on_an_unindexed_archive(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "empty", model="hash:256", min_confidence=0.05)
    async with serving(settings) as (_, server):
        status, _, body = await fetch(server.url + "/healthz")
        assert status == 503 and '"not indexed"' in body
        status, _, body = await fetch(server.url + "/", params={"q": QUESTION})
        assert_clean_error(status, 503, body)
        assert "not been indexed" in body


async def test_home_page_has_a_question_box_and_strict_headers(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, headers, body = await fetch(server.url + "/")
        head_status, head_headers, head_body = await fetch(server.url + "/", method="HEAD")
    assert status == 200 and head_status == 200 and head_body == ""
    assert '<form class="ask" action="/" method="get"' in body and 'name="q"' in body
    for sent in (headers, head_headers):
        policy = sent["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "style-src 'self'" in policy and "script-src" not in policy
        assert sent["X-Content-Type-Options"] == "nosniff" and sent["X-Frame-Options"] == "DENY"
    assert "<script" not in body and "style=" not in body  # nothing inline for the policy to have to allow
    assert re.findall(r'(?:href|src)="(https?:)?//', body) == []  # no external fonts, scripts or CDNs


async def test_answer_quotes_link_to_their_highlighted_span(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        answer = await archive.ask(QUESTION)
        status, _, body = await fetch(server.url + "/", params={"q": QUESTION})
        assert status == 200 and answer.answered
        links = [link for link in article_links(body) if "start=" in link]
        assert len(links) == len(answer.quotes)
        for quote, link in zip(answer.quotes, links, strict=True):
            assert f"“{quote.text}”" in unescape(body)  # the same quotes, in the same order, as Discord shows
            parts = urlsplit(link)
            assert parts.path == f"/articles/{quote.article_id}" and parts.fragment == "quote"
            # The question rides along, for the article page's way back to this answer.
            assert parse_qs(parts.query) == {"start": [str(quote.start)], "end": [str(quote.end)], "q": [QUESTION]}
            status, _, page = await fetch(server.url + link)
            marked = parse_page(page)
            assert status == 200 and marked.found == 1
            assert "".join(marked.text) == quote.text
            assert back_link(page) == "/?" + urlencode({"q": QUESTION})


async def test_article_page_marks_exactly_the_span(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        hits = await archive.search("marathon runner")
        article = await archive.article(hits[0].article_id)
        start = article.body.index("He broke")
        end = article.body.index("record.") + len("record.")
        status, _, page = await fetch(server.url + f"/articles/{article.article_id}?start={start}&end={end}")
        plain_status, _, plain = await fetch(server.url + f"/articles/{article.article_id}")
    assert status == 200 and "".join(parse_page(page).text) == article.body[start:end] == "He broke the course record."
    assert plain_status == 200 and parse_page(plain).found == 0 and "Runner wins city marathon" in plain
    assert "Example News" in page and "2005-03-04" in page and "Jane Doe" in page


async def test_original_link_carries_a_text_fragment_for_the_quote(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        article = await archive.article((await archive.search("marathon runner"))[0].article_id)
        start = article.body.index("Crowds")
        end = len(article.body)
        _, _, page = await fetch(server.url + f"/articles/{article.article_id}?start={start}&end={end}")
    original = unescape(re.search(r'class="original" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    base, _, fragment = original.partition("#")
    assert base == "https://news.example.org/sport/marathon?id=7"
    assert fragment.startswith(":~:text=")
    directive = fragment.removeprefix(":~:text=")
    # "-", "," and "&" are the syntax of text directives: inside the quoted words they must be encoded.
    pieces = directive.split(",")
    assert all(not re.search(r"[-&]", piece) for piece in pieces)
    words = " ".join(unquote(piece) for piece in pieces)
    assert words.startswith("Crowds lined the streets -") and words.endswith("the runners home.")


async def test_search_lists_ranked_articles(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        hits = await archive.search("marathon runner", limit=20)
        status, _, body = await fetch(server.url + "/search", params={"q": "marathon runner"})
        empty_status, _, empty = await fetch(server.url + "/search")
    assert status == 200
    assert article_links(body) == [f"/articles/{hit.article_id}?s=marathon+runner" for hit in hits]
    assert empty_status == 200 and 'action="/search"' in empty and "/articles/" not in empty


async def test_static_style_sheet_is_served_from_the_package(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, headers, body = await fetch(server.url + "/static/style.css")
        other, _, _ = await fetch(server.url + "/static/server.py")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and "mark#quote" in body
    assert other == 404


# ---- hostile content ---------------------------------------------------------------------------------------


async def test_hostile_article_markup_is_shown_as_text(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        article = await archive.article(next(hit.article_id for hit in await archive.search("attacker markup")))
        start = article.body.index(HOSTILE_SENTENCE)
        end = article.body.index(HOSTILE_IMAGE) + len(HOSTILE_IMAGE)
        status, _, page = await fetch(server.url + f"/articles/{article.article_id}?start={start}&end={end}")
        _, _, search = await fetch(server.url + "/search", params={"q": "attacker markup"})
    assert status == 200
    parsed = parse_page(page)
    assert "".join(parsed.text) == f"{HOSTILE_SENTENCE} {HOSTILE_IMAGE}"
    for html in (page, search):
        tags = {tag for tag, _ in parse_page(html).tags}
        assert tags.isdisjoint({"script", "img", "b", "i", "iframe"}), tags
        assert not any(name.startswith("on") for _, attrs in parse_page(html).tags for name in attrs)
    assert "&lt;script&gt;" in page and HOSTILE_TITLE in unescape(page)
    assert 'href="javascript' not in page and "Original article" not in page  # a javascript: URL is never linked


async def test_hostile_question_is_echoed_as_text(web_archive: WebArchive) -> None:
    question = '<script>alert(1)</script> "><img src=x onerror=alert(2)> Obama North Korea'
    async with serving(web_archive.settings) as (_, server):
        status, _, body = await fetch(server.url + "/", params={"q": question})
        search_status, _, search = await fetch(server.url + "/search", params={"q": question})
    assert status == 200 and search_status == 200
    for html in (body, search):
        assert {tag for tag, _ in parse_page(html).tags}.isdisjoint({"script", "img"})
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---- bad input ---------------------------------------------------------------------------------------------

SEED_ID = "{seed}"  # filled in by each test: the id depends on where the test archive lives


async def seed_id(archive: Archive) -> str:
    return (await archive.search(QUESTION))[0].article_id


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/articles/0000000000000000", 404),  # well formed, unknown
        ("/articles/zzzz", 404),
        ("/articles/Obama", 404),  # a title is not an id on this page
        (f"/articles/{SEED_ID}?start=5", 400),
        (f"/articles/{SEED_ID}?end=5", 400),
        (f"/articles/{SEED_ID}?start=-1&end=5", 400),
        (f"/articles/{SEED_ID}?start=abc&end=5", 400),
        (f"/articles/{SEED_ID}?start=1e3&end=2e3", 400),
        (f"/articles/{SEED_ID}?start=20&end=10", 400),  # reversed
        (f"/articles/{SEED_ID}?start=10&end=10", 400),  # empty
        (f"/articles/{SEED_ID}?start=0&end=999999", 400),  # past the end of the body
        (f"/articles/{SEED_ID}?start=999990&end=999999", 400),
        (f"/articles/{SEED_ID}?start=0&end=99999999999999999999", 400),
        ("/articles/1'%20OR%20'1'='1", 400),  # SQL
        ("/articles/x;DROP%20TABLE%20articles;--", 400),
        ("/articles/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400),  # HTML
        ("/articles/" + "a" * 65, 400),
        ("/articles/..%2F..%2Fetc%2Fpasswd", 400),
        ("/nowhere", 404),
        ("/static/style.css.bak", 404),
    ],
)
async def test_bad_input_gets_a_clear_page(web_archive: WebArchive, path: str, expected: int) -> None:
    async with serving(web_archive.settings) as (archive, server):
        status, headers, body = await fetch(server.url + path.format(seed=await seed_id(archive)))
        assert "Content-Security-Policy" in headers
        assert_clean_error(status, expected, body)
        assert (await fetch(server.url + "/healthz"))[0] == 200  # and the server keeps serving


@pytest.mark.parametrize(
    "target",
    [
        "/articles/../../../../etc/passwd",
        "/static/../server.py",
        "/static/../../../pyproject.toml",
        "/static/..%2F..%2Fweb%2Fserver.py",
        "/../data/archive.sqlite3",
    ],
)
async def test_dot_dot_paths_read_nothing(web_archive: WebArchive, target: str) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, response = await raw_request(server.host, server.port, f"GET {target} HTTP/1.1")
        assert 400 <= status < 500, response[:200]
        for secret in ("root:", "import ", "[project]", "SQLite format"):
            assert secret not in response
        assert (await fetch(server.url + "/healthz"))[0] == 200


async def test_ten_kilobyte_query_is_refused_clearly(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, _, body = await fetch(server.url + "/", params={"q": "x" * 10_000})
        assert_clean_error(status, 414, body)
        status, _, body = await fetch(server.url + "/search", params={"q": "y" * 10_000})
        assert_clean_error(status, 414, body)
        huge, _ = await raw_request(server.host, server.port, "GET /?q=" + "z" * 40_000 + " HTTP/1.1")
        assert 400 <= huge < 500  # beyond the line limit aiohttp itself refuses it
        assert (await fetch(server.url + "/healthz"))[0] == 200


async def test_too_long_question_is_a_400_with_the_reason(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, _, body = await fetch(server.url + "/", params={"q": "word " * 400})
    assert_clean_error(status, 400, body)
    assert "too long" in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_only_get_and_head_are_allowed(web_archive: WebArchive, method: str) -> None:
    async with serving(web_archive.settings) as (archive, server):
        for path in ("/", f"/articles/{await seed_id(archive)}", "/search", "/nowhere"):
            status, headers, body = await fetch(server.url + path, method=method, data=b"q=x")
            assert status == 405 and headers["Allow"] == "GET, HEAD"
            if method != "HEAD":
                assert_clean_error(status, 405, body)


async def test_oversized_request_body_is_refused(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, _, body = await fetch(server.url + "/", data=b"x" * 100_000)  # GET with a body
    assert_clean_error(status, 413, body)


async def test_per_client_rate_limit(web_archive: WebArchive) -> None:
    web = WebSettings(listen=("127.0.0.1", 0), rate=RateLimit(3, 60))
    async with serving(web_archive.settings, web) as (_, server):
        statuses = [(await fetch(server.url + "/search"))[0] for _ in range(3)]
        status, headers, body = await fetch(server.url + "/search")
        health = (await fetch(server.url + "/healthz"))[0]
    assert statuses == [200, 200, 200]
    assert_clean_error(status, 429, body)
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert health == 200  # monitoring is not rate limited


async def test_engine_failure_is_a_500_page_without_details(web_archive: WebArchive) -> None:
    archive = await Archive.open(web_archive.settings, embedder=HashEmbedder(256))
    server = await start_server(archive, WebSettings(listen=("127.0.0.1", 0)))
    seed = await seed_id(archive)
    try:
        await archive.close()  # the database goes away under the running server
        status, _, body = await fetch(server.url + f"/articles/{seed}")
        assert_clean_error(status, 500, body)
        status, _, body = await fetch(server.url + "/healthz")
        assert status == 503 and '"error"' in body
        assert (await fetch(server.url + "/static/style.css"))[0] == 200  # still serving
    finally:
        await server.close()


async def test_server_binds_loopback_by_default(web_archive: WebArchive) -> None:
    assert WebSettings().host == "127.0.0.1" and WebSettings.from_env({}).host == "127.0.0.1"
    async with serving(web_archive.settings, WebSettings(listen=(WebSettings().host, 0))) as (_, server):
        sockets = server.runner.addresses
    assert sockets and all(address[0] == "127.0.0.1" for address in sockets)


async def test_answers_show_as_many_quotes_as_configured(web_archive: WebArchive) -> None:
    web = WebSettings(listen=("127.0.0.1", 0), rate=RateLimit(0, 0.0), max_quotes=1)
    async with serving(web_archive.settings, web) as (archive, server):
        three = await archive.ask(QUESTION, max_quotes=3)
        _, _, body = await fetch(server.url + "/", params={"q": QUESTION})
    assert len(three.quotes) > 1  # so that showing one is the setting's doing
    assert len([link for link in article_links(body) if "start=" in link]) == 1


# ---- the pages of issue 21: home, answers, citations, search, the way back --------------------------------


def source_links(html: str) -> list[str]:
    """The Sources list's title links (one per cited article)."""
    pattern = r'<li class="source card"[^>]*>.*?<a class="title" href="([^"]+)"'
    return [unescape(link) for link in re.findall(pattern, html)]


async def test_home_page_shows_what_the_archive_holds_and_recent_headlines(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        recent = await archive.suggest_titles("", 6)
        status, _, body = await fetch(server.url + "/")
    assert status == 200
    assert re.search(r'<span class="value">3</span><span class="label">articles</span>', body)
    newest = max(hit.date for hit in recent if hit.date)
    assert f'<time datetime="{newest}">' in body  # the newest story's date, from the archive
    # The newest headlines, newest first, each linking to its article; the hostile one shown as text.
    assert recent and article_links(body) == [f"/articles/{hit.article_id}" for hit in recent]
    assert "Recently in the archive" in body and escape(HOSTILE_TITLE) in body and "<script>" not in body
    assert "How to ask" in body and "Try asking" not in body  # no questions configured: the generic hint
    assert "Chelsea" not in body and "Obama propose" not in body  # no question is written into the page


async def test_home_page_offers_the_configured_example_questions(web_archive: WebArchive) -> None:
    examples = ("Who won the marathon?", 'What did <b>"they"</b> say & why?')
    web = WebSettings(listen=("127.0.0.1", 0), rate=RateLimit(0, 0.0), example_questions=examples)
    async with serving(web_archive.settings, web) as (_, server):
        _, _, body = await fetch(server.url + "/")
        links = [unescape(link) for link in re.findall(r'<ul class="suggestions"><li><a href="([^"]+)"', body)]
        asked = [unescape(link) for link in re.findall(r'<li><a href="(/\?q=[^"]+)"', body)]
        answer_status, _, answer = await fetch(server.url + asked[0])
    assert "Try asking" in body and "How to ask" not in body
    assert links == ["/?q=Who+won+the+marathon%3F"]
    assert [parse_qs(urlsplit(link).query)["q"][0] for link in asked] == list(examples)
    assert "<b>" not in body and escape(examples[1]) in body
    assert answer_status == 200 and escape(examples[0]) in answer


async def test_answer_page_shows_each_citation_once(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        answer = await archive.ask(QUESTION)
        _, _, body = await fetch(server.url + "/", params={"q": QUESTION})
        cited = list(dict.fromkeys(quote.article_id for quote in answer.quotes))
        articles = {article_id: await archive.article(article_id) for article_id in cited}
    assert len(answer.quotes) > len(cited)  # several quotes from one article: the case that repeated it
    assert source_links(body) == [f"/articles/{article_id}?" + urlencode({"q": QUESTION}) for article_id in cited]
    for article_id, article in articles.items():
        assert body.count(f'<a class="title" href="/articles/{article_id}?') == 1
        assert body.count(f"<code>{article_id}</code>") == 1  # the id only in its "Cite this" block
        assert escape(cite.bibtex(cite.Citation.of_article(article)).rstrip("\n")) in body
    assert len(re.findall(r'<a class="context" href="/articles/', body)) == len(answer.quotes)
    assert len(re.findall(r'<a class="ref" href="#source-1">', body)) == len(answer.quotes)


async def test_cite_routes_give_plain_text_bibtex_and_ris(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        hostile = await archive.article(next(hit.article_id for hit in await archive.search("attacker markup")))
        marathon = await archive.article((await archive.search("marathon runner"))[0].article_id)
        results = {}
        for kind in ("txt", "bib", "ris"):
            results[kind] = await fetch(server.url + f"/articles/{marathon.article_id}/cite.{kind}")
        _, _, hostile_bib = await fetch(server.url + f"/articles/{hostile.article_id}/cite.bib")
        _, hostile_headers, hostile_ris = await fetch(server.url + f"/articles/{hostile.article_id}/cite.ris")
        unknown = await fetch(server.url + f"/articles/{marathon.article_id}/cite.html")
        missing = await fetch(server.url + "/articles/0000000000000000/cite.bib")
        bad = await fetch(server.url + "/articles/x;DROP/cite.bib")
    status, headers, text = results["txt"]
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text == (
        "Jane Doe. “Runner wins city marathon.” Example News, 4 March 2005. "
        f"https://news.example.org/sport/marathon?id=7. Archivebot article {marathon.article_id}.\n"
    )
    status, headers, bib = results["bib"]
    assert status == 200 and headers["Content-Type"].startswith("application/x-bibtex")
    assert headers["Content-Disposition"] == f'attachment; filename="archivebot-{marathon.article_id}.bib"'
    assert bib.startswith(f"@article{{archivebot-{marathon.article_id},") and "author = {Jane Doe}" in bib
    assert "journal = {Example News}" in bib and "year = 2005" in bib and "month = mar" in bib
    status, headers, ris = results["ris"]
    assert status == 200 and headers["Content-Type"].startswith("application/x-research-info-systems")
    assert ris.splitlines()[:3] == ["TY  - NEWS", "AU  - Jane Doe", "TI  - Runner wins city marathon"]
    assert "UR  - https://news.example.org/sport/marathon?id=7" in ris.splitlines() and ris.endswith("ER  - \r\n")
    # Hostile metadata stays data: the javascript: URL is not cited, markup is plain text (not HTML-escaped:
    # these are not HTML documents, and nosniff keeps browsers from reading them as such).
    assert "javascript" not in hostile_bib + hostile_ris and "UR  -" not in hostile_ris
    assert f"TI  - {HOSTILE_TITLE}" in hostile_ris.splitlines()
    assert hostile_headers["X-Content-Type-Options"] == "nosniff"
    assert unknown[0] == 404 and missing[0] == 404 and bad[0] == 400


async def test_search_snippets_mark_the_query_words_in_hostile_text(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (_, server):
        status, _, body = await fetch(server.url + "/search", params={"q": "attacker script"})
    assert status == 200
    snippets = re.findall(r'<p class="snippet">(.*?)</p>', body)
    hostile = next(text for text in snippets if "attacker" in text)
    assert hostile == (
        "The <mark>attacker</mark> wrote &lt;<mark>script</mark>&gt;document.title=&#x27;pwned&#x27;&lt;/"
        "<mark>script</mark>&gt; into the text of the story."
    )
    assert {tag for tag, _ in parse_page(body).tags}.isdisjoint({"script", "img", "b", "i"})


async def test_search_filters_are_a_get_form(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        everything = await archive.search("the", limit=20)
        _, _, by_source = await fetch(server.url + "/search", params={"q": "the", "source": "Example News"})
        _, _, after = await fetch(server.url + "/search", params={"q": "the", "after": "2009-01-01"})
        _, _, before = await fetch(server.url + "/search", params={"q": "the", "before": "2005-02-01"})
        bad_status, _, bad = await fetch(server.url + "/search", params={"q": "the", "after": "someday"})
        _, _, echoed = await fetch(server.url + "/search", params={"q": "x", "source": '"><script>'})
    dates = {hit.article_id: hit.date for hit in everything}
    sources = {hit.article_id: hit.source for hit in everything}
    assert len(everything) == 3
    assert [sources[link.split("?")[0][10:]] for link in article_links(by_source)] == ["Example News"]
    assert [dates[link.split("?")[0][10:]] for link in article_links(after)] == ["2009-12-19"]
    assert [dates[link.split("?")[0][10:]] for link in article_links(before)] == ["2005-01-02"]
    assert 'name="after" type="date" value="2009-01-01"' in after and 'value="Example News"' in by_source
    assert_clean_error(bad_status, 400, bad)
    assert 'value="&quot;&gt;&lt;script&gt;"' in echoed and "<script>" not in echoed
    for name in ("q", "source", "after", "before"):  # every field has its label
        assert f'<label for="{name}">' in by_source and f'id="{name}" name="{name}"' in by_source


async def test_article_page_links_back_to_where_it_was_opened_from(web_archive: WebArchive) -> None:
    hostile_question = "</nav><script>alert(1)</script> marathon?"
    async with serving(web_archive.settings) as (archive, server):
        article_id = (await archive.search("marathon runner"))[0].article_id
        _, _, from_answer = await fetch(server.url + f"/articles/{article_id}", params={"q": hostile_question})
        _, _, from_search = await fetch(server.url + f"/articles/{article_id}", params={"s": "marathon runner"})
        _, _, alone = await fetch(server.url + f"/articles/{article_id}")
        _, _, too_long = await fetch(server.url + f"/articles/{article_id}", params={"q": "x" * 1001})
    assert back_link(from_answer) == "/?" + urlencode({"q": hostile_question})
    assert "Back to the answer" in from_answer and "<script>" not in from_answer
    assert back_link(from_search) == "/search?q=marathon+runner" and "Back to the results" in from_search
    assert back_link(alone) is None and back_link(too_long) is None


async def test_pages_have_landmarks_and_a_logical_focus_order(web_archive: WebArchive) -> None:
    async with serving(web_archive.settings) as (archive, server):
        article_id = (await archive.search("marathon runner"))[0].article_id
        paths = ["/", "/?q=" + QUESTION, "/search?q=marathon", f"/articles/{article_id}?start=0&end=5", "/nowhere"]
        pages_html = [(await fetch(server.url + path))[2] for path in paths]
    for html in pages_html:
        tags = parse_page(html).tags
        names = [tag for tag, _ in tags]
        assert '<html lang="en">' in html
        for landmark in ("header", "nav", "main", "footer"):
            assert landmark in names, landmark
        focusable = [(tag, attrs) for tag, attrs in tags if tag in {"a", "input", "button", "summary"}]
        assert focusable[0] == ("a", {"class": "skip", "href": "#main"})  # the skip link comes first
        assert ("main", {"id": "main", "tabindex": "-1"}) in tags
        assert all(int(attrs.get("tabindex") or 0) <= 0 for _, attrs in tags)  # DOM order is the focus order
        labelled = {attrs.get("for") for tag, attrs in tags if tag == "label"}
        assert all(attrs.get("id") in labelled for tag, attrs in tags if tag == "input")
