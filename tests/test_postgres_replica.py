"""`ARCHIVEBOT_DATABASE_READ_URL` against a real streaming replica started here: a primary from the pgserver
wheel, `pg_basebackup -R` of it into a second data directory, and that standby started on its own socket (no
TCP at all). Questions are read on the replica; votes, recorded questions and reindexing land on the primary;
a replica that is behind (its replay paused) or down sends questions to the primary with one warning line per
outage, and is used again once it is back."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from index import (
    Archive,
    ArchiveUnavailableError,
    ConfigurationError,
    HashEmbedder,
    Settings,
    check_index,
    repair_index,
)
from index.storage.postgres.storage import PostgresStorage

QUESTION = "What did Obama propose to North Korea?"
NEW_ARTICLE = (
    "Harbour reopens after the storm\n\n"
    "The harbour at Port Ellis reopened on Monday after the storm closed it for nine days.\n\n"
    "Fishing boats left at dawn, the harbour master said.\n"
)


def _with_host(url: str, host: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query["host"] = [host]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


@dataclasses.dataclass
class Replication:
    primary_url: str  # the archive database on the primary
    replica_url: str  # the same database on the standby
    bindir: Path
    replica_dir: Path
    replica_socket: Path
    system_user: str | None
    preload: list[str]

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=self.system_user,
        )

    def start_replica(self) -> None:
        self._run(
            "pg_ctl",
            *("-D", str(self.replica_dir), "-w", "-o", '-h ""', "-o", f"-k {self.replica_socket}"),
            *self.preload,
            *("-l", str(self.replica_dir / "log"), "start"),
        )

    def stop_replica(self) -> None:
        self._run("pg_ctl", "-D", str(self.replica_dir), "-w", "stop", "-m", "fast")

    def on_replica(self, statement: str) -> object:
        with psycopg.connect(self.replica_url, autocommit=True) as connection:
            row = connection.execute(statement).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None

    def on_primary(self, statement: str) -> object:
        with psycopg.connect(self.primary_url, autocommit=True) as connection:
            row = connection.execute(statement).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None

    def wait_replayed(self, timeout: float = 20.0) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        target = self.on_primary("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while not self.on_replica(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def replication() -> Iterator[Replication]:
    pgserver = pytest.importorskip("pgserver", reason="pip install the pgserver wheel (the dev extras)")
    bindir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    if not (bindir / "pg_basebackup").exists():
        pytest.skip(f"the pgserver wheel has no pg_basebackup (looked in {bindir}): no replica can be made")
    parent = Path(tempfile.mkdtemp(prefix="archivebot-replica-"))  # not pytest's 0700 temporary root
    parent.chmod(0o755)
    server = pgserver.get_server(parent / "primary", cleanup_mode="stop")
    try:
        primary_socket = str(server.get_postmaster_info().socket_dir)
        admin = server.get_uri("postgres")
        with psycopg.connect(admin, autocommit=True) as connection:
            assert connection.execute("SHOW wal_level").fetchone() in (("replica",), ("logical",))
            connection.execute("CREATE ROLE archive_replicator REPLICATION LOGIN")
            connection.execute("CREATE DATABASE archive")
        hba = server.pgdata / "pg_hba.conf"
        hba.write_text(
            "local replication archive_replicator trust\n"
            "host replication archive_replicator 127.0.0.1/32 trust\n" + hba.read_text()
        )
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("SELECT pg_reload_conf()")
        replica_dir, replica_socket = parent / "replica", parent / "replica-socket"
        replica_socket.mkdir(mode=0o777)
        replica_socket.chmod(0o777)
        user = server.system_user
        if user is not None:  # as root, the servers run as pgserver's system user, who must own the directory
            account = pwd.getpwnam(user)
            os.chown(parent, account.pw_uid, account.pw_gid)
        preload_args = getattr(pgserver.postgres_server, "_preload_libraries_args", lambda: [])()
        handle = Replication(
            primary_url=server.get_uri("archive"),
            replica_url=_with_host(server.get_uri("archive"), str(replica_socket)),
            bindir=bindir,
            replica_dir=replica_dir,
            replica_socket=replica_socket,
            system_user=user,
            preload=list(preload_args),
        )
        handle._run(
            "pg_basebackup",
            *("-D", str(replica_dir), "-R", "-X", "stream", "-c", "fast"),
            *("-h", primary_socket, "-U", "archive_replicator"),
        )
        handle.start_replica()
        try:
            assert handle.on_replica("SELECT pg_is_in_recovery()") is True
            yield handle
        finally:
            with_pid = replica_dir / "postmaster.pid"
            if with_pid.exists():
                handle.stop_replica()
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


def _settings(settings: Settings, replication: Replication, **changes: object) -> Settings:
    return dataclasses.replace(
        settings, database_url=replication.primary_url, database_read_url=replication.replica_url, **changes
    )


def _storage(archive: Archive) -> PostgresStorage:
    storage = archive._storage
    assert isinstance(storage, PostgresStorage) and storage.replica is not None
    return storage


async def _reads_in_recovery(storage: PostgresStorage) -> bool:
    """Whether the connection a question reads through is the standby's."""
    async with storage.reader() as reader:
        cursor = await reader._connection.execute("SELECT pg_is_in_recovery()")
        row = await cursor.fetchone()
    return bool(row and row[0])


