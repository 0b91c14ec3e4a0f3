"""The reading room's plain functions: its settings and the links it makes (no server needed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from bot.ratelimit import RateLimit, SlidingWindow
from bot.web import (
    WebSettings,
    article_path,
    article_url,
    original_url,
    pages,
    parse_listen,
    parse_public_url,
    text_fragment,
)
from bot.web.cite import Citation, bibtex, plain_text, ris
from bot.web.settings import parse_examples
from bot.web.snippets import highlight, query_terms, snippet
from index import Answer, ConfigurationError, Quote


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        (":9000", ("127.0.0.1", 9000)),
        ("9000", ("127.0.0.1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8081", ("::1", 8081)),
        ("reading-room.local:8080", ("reading-room.local", 8080)),
    ],
)
def test_listen_addresses(raw: str, expected: tuple[str, int]) -> None:
    assert parse_listen(raw) == expected


@pytest.mark.parametrize("raw", ["", "host:", "host:http", "host:70000", "[::1", "a b:80", "<x>:80", "[::1]x:80"])
def test_bad_listen_addresses_are_configuration_errors(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="ARCHIVEBOT_WEB"):
        parse_listen(raw)


def test_settings_from_the_environment() -> None:
    default = WebSettings.from_env({})
    assert default.listen is None and (default.host, default.port) == ("127.0.0.1", 8080)
    assert default.rate == RateLimit(60, 60.0)
    configured = WebSettings.from_env(
        {
            "ARCHIVEBOT_WEB": "0.0.0.0:8123",
            "ARCHIVEBOT_PUBLIC_URL": "https://archive.example.org/room/",
            "ARCHIVEBOT_WEB_RATE": "10/30",
        }
    )
    assert configured.listen == ("0.0.0.0", 8123)
    assert configured.public_url == "https://archive.example.org/room"
    assert configured.rate == RateLimit(10, 30.0)
    assert not WebSettings.from_env({"ARCHIVEBOT_WEB_RATE": "off"}).rate.enabled
    assert default.max_quotes == 3 and WebSettings.from_env({"ARCHIVEBOT_MAX_QUOTES": "5"}).max_quotes == 5
    with pytest.raises(ConfigurationError, match="ARCHIVEBOT_MAX_QUOTES"):
        WebSettings.from_env({"ARCHIVEBOT_MAX_QUOTES": "11"})


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://example.org",
        "example.org",
        "https://",
        "https://x.org/?q=1",
        "https://x.org/#a",
        'https://x.org/"a',
        "https://x.org/a)b",
    ],
)
def test_bad_public_urls_are_configuration_errors(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="ARCHIVEBOT_PUBLIC_URL"):
        parse_public_url(raw)


def test_article_links() -> None:
    assert article_path("3ed8eb9bbe0c2762") == "/articles/3ed8eb9bbe0c2762"
    assert article_path("3ed8eb9bbe0c2762", 10, 42) == "/articles/3ed8eb9bbe0c2762?start=10&end=42#quote"
    assert article_url("", "abc", 1, 2) == ""  # no public URL: no absolute links
    assert article_url("https://x.org/room/", "abc", 1, 2) == "https://x.org/room/articles/abc?start=1&end=2#quote"
    assert article_path("abc", 1, 2, question="Who & why?") == "/articles/abc?start=1&end=2&q=Who+%26+why%3F#quote"
    assert article_path("abc", search="rates") == "/articles/abc?s=rates"
    assert article_path("abc", 1, 2, question="Я" * 600) == "/articles/abc?start=1&end=2#quote"  # 3,600 bytes encoded


def test_text_fragments_encode_their_syntax_characters() -> None:
    fragment = text_fragment("Prices rose 4.5% - the most, & more")
    assert fragment == ":~:text=Prices%20rose%204.5%25%20%2D%20the%20most%2C%20%26%20more"
    long_quote = " ".join(f"word{number}" for number in range(40))
    start, end = long_quote.split()[:5], long_quote.split()[-5:]
    assert text_fragment(long_quote) == f":~:text={'%20'.join(start)},{'%20'.join(end)}"
    assert unquote(text_fragment("  spaced \n out  ").removeprefix(":~:text=")) == "spaced out"
    assert text_fragment("   ") == ""


def test_original_links_are_http_only() -> None:
    assert original_url("https://x.org/a?b=1#old", "He won.") == "https://x.org/a?b=1#:~:text=He%20won."
    assert original_url("http://x.org/a") == "http://x.org/a"
    for hostile in ("javascript:alert(1)", "data:text/html,<script>", "//x.org/a", "x.org/a", None, ""):
        assert original_url(hostile, "He won.") == ""


def test_client_rate_limit_is_a_sliding_window_per_client() -> None:
    now = [0.0]
    limit = SlidingWindow(RateLimit(2, 10.0), clock=lambda: now[0])
    assert limit.take("a") == 0.0 and limit.take("a") == 0.0
    assert limit.take("a") == pytest.approx(10.0) and limit.take("b") == 0.0
    now[0] = 10.5
    assert limit.take("a") == 0.0
    assert SlidingWindow(RateLimit(0, 0.0)).take("a") == 0.0


# ---- the style sheet's colours: WCAG AA in light and dark -----------------------------------------------------

STYLE = Path(__file__).resolve().parent.parent / "bot" / "web" / "static" / "style.css"
# (text, background, minimum): body text 4.5:1 (AA); the focus ring against the page 3:1 (non-text, WCAG 1.4.11).
PAIRS = [
    ("ink", "paper", 4.5),
    ("ink", "card", 4.5),
    ("muted", "paper", 4.5),
    ("muted", "card", 4.5),
    ("accent", "paper", 4.5),
    ("accent", "card", 4.5),
    ("accent-ink", "accent", 4.5),
    ("accent-soft-ink", "accent-soft", 4.5),
    ("mark-ink", "mark", 4.5),
    ("answer-ink", "answer", 4.5),
    ("hit-ink", "hit", 4.5),
    ("focus", "paper", 3.0),
    ("focus", "card", 3.0),
]


def palettes() -> dict[str, dict[str, str]]:
    css = STYLE.read_text(encoding="utf-8")
    dark_start = css.index("@media (prefers-color-scheme: dark)")
    blocks = {"light": css[css.index(":root {") : dark_start], "dark": css[dark_start : css.index("}\n}", dark_start)]}
    return {name: dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\b", block)) for name, block in blocks.items()}


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-failing grey


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_palette_meets_wcag_aa(scheme: str) -> None:
    palette = palettes()[scheme]
    failures = []
    for text, background, minimum in PAIRS:
        ratio = contrast(palette[text], palette[background])
        if ratio < minimum:
            failures.append(f"--{text} on --{background}: {ratio:.2f} < {minimum}")
    assert not failures, failures
    assert len(palette) >= len({name for pair in PAIRS for name in pair[:2]})  # every colour is defined


# ---- settings, snippets and citations -------------------------------------------------------------------------


def test_example_questions_setting() -> None:
    assert WebSettings.from_env({}).example_questions == ()
    configured = WebSettings.from_env({"ARCHIVEBOT_EXAMPLE_QUESTIONS": " Who won?  | What  was\\nsaid? ||"})
    assert configured.example_questions == ("Who won?", "What was\\nsaid?")
    with pytest.raises(ConfigurationError, match="at most 5"):
        parse_examples("|".join(f"Q{n}?" for n in range(6)))
    with pytest.raises(ConfigurationError, match="300 characters"):
        parse_examples("x" * 301)


def test_query_terms_drop_options_and_stop_words() -> None:
    assert query_terms('What did the runner win? source:"Example News" after:2005-01-01 in 2005') == (
        "runner",
        "win",
        "2005",
    )
    assert query_terms("a an of") == ()


def test_snippet_picks_the_best_sentence_and_cuts_long_ones() -> None:
    body = "Opening line about nothing.\n\nThe runner won the race. The runner broke the record in the race."
    assert snippet(body, ("runner", "record")) == "The runner broke the record in the race."
    assert snippet(body, ("absent",)) == "Opening line about nothing."
    long = " ".join(["filler"] * 80) + " the key word " + " ".join(["tail"] * 80)
    cut = snippet(long, ("key",), limit=100)
    assert cut.startswith("…") and cut.endswith("…") and "key" in cut and len(cut) <= 102


def test_highlight_escapes_around_the_marks() -> None:
    html = highlight("The <script>alert(1)</script> runners & Runner", ("script", "runner"))
    assert html == (
        "The &lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"
        " <mark>runners</mark> &amp; <mark>Runner</mark>"
    )
    assert highlight("a <b>", ()) == "a &lt;b&gt;"
    assert highlight("abc a.c ((", ("a.c", "((")) == "abc <mark>a.c</mark> (("  # regex syntax matches only itself


HOSTILE_CITATION = Citation(
    article_id="abc123",
    title="Rates {rise}\nER  - \nTY  - JOUR 100% & $5 #1 a_b ~^ \\end{document}",
    source="Wire\r\nAU  - Mallory",
    date="2009-12-19",
    byline="Jane } Doe",
    url="https://x.org/a b?c={d}\\",
)


def test_bibtex_escapes_every_special_character() -> None:
    entry = bibtex(HOSTILE_CITATION)
    assert entry.startswith("@article{archivebot-abc123,\n") and entry.endswith("\n}\n")
    assert (
        r"title = {{Rates \{rise\} ER - TY - JOUR 100\% \& \$5 \#1 a\_b \textasciitilde{}\textasciicircum{}"
        r" \textbackslash{}end\{document\}}}" in entry
    )
    assert "author = {Jane \\} Doe}" in entry and "journal = {Wire AU - Mallory}" in entry
    assert "url = {https://x.org/a%20b?c=%7Bd%7D%5C}" in entry
    assert "year = 2009" in entry and "month = dec" in entry and "date = 2009-12-19" in entry
    # Braces balance: no value closes its field early.
    depth = 0
    for position, character in enumerate(entry):
        if character in "{}" and entry[position - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0
    assert depth == 0


def test_ris_keeps_every_value_on_its_line() -> None:
    record = ris(HOSTILE_CITATION)
    lines = record.split("\r\n")
    assert lines[0] == "TY  - NEWS" and lines[-2] == "ER  - " and lines[-1] == ""
    tags = [line[:6] for line in lines[:-1]]
    assert tags == ["TY  - ", "AU  - ", "TI  - ", "T2  - ", "PY  - ", "DA  - ", "UR  - ", "N1  - ", "ER  - "]
    assert "TI  - Rates {rise} ER - TY - JOUR 100% & $5 #1 a_b ~^ \\end{document}" in lines
    assert "DA  - 2009/12/19/" in lines and "N1  - Archivebot article abc123" in lines


def test_plain_text_citation() -> None:
    citation = Citation("63d4a59526eba1f7", "Obama proposes office", "The Washington Times", "2009-12-19")
    assert plain_text(citation) == (
        "“Obama proposes office.” The Washington Times, 19 December 2009. Archivebot article 63d4a59526eba1f7."
    )
    assert "\n" not in plain_text(HOSTILE_CITATION)


# ---- the answering phrase inside a quote ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpanQuote(Quote):
    """A quote as the engine will send it once it marks the answering phrase (offsets inside `text`)."""

    answer_start: int | None = None
    answer_end: int | None = None


def _answer_with(*quotes: Quote) -> Answer:
    return Answer(question="Who won?", answered=True, confidence=0.8, quotes=quotes)


def test_answer_page_marks_the_answering_phrase() -> None:
    text = "Kenyan runner <Paul> Tergat won the city marathon & more."
    start = text.index("<Paul>")
    end = text.index(" won")
    quote = SpanQuote(text, "a" * 16, "Runner wins", "Example News", None, 10, 10 + len(text), 0.9, (), start, end)
    html = pages.answer_page(_answer_with(quote))
    assert '“Kenyan runner <mark class="answer">&lt;Paul&gt; Tergat</mark> won the city marathon &amp; more.”' in html
    assert html.count("<mark") == 1


@pytest.mark.parametrize("span", [(None, None), (None, 5), (5, 5), (7, 3), (-1, 4), (0, 999), ("0", "4")])
def test_answer_page_ignores_missing_or_impossible_spans(span: tuple[object, object]) -> None:
    text = "Tergat won the race."
    quote = SpanQuote(text, "a" * 16, "Runner wins", None, None, 0, len(text), 0.9, (), *span)  # type: ignore[arg-type]
    plain = Quote(text, "a" * 16, "Runner wins", None, None, 0, len(text), 0.9)
    for shown in (quote, plain):
        html = pages.answer_page(_answer_with(shown))
        assert "<mark" not in html and f"“{text}”" in html


def test_answer_page_numbers_sources_in_first_cited_order() -> None:
    first = Quote("One.", "a" * 16, "Alpha", "Wire", "2005-01-01", 0, 4, 0.9)
    second = Quote("Two.", "b" * 16, "Beta", None, None, 0, 4, 0.8)
    third = Quote("Three.", "a" * 16, "Alpha", "Wire", "2005-01-01", 5, 11, 0.7)
    html = pages.answer_page(_answer_with(first, second, third))
    assert re.findall(r'<a class="ref" href="#source-(\d)">', html) == ["1", "2", "1"]
    assert re.findall(r'<li class="source card" id="source-(\d)">.*?<a class="title"[^>]*>([^<]+)</a>', html) == [
        ("1", "Alpha"),
        ("2", "Beta"),
    ]
    assert "2 articles" in html and "3 verbatim quotes" in html


def test_an_answer_page_shows_the_reason_for_not_found_and_the_caveats() -> None:
    """The reading room says what the engine says: why it declined, and any caveat, never silently."""
    from bot.web import pages
    from index import Answer, Quote

    declined = Answer(
        question="Who won best actor at the 2007 Baftas?",
        answered=False,
        confidence=0.4,
        not_found_reason="The archive has the Bafta film awards of 2005, not <2007>",
    )
    html = pages.answer_page(declined)
    assert "Not found in the archive." in html
    assert "The archive has the Bafta film awards of 2005, not &lt;2007&gt;." in html  # escaped, said plainly
    quote = Quote("He won the award.", "a" * 16, "Title", "Source", "2005-02-12", 0, 17, 0.9)
    caveated = Answer(
        question="Who won?", answered=True, confidence=0.8, quotes=(quote,), caveats=("the article is about 2005",)
    )
    html = pages.answer_page(caveated)
    assert '<ul class="notes" role="note"><li>Note: the article is about 2005.</li></ul>' in html
    assert '<ul class="notes"' not in pages.answer_page(
        Answer(question="Who won?", answered=True, confidence=0.8, quotes=(quote,))
    )
