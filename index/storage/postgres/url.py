"""`ARCHIVEBOT_DATABASE_URL` and `ARCHIVEBOT_DATABASE_READ_URL`: checked before anything connects, and never
shown with their password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from index._errors import ConfigurationError

SCHEMES = ("postgresql", "postgres")
_EXAMPLE = "postgresql://user:password@host:5432/database"
# libpq query parameters a user may reasonably pass; anything else is more likely a typo than an intent.
_ALLOWED_PARAMETERS = frozenset(
    {
        "host",
        "port",
        "user",
        "password",
        "dbname",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "connect_timeout",
        "application_name",
        "target_session_attrs",
        "options",
        "passfile",
        "channel_binding",
        "gssencmode",
    }
)


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed, validated PostgreSQL URL. `str()` and `repr()` hide the password."""

    conninfo: str  # what psycopg connects with (password included): never log it
    redacted: str  # the same URL with the password replaced by ***
    password: str | None

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.redacted!r})"

    def scrub(self, text: str) -> str:
        """`text` with the password (raw and URL-encoded) removed: for messages that quote a driver error."""
        if not self.password:
            return text
        for secret in {self.password, _encoded_password(self.conninfo)}:
            if secret:
                text = text.replace(secret, "***")
        return text


def _encoded_password(url: str) -> str | None:
    userinfo = urlsplit(url).netloc.rpartition("@")[0]
    return userinfo.partition(":")[2] or None


def parse_database_url(url: str, variable: str = "ARCHIVEBOT_DATABASE_URL") -> DatabaseUrl:
    """Validate `url` (scheme, host, port, database name, parameters) without connecting.

    Raises `ConfigurationError` naming `variable` and what is wrong; the message never contains the password."""
    text = (url or "").strip()
    if not text:
        raise ConfigurationError(f"{variable} is empty: expected {_EXAMPLE}")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as error:
        raise ConfigurationError(
            f"{variable} is malformed ({_without_password(text)}): {_reason(error)}; expected {_EXAMPLE}"
        ) from None
    shown = _without_password(text)
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"{variable} must start with postgresql:// (got {parts.scheme or 'no'} scheme in {shown})"
        )
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _ALLOWED_PARAMETERS)
    if unknown:
        raise ConfigurationError(f"{variable} has unknown parameter(s) {', '.join(unknown)} ({shown})")
    if not (parts.hostname or query.get("host")):
        raise ConfigurationError(f"{variable} names no host ({shown}): expected {_EXAMPLE}")
    database = unquote(parts.path.lstrip("/")) or (query.get("dbname") or [""])[0]
    if not database or "/" in database:
        raise ConfigurationError(f"{variable} names no database ({shown}): expected {_EXAMPLE}")
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"{variable} has an invalid port ({shown})")
    password = unquote(parts.password) if parts.password else next(iter(query.get("password", [])), None)
    return DatabaseUrl(conninfo=text, redacted=shown, password=password)


def _without_password(url: str) -> str:
    """The URL with any password (in the user part or as a parameter) replaced by ***."""
    scheme, separator, rest = url.partition("://")
    if separator:
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        userinfo, at, hostport = rest[:end].rpartition("@")
        if at and ":" in userinfo:
            userinfo = userinfo.partition(":")[0] + ":***"
        url = f"{scheme}://{userinfo}{at}{hostport}{rest[end:]}"
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def _reason(error: ValueError) -> str:
    message = str(error)
    return "the port is not a number between 1 and 65535" if "port" in message.lower() else "cannot be parsed"
