"""The reading room's plain functions: its settings and the links it makes (no server needed)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from bot.ratelimit import RateLimit, SlidingWindow
from bot.web import WebSettings, article_path, article_url, original_url, parse_listen, parse_public_url, text_fragment
from index import ConfigurationError


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
