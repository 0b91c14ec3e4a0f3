"""Crash safety: a real `archivebot index` process is SIGKILLed at several points of a reindex.

The indexer pauses at a named point when `ARCHIVEBOT_TEST_PAUSE_AT` is set (see `_pause_for_tests` in
index/_indexer.py), writes its pid to a marker file, and the test kills it there. After each kill the
previous index must still answer, the database must be consistent (doctor's check), and the next run must
finish the work without embedding again what the staging cache kept. Each test runs on both storage
backends (the embedded one, and PostgreSQL through a private test server)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from reliability_support import (
    TOPICS,
    assert_consistent,
    backend_env,
    cli_env,
    run_cli,
    sql,
    start_cli,
    write_archive,
)

from index import Archive, HashEmbedder, IndexNotBuiltError, Settings, check_index
from index.storage import open_storage

HARBOUR_Q = "What did the harbour authority approve?"
NEW_Q = "What did the lighthouse number 7 keepers paint?"


async def _ask(settings: Settings, question: str):
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        return await archive.ask(question)
    finally:
        await archive.close()


def _quoted(answer) -> str:
    return " ".join(quote.text for quote in answer.quotes)


def _change_archive(root: Path) -> None:
    """v1 → v2: one article deleted, one changed, forty added (several embedding batches of new text)."""
    (root / "harbour.txt").unlink()
    (root / "orchard.txt").write_text("Orchard news\n\nThe orchard was sold to a cooperative of cider makers.\n")
    for number in range(40):
        sentences = " ".join(
            f"The lighthouse number {number} keepers painted the tower {colour} in week {week}."
            for week, colour in enumerate(["red", "white", "blue", "green", "gold", "grey", "black", "pink"])
        )
        (root / f"lighthouse_{number}.txt").write_text(f"Lighthouse {number}\n\n{sentences}\n")


def _wait_for_pause(process, marker: Path, deadline: float = 90.0) -> None:
    """Block until the indexer reached its pause point (a deadline, not a timing assertion)."""
    stop = time.monotonic() + deadline
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"indexer exited before pausing: {process.stderr.read()}")
        if time.monotonic() > stop:
            process.kill()
            raise AssertionError("indexer never reached the pause point")
        time.sleep(0.02)


def _kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL


async def _staged(settings: Settings) -> int:
    """Texts the staging cache of an unfinished run holds (as the doctor reads them, on either backend)."""
    storage = await open_storage(settings, create=False)
    try:
        async with storage.check() as check:
            return (await check.unfinished_work()).staged_texts
    finally:
        await storage.close()


async def _reference_index(root: Path, tmp_path: Path) -> Settings:
    """A separate embedded index of the same archive, to count what an uninterrupted run of a change embeds."""
    reference = Settings(data_dir=tmp_path / "reference-data", model="hash:256", min_confidence=0.05)
    archive = await Archive.open(reference, embedder=HashEmbedder(256))
    try:
        await archive.reindex([root])
    finally:
        await archive.close()
    return reference


async def _reference_embeddings(reference: Settings, root: Path) -> int:
    archive = await Archive.open(reference, embedder=HashEmbedder(256))
    try:
        return (await archive.reindex([root])).sentences_embedded
    finally:
        await archive.close()


@pytest.mark.parametrize("point", ["embed", "commit:rows", "commit:vectors", "commit:full-text", "committed"])
async def test_sigkill_during_reindex_keeps_the_old_index_and_the_next_run_finishes(
    tmp_path: Path, point: str, backend_settings: Settings
) -> None:
    # Questions search the embedded backend's tantivy generation at any size here (in this process and in the
    # CLI processes), so a generation left uncommitted by the kill would show in the answers.
    settings = dataclasses.replace(backend_settings, archive_roots=(), full_text="tantivy")
    tantivy = {"ARCHIVEBOT_FULL_TEXT": "tantivy"}
    root = write_archive(tmp_path / "news")
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    await archive.reindex([root])
    await archive.close()
    assert "ferry terminal" in _quoted(await _ask(settings, HARBOUR_Q))
    reference_index = await _reference_index(root, tmp_path)

    _change_archive(root)
    reference = await _reference_embeddings(reference_index, root)
    marker = tmp_path / "paused"
    env = backend_env(settings, ARCHIVEBOT_TEST_PAUSE_AT=point, ARCHIVEBOT_TEST_PAUSE_FILE=str(marker), **tantivy)
    process = start_cli(["index", str(root), "--json"], env)
    try:
        _wait_for_pause(process, marker)
        # While the indexer is stopped mid-way, questions are answered from a complete index.
        during = await _ask(settings, HARBOUR_Q)
        if point == "committed":
            assert "ferry terminal" not in _quoted(during)
        else:
            assert "ferry terminal" in _quoted(during)
    finally:
        _kill(process)

    # After the kill: consistent, and still the old index unless the commit had happened.
    await assert_consistent(settings)
    after_kill = await _ask(settings, HARBOUR_Q)
    assert ("ferry terminal" in _quoted(after_kill)) == (point != "committed")
    staged = await _staged(settings)
    assert staged > 0  # the embedded vectors survived the kill

    if point == "commit:full-text" and not settings.database_url:
        committed = dict(sql(settings.data_dir, "SELECT key, value FROM meta"))["fulltext_generation"]
        assert (settings.data_dir / f"fulltext.{int(committed) + 1}").is_dir()  # written, never committed

    # The next run completes the work, embedding only what the staging cache did not keep.
    result = run_cli(["index", str(root), "--json"], backend_env(settings, **tantivy))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    if point == "committed":
        assert summary["added"] == summary["removed"] == summary["sentences_embedded"] == 0
    else:
        assert summary["added"] == 40 and summary["updated"] == 1 and summary["removed"] == 1
        assert summary["sentences_embedded"] == max(reference - staged, 0)
        assert summary["sentences_embedded"] < reference
    await assert_consistent(settings)
    assert "ferry terminal" not in _quoted(await _ask(settings, HARBOUR_Q))
    assert "lighthouse number 7 keepers" in _quoted(await _ask(settings, NEW_Q))
    report = await check_index(settings)
    assert report.counts["articles"] == len(TOPICS) - 1 + 40
    assert await _staged(settings) == 0  # cleared after a successful commit


async def test_sigkill_during_the_very_first_build(tmp_path: Path, backend_settings: Settings) -> None:
    settings = dataclasses.replace(backend_settings, archive_roots=())
    root = tmp_path / "news"
    root.mkdir()
    _change_archive(write_archive(root))
    marker = tmp_path / "paused"
    process = start_cli(
        ["index", str(root)],
        backend_env(settings, ARCHIVEBOT_TEST_PAUSE_AT="commit:vectors", ARCHIVEBOT_TEST_PAUSE_FILE=str(marker)),
    )
    try:
        _wait_for_pause(process, marker)
    finally:
        _kill(process)
    with pytest.raises(IndexNotBuiltError):  # a clear "not built yet", not a half-built index
        await _ask(settings, NEW_Q)
    asked = run_cli(["ask", NEW_Q], backend_env(settings))
    assert asked.returncode == 1 and "archivebot index" in asked.stderr
    result = run_cli(["index", str(root), "--json"], backend_env(settings))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sentences_embedded"] == 0  # everything came from the staging cache
    await assert_consistent(settings)
    assert "lighthouse number 7 keepers" in _quoted(await _ask(settings, NEW_Q))


def test_the_pause_hook_is_inert_without_its_variable(monkeypatch) -> None:
    from index.indexing.pause import pause_for_tests as _pause_for_tests

    monkeypatch.delenv("ARCHIVEBOT_TEST_PAUSE_AT", raising=False)
    _pause_for_tests("embed")  # returns at once
    monkeypatch.setenv("ARCHIVEBOT_TEST_PAUSE_AT", "commit:rows")
    _pause_for_tests("embed")  # another point: returns at once
    assert os.environ["ARCHIVEBOT_TEST_PAUSE_AT"] == "commit:rows"


# ---- chunked runs: each chunk of articles is its own commit ----------------------------------------------

CHUNK = "5"  # articles per commit in these tests (the default is thousands)


def _articles(settings: Settings, like: str) -> list[str]:
    """The stored bodies of the articles whose path matches `like`, read from either backend's database."""
    statement = "SELECT body FROM articles WHERE path LIKE {} ORDER BY path"
    url = settings.database_url
    if url:
        with psycopg.connect(url) as connection:
            return [body for (body,) in connection.execute(statement.format("%s"), (like,)).fetchall()]
    return [body for (body,) in sql(settings.data_dir, statement.format("?"), (like,))]


