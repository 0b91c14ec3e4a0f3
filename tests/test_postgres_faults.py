"""The PostgreSQL backend when things go wrong: the server restarts under a serving archive, it can't be
reached, the URL is malformed or the password wrong. One clear line, a typed error, recovery without a restart,
and the URL's password never in an error, a log line or the stats."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import psycopg
import pytest
from reliability_support import backend_env, run_cli

from bot.discord_format import user_message
from index import Archive, ArchiveUnavailableError, HashEmbedder, IndexMismatchError, Settings

QUESTION = "What did Obama propose to North Korea?"


def _postgres(settings: Settings, url: str) -> Settings:
    return dataclasses.replace(settings, database_url=url)


async def test_a_database_restart_while_serving_is_unavailable_then_recovers_by_itself(
    postgres_server, postgres_url: str, settings: Settings, seed_archive_dir: Path
) -> None:
    if not postgres_server.restartable:
        pytest.skip("needs the private test server (it is stopped and started)")
    archive = await Archive.open(_postgres(settings, postgres_url), embedder=HashEmbedder(256))
    try:
        await archive.reindex([seed_archive_dir])
        before = await archive.ask(QUESTION)
        assert before.answered
        postgres_server.stop()
        try:
            with pytest.raises(ArchiveUnavailableError) as caught:
                await archive.ask(QUESTION)
            assert "unavailable right now" in str(caught.value)
            assert user_message(caught.value) == "The archive is unavailable right now; please try again in a minute."
        finally:
            postgres_server.start()
        after = await archive.ask(QUESTION)  # the same Archive object: the pool reconnected
        assert [q.text for q in after.quotes] == [q.text for q in before.quotes]
        assert (await archive.stats()).articles == 1
    finally:
        await archive.close()


def test_the_cli_names_an_unreachable_server_in_one_line_without_the_password(settings: Settings, tmp_path) -> None:
    url = f"postgresql://archive:hunter2secret@/archive?host={tmp_path}&connect_timeout=2"
    for command in (["index", str(tmp_path)], ["ask", QUESTION], ["stats"], ["doctor"]):
        result = run_cli(command, backend_env(_postgres(settings, url)))
        assert result.returncode == 1, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "unavailable" in lines[0], result.stderr
        assert "hunter2secret" not in result.stderr + result.stdout


def test_a_malformed_url_is_one_line_and_nothing_connects(settings: Settings, tmp_path) -> None:
    result = run_cli(["stats"], backend_env(_postgres(settings, "postgresql://archive:hunter2secret@db:port/x")))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "ARCHIVEBOT_DATABASE_URL is malformed" in result.stderr
    assert "hunter2secret" not in result.stderr


async def test_the_password_never_reaches_stats_or_logs(
    postgres_server, postgres_url: str, settings: Settings, seed_archive_dir: Path, caplog
) -> None:
    if not postgres_server.restartable:
        pytest.skip("needs the private test server (its authentication rules are changed)")
    hba = postgres_server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    role = f"archive_owner_{os.getpid()}"
    postgres_server.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'hunter2secret'")
    try:
        hba.write_text(f"local all {role} scram-sha-256\n" + original)
        postgres_server.execute("SELECT pg_reload_conf()")
        url = postgres_url.replace("postgres:@", f"{role}:hunter2secret@")
        caplog.set_level(logging.DEBUG)
        archive = await Archive.open(_postgres(settings, url), embedder=HashEmbedder(256))
        try:
            await archive.reindex([seed_archive_dir])
            await archive.ask(QUESTION)
            stats = json.dumps((await archive.stats()).to_dict())
        finally:
            await archive.close()
        assert "hunter2secret" not in stats + caplog.text
        wrong = run_cli(["stats"], backend_env(_postgres(settings, url.replace("hunter2secret", "wrong-password"))))
        assert wrong.returncode == 1 and "refused the password" in wrong.stderr
        assert "wrong-password" not in wrong.stderr
    finally:
        hba.write_text(original)
        postgres_server.execute("SELECT pg_reload_conf()")


async def test_a_model_mismatch_is_one_line_on_postgres(
    postgres_url: str, settings: Settings, seed_archive_dir
) -> None:
    on_postgres = _postgres(settings, postgres_url)
    archive = await Archive.open(on_postgres, embedder=HashEmbedder(256))
    try:
        await archive.reindex([seed_archive_dir])
    finally:
        await archive.close()
    env = backend_env(on_postgres)
    env["ARCHIVEBOT_MODEL"] = "hash:64"
    result = run_cli(["ask", QUESTION], env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "built with model 'hash:256'" in lines[0] and "archivebot index" in lines[0], lines


async def test_tables_that_do_not_match_the_schema_are_a_typed_error_not_a_driver_traceback(
    postgres_url: str, settings: Settings, seed_archive_dir: Path
) -> None:
    on_postgres = _postgres(settings, postgres_url)
    archive = await Archive.open(on_postgres, embedder=HashEmbedder(256))
    try:
        await archive.reindex([seed_archive_dir])
        with psycopg.connect(postgres_url, autocommit=True) as connection:  # as a foreign or damaged schema
            connection.execute("DROP TABLE lexeme_passages")  # read by every question with words
        with pytest.raises(IndexMismatchError, match="not the ones this version expects"):
            await archive.ask(QUESTION)
    finally:
        await archive.close()
