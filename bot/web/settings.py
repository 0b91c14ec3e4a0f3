"""The reading room's settings: where it listens, the public base URL of its links, its rate limit.

Read from `ARCHIVEBOT_WEB=HOST:PORT` (serve the web app; unset = the bot process serves none),
`ARCHIVEBOT_PUBLIC_URL` (the address readers reach the web app at, used for links in Discord answers),
`ARCHIVEBOT_WEB_RATE=COUNT/SECONDS` (page requests per client address; `off` disables it) and
`ARCHIVEBOT_EXAMPLE_QUESTIONS` (questions the home page offers, separated by `|`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from index import ConfigurationError, Environment

from ..ratelimit import RateLimit

DEFAULT_HOST = "127.0.0.1"  # never reachable from other machines unless configured
DEFAULT_PORT = 8080


def parse_listen(raw: str, name: str = "ARCHIVEBOT_WEB") -> tuple[str, int]:
    """`HOST:PORT`, `:PORT`, `PORT` or `[IPv6]:PORT` -> (host, port); the host defaults to 127.0.0.1."""
    text = raw.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ConfigurationError(f"{name} must look like HOST:PORT, got {raw!r}")
        port_text = rest[1:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    else:
        host, port_text = "", text
    host = host.strip() or DEFAULT_HOST
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigurationError(f"{name} must look like HOST:PORT with a port from 0 to 65535, got {raw!r}")
    if not _valid_host(host):
        raise ConfigurationError(f"{name} has an invalid host {host!r}")
    return host, int(port_text)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels)
    return True


def parse_public_url(raw: str, name: str = "ARCHIVEBOT_PUBLIC_URL") -> str:
    """An http(s) base URL without a trailing slash, query or fragment; empty stays empty (no links)."""
    text = raw.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must be an http(s) address such as https://archive.example.org, got {raw!r}")
    # It ends up inside HTML attributes and Discord's [text](url) links: none of these may break out of them.
    if any(character.isspace() or character in "<>\"'()`" for character in text):
        raise ConfigurationError(f"{name} must not contain spaces, quotes, brackets or backquotes, got {raw!r}")
    return text.rstrip("/")


MAX_QUOTES_LIMIT = 10  # an answer's quotes must fit one Discord embed, so every front end keeps to it


def max_quotes(env: Environment, default: int = 3) -> int:
    """`ARCHIVEBOT_MAX_QUOTES`: quotes per answer, 1 to 10, the same in Discord, the console and the web."""
    return env.whole_number("ARCHIVEBOT_MAX_QUOTES", default, minimum=1, maximum=MAX_QUOTES_LIMIT)


MAX_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 300


def parse_examples(raw: str, name: str = "ARCHIVEBOT_EXAMPLE_QUESTIONS") -> tuple[str, ...]:
    """`Question one?|Question two?` -> the questions (at most five, each at most 300 characters)."""
    questions = tuple(" ".join(part.split()) for part in raw.split("|") if part.strip())
    if len(questions) > MAX_EXAMPLES:
        raise ConfigurationError(f"{name} holds at most {MAX_EXAMPLES} questions separated by |, got {len(questions)}")
    for question in questions:
        if len(question) > MAX_EXAMPLE_CHARS:
            raise ConfigurationError(f"{name}: each question at most {MAX_EXAMPLE_CHARS} characters, got {question!r}")
    return questions


@dataclass(frozen=True)
class WebSettings:
    """How the reading room serves. `listen` is None when `ARCHIVEBOT_WEB` is unset (no web app in the bot)."""

    listen: tuple[str, int] | None = None
    public_url: str = ""  # base of absolute links (Discord citations); pages themselves use relative links
    rate: RateLimit = RateLimit(60, 60.0)  # page requests per client address (ARCHIVEBOT_WEB_RATE)
    max_quotes: int = 3  # ARCHIVEBOT_MAX_QUOTES, as in Discord answers
    example_questions: tuple[str, ...] = ()  # the home page's "Try asking" (none: recent headlines and a hint)

    @property
    def host(self) -> str:
        return self.listen[0] if self.listen else DEFAULT_HOST

    @property
    def port(self) -> int:
        return self.listen[1] if self.listen else DEFAULT_PORT

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> WebSettings:
        return cls.from_environment(Environment.read(environ, load_dotenv=load_dotenv))

    @classmethod
    def from_environment(cls, env: Environment) -> WebSettings:
        listen_raw = env.text("ARCHIVEBOT_WEB")
        return cls(
            listen=parse_listen(listen_raw) if listen_raw else None,
            public_url=parse_public_url(env.text("ARCHIVEBOT_PUBLIC_URL")),
            rate=RateLimit.parse("ARCHIVEBOT_WEB_RATE", env.text("ARCHIVEBOT_WEB_RATE"), cls.rate),
            max_quotes=max_quotes(env, cls.max_quotes),
            example_questions=parse_examples(env.text("ARCHIVEBOT_EXAMPLE_QUESTIONS")),
        )