SEARCH_INDEXES = ("passages_embedding", "passages_words_bm25", "postings_impact")
SEARCH_KEYS = ("postings_passage_id_fkey",)


def _postgres_build_state(settings: Settings) -> tuple[set[str], str | None]:
    """PostgreSQL: which of the search indexes and keys a first build leaves to its last commit exist, and the meta
    flag that says they are still to be built."""
    assert settings.database_url
    with psycopg.connect(settings.database_url) as connection:
        found = connection.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) UNION SELECT conname FROM pg_constraint"
            " WHERE conname = ANY(%s)",
            (list(SEARCH_INDEXES), list(SEARCH_KEYS)),
        )
        present = {str(name) for (name,) in found.fetchall()}
        row = connection.execute("SELECT value FROM meta WHERE key = 'build_unfinished'").fetchone()
    return present, row[0] if row else None


def _chunked_env(settings: Settings, **extra: str) -> dict[str, str]:
    return backend_env(settings, ARCHIVEBOT_INDEX_CHUNK_ARTICLES=CHUNK, **extra)


async def test_sigkill_midway_through_a_chunked_first_build(tmp_path: Path, backend_settings: Settings) -> None:
    """A long first build is visible chunk by chunk: while it runs (and after it is killed) the archive answers
    from the articles committed so far, each complete; the next run adds the rest and embeds none of the
    committed texts again."""
    settings = dataclasses.replace(backend_settings, archive_roots=())
    root = tmp_path / "news"
    root.mkdir()
    _change_archive(write_archive(root))  # 7 topics + 40 lighthouse articles: 10 commits of 5
    # How many texts a whole uninterrupted build embeds (a count of the indexer's, the same on either backend).
    reference = run_cli(
        ["index", str(root), "--json"], cli_env(tmp_path / "reference", ARCHIVEBOT_INDEX_CHUNK_ARTICLES=CHUNK)
    )
    assert reference.returncode == 0, reference.stderr
    total_texts = json.loads(reference.stdout)["sentences_embedded"]

    marker = tmp_path / "paused"
    env = _chunked_env(settings, ARCHIVEBOT_TEST_PAUSE_AT="committed:2", ARCHIVEBOT_TEST_PAUSE_FILE=str(marker))
    process = start_cli(["index", str(root), "--json"], env)
    try:
        _wait_for_pause(process, marker)
        report = await check_index(settings)  # half built, and consistent
        assert report.ok, report.text()
        assert report.counts["articles"] == 10
        # Sorted file order: election, festival, glacier, then lighthouse_0, _1, _10 .. _14 in the first two.
        assert len(_articles(settings, "%lighthouse_%")) == 7
        answer = await _ask(settings, "What did the lighthouse number 13 keepers paint?")
        assert "lighthouse number 13 keepers" in _quoted(answer)
        answer = await _ask(settings, NEW_Q)  # lighthouse 7 comes in a later chunk: not quoted yet
        assert "lighthouse number 7 keepers" not in _quoted(answer)
        if settings.database_url:  # the search indexes come with the build's last commit; answered without them
            assert _postgres_build_state(settings) == (set(), "1")
    finally:
        _kill(process)

    await assert_consistent(settings)
    assert (await check_index(settings)).counts["articles"] == 10
    result = run_cli(["index", str(root), "--json"], _chunked_env(settings))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["unchanged"], summary["removed"]) == (37, 10, 0)
    assert 0 < summary["sentences_embedded"] < total_texts  # the committed chunks' texts are not embedded again
    await assert_consistent(settings)
    assert (await check_index(settings)).counts["articles"] == 47
    assert "lighthouse number 7 keepers" in _quoted(await _ask(settings, NEW_Q))
    if settings.database_url:
        assert _postgres_build_state(settings) == (set(SEARCH_INDEXES + SEARCH_KEYS), None)
        assert _postings_all_visible(settings)  # vacuumed after the last commit: BM25's index-only scans