async def _indexed(archive: Archive, archive_dir: Path) -> None:
    """Each test runs alone too: index the seeds unless an earlier test of the module has."""
    if not archive.built:
        await archive.reindex([archive_dir])


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


async def test_questions_read_the_replica_and_writes_land_on_the_primary(
    replication: Replication, settings: Settings, seed_archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    archive = await Archive.open(_settings(settings, replication), embedder=HashEmbedder(256))
    try:
        storage = _storage(archive)
        replica = storage.replica
        assert replica is not None
        replica.retry_seconds = 0.3
        await archive.reindex([seed_archive_dir])  # the writer is the primary's (a standby refuses writes)
        replication.wait_replayed()

        answer = await archive.ask(QUESTION)
        assert answer.answered and "liaison office" in answer.quotes[0].text
        assert await _reads_in_recovery(storage)
        assert replica.counts.served >= 2 and replica.counts.fallbacks == 0
        assert (await archive.stats()).articles == 1

        # A vote and a recorded question are written on the primary (and reach the replica by replay).
        await archive.record_feedback(
            answer_key="k1", user_id="u1", guild_id=None, question=QUESTION, article_ids=["a"], helpful=True
        )
        assert await archive.record_question("Who won the regatta?", kind="not_found")
        assert replication.on_primary("SELECT count(*) FROM feedback") == 1
        assert replication.on_primary("SELECT count(*) FROM questions") == 1
        replication.wait_replayed()
        assert replication.on_replica("SELECT count(*) FROM questions") == 1

        # Replay paused: a reindex on the primary makes a generation the replica lacks. Questions go to the
        # primary (rule 1: never an older archive than this process has seen), one warning line.
        generation = int(storage.meta["generation"])
        replication.on_replica("SELECT pg_wal_replay_pause()")
        (seed_archive_dir / "harbour.txt").write_text(NEW_ARTICLE)
        await archive.reindex([seed_archive_dir])
        assert int(storage.meta["generation"]) == generation + 1
        served = replica.counts.served
        assert not await _reads_in_recovery(storage)
        harbour = await archive.ask("When did the harbour at Port Ellis reopen?")
        assert harbour.answered and "Port Ellis" in harbour.quotes[0].text
        assert replica.counts.served == served and replica.counts.outages == 1
        assert (await archive.stats()).articles == 2
        warnings = _warnings(caplog)
        assert len(warnings) == 1 and f"generation {generation + 1}" in warnings[0], warnings

        # Replay resumed and caught up: the replica serves the new generation.
        replication.on_replica("SELECT pg_wal_replay_resume()")
        replication.wait_replayed()
        await asyncio.sleep(replica.retry_seconds)
        assert await _reads_in_recovery(storage)
        again = await archive.ask("When did the harbour at Port Ellis reopen?")
        assert [q.text for q in again.quotes] == [q.text for q in harbour.quotes]
        assert replica.counts.served > served and replica.down is None
        assert len(_warnings(caplog)) == 1
        assert any("used again" in record.getMessage() for record in caplog.records)
    finally:
        replication.on_replica("SELECT pg_wal_replay_resume()")
        await archive.close()


async def test_a_replica_too_far_behind_is_not_read(
    replication: Replication, settings: Settings, seed_archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lag bound: with replay paused and the primary written since, the replica falls behind by the
    clock, and questions go to the primary once that exceeds ARCHIVEBOT_REPLICA_MAX_LAG."""
    archive = await Archive.open(_settings(settings, replication, replica_max_lag=0.5), embedder=HashEmbedder(256))
    try:
        replica = _storage(archive).replica
        assert replica is not None
        await _indexed(archive, seed_archive_dir)
        replication.wait_replayed()
        assert await _reads_in_recovery(_storage(archive))
        replication.on_replica("SELECT pg_wal_replay_pause()")
        await archive.record_feedback(
            answer_key="k2", user_id="u2", guild_id=None, question=QUESTION, article_ids=["a"], helpful=False
        )
        await asyncio.sleep(1.0)
        caplog.set_level(logging.INFO)
        assert (await archive.ask(QUESTION)).answered
        assert (await archive.ask(QUESTION)).answered
        assert replica.counts.outages == 1 and replica.down is not None and "behind its primary" in replica.down
        warnings = _warnings(caplog)
        assert len(warnings) == 1 and "ARCHIVEBOT_REPLICA_MAX_LAG" in warnings[0], warnings
    finally:
        replication.on_replica("SELECT pg_wal_replay_resume()")
        await archive.close()


async def test_a_replica_down_sends_questions_to_the_primary_with_one_line(
    replication: Replication, settings: Settings, seed_archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = await Archive.open(_settings(settings, replication), embedder=HashEmbedder(256))
    try:
        storage = _storage(archive)
        replica = storage.replica
        assert replica is not None
        replica.retry_seconds = 0.2
        await _indexed(archive, seed_archive_dir)
        replication.wait_replayed()
        before = await archive.ask(QUESTION)
        assert before.answered and replica.counts.served >= 1
        caplog.set_level(logging.INFO)
        replication.stop_replica()
        try:
            for _ in range(3):  # the first finds its pooled connection dead, the others back off or retry
                answer = await archive.ask(QUESTION)
                assert [q.text for q in answer.quotes] == [q.text for q in before.quotes]
                await asyncio.sleep(replica.retry_seconds)  # past the back-off: the replica is tried again
            assert (await archive.stats()).articles >= 1
            assert replica.counts.outages == 1 and replica.counts.fallbacks >= 4
            warnings = _warnings(caplog)
            assert len(warnings) == 1 and "read replica" in warnings[0], warnings
            assert "questions go to the primary" in warnings[0]
            # The doctor (its check and its repair) reads and writes the primary: the replica being down costs
            # it nothing, not even a warning line.
            read_settings = _settings(settings, replication)
            assert (await check_index(read_settings)).ok
            assert (await repair_index(read_settings, embedder=HashEmbedder(256))).ok
            assert len(_warnings(caplog)) == 1, _warnings(caplog)
        finally:
            replication.start_replica()
        served = replica.counts.served
        await asyncio.sleep(replica.retry_seconds)
        after = await archive.ask(QUESTION)
        assert [q.text for q in after.quotes] == [q.text for q in before.quotes]
        assert replica.counts.served > served and replica.down is None
        assert len(_warnings(caplog)) == 1
    finally:
        await archive.close()


async def test_a_replica_connection_lost_mid_question_fails_that_question_only(
    replication: Replication, settings: Settings, seed_archive_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing read is retried elsewhere (a question never mixes two snapshots): the question whose replica
    connection dies is "unavailable right now"; the next one is read on the primary."""
    archive = await Archive.open(_settings(settings, replication), embedder=HashEmbedder(256))
    try:
        storage = _storage(archive)
        replica = storage.replica
        assert replica is not None
        await _indexed(archive, seed_archive_dir)
        replication.wait_replayed()
        caplog.set_level(logging.INFO)
        with pytest.raises(ArchiveUnavailableError, match="unavailable right now"):
            async with storage.reader() as reader:
                cursor = await reader._connection.execute("SELECT pg_backend_pid()")
                row = await cursor.fetchone()
                assert row is not None
                replication.on_replica(f"SELECT pg_terminate_backend({int(row[0])})")
                await reader.article("no-such-article")
        assert replica.down is not None and replica.counts.outages == 1
        assert not await _reads_in_recovery(storage)
        assert (await archive.ask(QUESTION)).answered
        assert len(_warnings(caplog)) == 1, _warnings(caplog)
    finally:
        await archive.close()


def test_the_read_url_is_checked_needs_the_primary_and_stays_out_of_repr() -> None:
    replica = "postgresql://archive:hunter2secret@replica.internal:5432/archive"
    with pytest.raises(ConfigurationError) as alone:
        Settings.from_env({"ARCHIVEBOT_DATABASE_READ_URL": replica}, load_dotenv=False)
    assert "ARCHIVEBOT_DATABASE_URL" in str(alone.value) and "\n" not in str(alone.value)
    primary = "postgresql://archive:hunter2secret@db.internal:5432/archive"
    with pytest.raises(ConfigurationError) as malformed:
        Settings.from_env(
            {"ARCHIVEBOT_DATABASE_URL": primary, "ARCHIVEBOT_DATABASE_READ_URL": "mysql://x:hunter2secret@h/db"},
            load_dotenv=False,
        )
    assert "ARCHIVEBOT_DATABASE_READ_URL" in str(malformed.value) and "hunter2secret" not in str(malformed.value)
    with pytest.raises(ConfigurationError, match="ARCHIVEBOT_REPLICA_MAX_LAG"):
        Settings.from_env({"ARCHIVEBOT_REPLICA_MAX_LAG": "soon"}, load_dotenv=False)
    read = Settings.from_env(
        {"ARCHIVEBOT_DATABASE_URL": primary, "ARCHIVEBOT_DATABASE_READ_URL": replica}, load_dotenv=False
    )
    assert read.database_read_url == replica and read.replica_max_lag == 30.0
    assert "hunter2secret" not in repr(read)


async def test_a_read_url_without_a_primary_is_refused_when_opening(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model="hash:64", database_read_url="postgresql://replica.internal/archive")
    with pytest.raises(ConfigurationError, match="ARCHIVEBOT_DATABASE_READ_URL needs ARCHIVEBOT_DATABASE_URL"):
        await Archive.open(settings, embedder=HashEmbedder(64))
    assert not list(tmp_path.iterdir())  # no embedded archive was made instead
