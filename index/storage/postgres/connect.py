"""Connecting to the PostgreSQL archive: one clear error per way it fails, a pool that heals by itself.

Failures are sorted into the typed errors the front ends already translate: an unreachable server or a
connection lost mid-question is `ArchiveUnavailableError` (it may come back without a restart: the pool checks
each connection before lending it and reconnects); a wrong password, a missing database or a missing pgvector
is `ConfigurationError` (it will not come back by waiting). Messages name the server by its redacted URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from index._errors import ArchiveUnavailableError, ConfigurationError, IndexCorruptError, IndexMismatchError
from index.storage.postgres import codec as _postgres_codec
from index.storage.postgres.search_indexes import HNSW_EF_SEARCH
from index.storage.postgres.url import DatabaseUrl

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
POOL_WAIT_SECONDS = 5.0  # a question waits this long for a connection before "unavailable"
POOL_SIZE = 4

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


def application_name(role: str) -> str:
    """Shown in pg_stat_activity (and in the "reindex already running" message): who holds a connection."""
    return f"archivebot {role} {socket.gethostname()} pid {os.getpid()}"[:63]


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"


def classify(error: BaseException, url: DatabaseUrl) -> Exception:
    """The typed Archivebot error for a driver error, with one line naming the problem and what to do."""
    if isinstance(error, PoolTimeout):
        return ArchiveUnavailableError(f"the archive database at {url} is unavailable right now: try again shortly")
    text = url.scrub(str(error)).strip()
    lowered = text.lower()
    first_line = text.splitlines()[0] if text else type(error).__name__
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return ConfigurationError(
            f"the database at {url} refused the password: check the user and password in ARCHIVEBOT_DATABASE_URL"
        )
    if "does not exist" in lowered and "database" in lowered:
        return ConfigurationError(
            f"the database named in ARCHIVEBOT_DATABASE_URL does not exist on the server ({url}): create it"
            " (CREATE DATABASE ...) or fix the URL"
        )
    if "role" in lowered and "does not exist" in lowered:
        return ConfigurationError(f"the database user in ARCHIVEBOT_DATABASE_URL does not exist ({url})")
    if isinstance(error, psycopg.OperationalError | OSError):
        return ArchiveUnavailableError(
            f"the archive database at {url} is unavailable right now ({first_line}): check that the server is"
            " running and reachable; questions work again as soon as it is"
        )
    return ArchiveUnavailableError(f"the archive database at {url} failed: {first_line}")


async def connect(url: DatabaseUrl, role: str) -> Connection:
    """One connection (the writer's, or the probe made before the pool opens), errors classified."""
    try:
        connection = await psycopg.AsyncConnection.connect(
            url.conninfo,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=application_name(role),
        )
    except psycopg.Error as error:
        raise classify(error, url) from None
    await _postgres_codec.register(connection)
    return connection


def make_pool(url: DatabaseUrl, size: int = POOL_SIZE) -> AsyncConnectionPool[Connection]:
    """Readers' connections. A server restart leaves dead ones behind: the pool drops each as it fails, and
    `PostgresStorage._snapshot` tries another, so the first question after a restart is answered."""

    async def configure(connection: Connection) -> None:
        await _postgres_codec.register(connection)
        # Once per connection rather than once per question (a round trip saved): a wider search sets its own.
        await connection.execute(f"SET hnsw.ef_search = {int(HNSW_EF_SEARCH)}")

    return AsyncConnectionPool(
        url.conninfo,
        min_size=1,
        max_size=max(1, size),
        open=False,
        timeout=POOL_WAIT_SECONDS,
        reconnect_timeout=24 * 3600.0,  # keep trying while the server is away (never give the pool up)
        configure=configure,  # no `check` round trip per question: `snapshot` retries a connection found dead
        kwargs={
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": application_name("reader"),
        },
        name="archivebot",
    )


@contextlib.asynccontextmanager
async def translated(url: DatabaseUrl) -> AsyncIterator[None]:
    """Driver errors raised inside become Archivebot's typed ones (the password scrubbed from any message)."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as error:
        raise classify(error, url) from None
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedFunction) as error:
        raise IndexMismatchError(
            f"the Archivebot tables in the database at {url} are not the ones this version expects"
            f" ({first_line(url.scrub(str(error)))}): point ARCHIVEBOT_DATABASE_URL at an empty database"
            " and run `archivebot index` (or `archivebot migrate`)"
        ) from None
    except psycopg.Error as error:  # anything else the server refused: one line, never a driver traceback
        raise IndexCorruptError(
            f"the archive database at {url} refused a statement ({first_line(url.scrub(str(error)))});"
            " run `archivebot doctor`"
        ) from None