def _postings_all_visible(settings: Settings) -> bool:
    """Whether every page of the postings is marked all-visible (what an index-only scan needs to skip the heap)."""
    assert settings.database_url
    with psycopg.connect(settings.database_url) as connection:
        row = connection.execute(
            "SELECT relpages > 0 AND relallvisible = relpages FROM pg_class WHERE relname = 'postings'"
        ).fetchone()
    return bool(row and row[0])


async def test_a_first_build_killed_then_resumed_with_nothing_new_still_builds_its_indexes(
    tmp_path: Path, postgres_url: str
) -> None:
    """PostgreSQL leaves a first build's search indexes to its last commit: when the build is killed and the
    files it had not reached are gone, the next run (nothing to add) builds them."""
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05, database_url=postgres_url)
    root = tmp_path / "news"
    root.mkdir()
    _change_archive(write_archive(root))
    marker = tmp_path / "paused"
    env = _chunked_env(settings, ARCHIVEBOT_TEST_PAUSE_AT="committed:2", ARCHIVEBOT_TEST_PAUSE_FILE=str(marker))
    process = start_cli(["index", str(root), "--json"], env)
    try:
        _wait_for_pause(process, marker)
    finally:
        _kill(process)
    assert _postgres_build_state(settings) == (set(), "1")
    with psycopg.connect(postgres_url) as connection:
        indexed = {Path(path).name for (path,) in connection.execute("SELECT path FROM articles").fetchall()}
    for path in root.iterdir():
        if path.name not in indexed:
            path.unlink()
    result = run_cli(["index", str(root), "--json"], _chunked_env(settings))
    assert result.returncode == 0, result.stderr
    assert (json.loads(result.stdout)["added"], json.loads(result.stdout)["unchanged"]) == (0, 10)
    assert _postgres_build_state(settings) == (set(SEARCH_INDEXES + SEARCH_KEYS), None)
    assert _postings_all_visible(settings)
    assert (await check_index(settings)).ok


