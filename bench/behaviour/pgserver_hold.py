#!/usr/bin/env python3
"""Start a private PostgreSQL (pgserver) for the behaviour snapshot and hold it until SIGTERM/SIGINT.

usage: pgserver_hold.py PGDATA_PARENT URL_FILE DATABASE

Writes the URL of a new, empty DATABASE to URL_FILE once the server is up (as tests/postgres_support.py does:
a Unix socket, no TCP port). On SIGTERM the process exits and pgserver's exit hook (cleanup_mode="stop")
stops the server.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pgserver
import psycopg


def main() -> None:
    parent, url_file, database = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o755)  # as root the server runs as the `pgserver` system user, which must reach its data
    server = pgserver.get_server(parent / "pgdata", cleanup_mode="stop")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")  # type: ignore[arg-type]
        connection.execute(f"CREATE DATABASE {database}")  # type: ignore[arg-type]
    temporary = url_file.with_suffix(".partial")
    temporary.write_text(server.get_uri(database) + "\n")
    os.replace(temporary, url_file)

    def stop(signum: int, frame: object) -> None:
        sys.exit(0)  # runs pgserver's atexit clean-up, which stops the server

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