async def test_sigkill_midway_through_a_chunked_update(tmp_path: Path, backend_settings: Settings) -> None:
    """An update is committed chunk by chunk: a removed article is gone from the first commit; an updated one
    is old until the commit that holds its new version (never both, never neither), also after a kill; the
    next run finishes the rest."""
    settings = dataclasses.replace(backend_settings, archive_roots=())
    root = write_archive(tmp_path / "news")
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    await archive.reindex([root])
    await archive.close()
    _change_archive(root)  # harbour removed, orchard changed (sorted last), 40 lighthouse articles added
    marker = tmp_path / "paused"
    env = _chunked_env(settings, ARCHIVEBOT_TEST_PAUSE_AT="committed:2", ARCHIVEBOT_TEST_PAUSE_FILE=str(marker))
    process = start_cli(["index", str(root), "--json"], env)
    try:
        _wait_for_pause(process, marker)
        await assert_consistent(settings)
        assert _articles(settings, "%harbour.txt") == []  # removed in the first commit
        assert "ferry terminal" not in _quoted(await _ask(settings, HARBOUR_Q))
        orchard = _articles(settings, "%orchard.txt")
        assert len(orchard) == 1 and "record orchard harvest" in orchard[0]  # still the old version
        assert len(_articles(settings, "%lighthouse_%")) == 10  # lighthouse_0, _1, _10 .. _17 (sorted)
    finally:
        _kill(process)

    await assert_consistent(settings)
    orchard = _articles(settings, "%orchard.txt")
    assert len(orchard) == 1 and "record orchard harvest" in orchard[0]
    result = run_cli(["index", str(root), "--json"], _chunked_env(settings))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["updated"], summary["removed"]) == (30, 1, 0)
    await assert_consistent(settings)
    orchard = _articles(settings, "%orchard.txt")
    assert len(orchard) == 1 and "cider makers" in orchard[0]
    assert "lighthouse number 7 keepers" in _quoted(await _ask(settings, NEW_Q))
    assert (await check_index(settings)).counts["articles"] == len(TOPICS) - 1 + 40


ABANDONING_SCRIPT = """
import asyncio, sys
from pathlib import Path
from index import Archive, HashEmbedder, Settings

async def main():
    settings = Settings(data_dir=Path(sys.argv[1]), model="hash:256", archive_roots=(Path(sys.argv[2]),))
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    await archive.reindex([Path(sys.argv[2])])
    await archive.record_question("Who won the 2007 Bafta?", kind="not_found")  # the feedback database too
    raise SystemExit("the program ends without closing its archive")

asyncio.run(main())
"""


async def test_a_program_that_never_closes_its_archive_still_exits_and_the_archive_opens(
    tmp_path: Path, seed_archive_dir: Path
) -> None:
    # aiosqlite's connection threads are not daemons: before connections were made with daemon threads, this
    # process never exited (the bench's answering worker hung so after an error skipped its close()).
    data_dir = tmp_path / "data"
    run = subprocess.run(
        [sys.executable, "-c", ABANDONING_SCRIPT, str(data_dir), str(seed_archive_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert "without closing" in run.stderr, run.stderr
    settings = Settings(data_dir=data_dir, model="hash:256", archive_roots=(seed_archive_dir,), min_confidence=0.05)
    async with await Archive.open(settings, embedder=HashEmbedder(256)) as archive:
        assert (await archive.stats()).articles == 1
        assert (await archive.gaps()).groups[0].questions == ("Who won the 2007 Bafta?",)
    report = await check_index(data_dir)
    assert report.ok, report.problems
