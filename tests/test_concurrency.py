"""Concurrency: questions during a reindex are answered from one consistent index (the old one or the new
one, never a mix), and two reindexes never run together, in one process or across processes. On both storage
backends: the embedded one (a lock file) and PostgreSQL (an advisory lock in the database)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from reliability_support import TOPICS, assert_consistent, backend_env, run_cli, start_cli, write_archive

from index import Archive, HashEmbedder, IndexBusyError, Settings, repair_index

QUESTIONS = [
    "What did the harbour authority approve?",
    "What did apple growers in the valley report?",
    "What did scientists measure about the glacier?",
    "What did the railway company order?",
    "What did the jazz festival draw?",
    "What did health officials begin?",
    "What did the mayoral election produce?",
    "What did astronomers photograph?",
]


class GatedEmbedder:
    """The fake embedder, except that embedding the new archive text ("omega") waits for a gate: the
    reindex is then provably in progress while the test asks its questions."""

    def __init__(self) -> None:
        self._inner = HashEmbedder(256)
        self.name, self.dimension = self._inner.name, self._inner.dimension
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed(self, texts) -> np.ndarray:
        if any("omega" in text for text in texts):
            self.entered.set()
            if not self.gate.wait(timeout=120):
                raise RuntimeError("gate never opened")
        return self._inner.embed(texts)


def _generation_of(answer) -> str:
    """'alpha' or 'omega' when every quote comes from that version of the archive; 'mixed' otherwise."""
    assert answer.answered and answer.quotes, answer.question
    markers = {
        ("omega" if "omega" in quote.text else "alpha" if "alpha" in quote.text else "none") for quote in answer.quotes
    }
    return markers.pop() if len(markers) == 1 else "mixed"


def _settings(backend_settings: Settings) -> Settings:
    return dataclasses.replace(backend_settings, min_confidence=0.0, archive_roots=())  # always quote


async def _ask_all(archive: Archive, rounds: int = 1) -> list:
    return await asyncio.gather(*(archive.ask(q) for q in QUESTIONS * rounds))


async def test_questions_during_an_in_process_reindex_see_old_or_new_never_a_mix(
    tmp_path: Path, backend_settings: Settings
) -> None:
    root = write_archive(tmp_path / "news", marker="alpha")
    embedder = GatedEmbedder()
    settings = _settings(backend_settings)
    archive = await Archive.open(settings, embedder=embedder)
    try:
        await archive.reindex([root])
        assert {_generation_of(a) for a in await _ask_all(archive)} == {"alpha"}

        write_archive(root, marker="omega")  # every article changes
        reindex = asyncio.create_task(archive.reindex([root]))
        assert await asyncio.to_thread(embedder.entered.wait, 60)

        # The reindex is stuck in embedding: many questions at once, all answered from the old index.
        during = await _ask_all(archive, rounds=5)
        assert {_generation_of(a) for a in during} == {"alpha"}

        # A second reindex is refused: same object, another object on the same data directory, doctor.
        with pytest.raises(IndexBusyError):
            await archive.reindex([root])
        other = await Archive.open(settings, embedder=HashEmbedder(256))
        try:
            with pytest.raises(IndexBusyError):
                await other.reindex([root])
        finally:
            await other.close()
        with pytest.raises(IndexBusyError):
            await repair_index(settings)

        # Let it finish while questions keep coming: each answer is wholly old or wholly new.
        embedder.gate.set()
        seen = []
        while not reindex.done():
            seen.extend(await _ask_all(archive))
        summary = await reindex
        assert summary.updated == len(TOPICS)
        assert {_generation_of(a) for a in seen} <= {"alpha", "omega"}
        assert {_generation_of(a) for a in await _ask_all(archive, rounds=2)} == {"omega"}
        await archive.reindex([root])  # the lock was released
    finally:
        await archive.close()
    await assert_consistent(settings)


async def test_a_reindex_in_another_process_locks_out_others_and_switches_cleanly(
    tmp_path: Path, backend_settings: Settings
) -> None:
    root = write_archive(tmp_path / "news", marker="alpha")
    settings = _settings(backend_settings)
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        await archive.reindex([root])
        write_archive(root, marker="omega")
        marker = tmp_path / "paused"
        env = backend_env(settings, ARCHIVEBOT_TEST_PAUSE_AT="commit:vectors", ARCHIVEBOT_TEST_PAUSE_FILE=str(marker))
        process = start_cli(["index", str(root), "--json"], env)
        try:
            deadline = time.monotonic() + 90
            while not marker.exists():
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the indexer never paused"
                await asyncio.sleep(0.02)

            # The other process holds the lock, mid-commit: nobody else may reindex ...
            with pytest.raises(IndexBusyError):
                await archive.reindex([root])
            second = run_cli(["index", str(root)], backend_env(settings))
            assert second.returncode == 1 and "already running" in second.stderr
            doctor = run_cli(["doctor", "--repair"], backend_env(settings))
            assert doctor.returncode == 1 and "already running" in doctor.stderr
            # ... and questions are answered from the committed (old) index.
            assert {_generation_of(a) for a in await _ask_all(archive, rounds=3)} == {"alpha"}

            marker.unlink()  # let the other process commit while questions keep coming
            seen = []
            while process.poll() is None:
                seen.extend(await _ask_all(archive))
            assert process.wait(timeout=60) == 0, process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()
        assert {_generation_of(a) for a in seen} <= {"alpha", "omega"}
        # This process notices the other's commit and switches wholesale to the new generation.
        assert {_generation_of(a) for a in await _ask_all(archive, rounds=2)} == {"omega"}
        summary = await archive.reindex([root])  # the lock file was released
        assert summary.passages_embedded == 0
    finally:
        await archive.close()
    await assert_consistent(settings)


def test_two_index_processes_never_run_together(tmp_path: Path, backend_settings: Settings) -> None:
    """Two `archivebot index` commands at once: exactly one runs, the other says so and exits 1."""
    root = write_archive(tmp_path / "news")
    settings = _settings(backend_settings)
    marker = tmp_path / "paused"
    first = start_cli(
        ["index", str(root)],
        backend_env(settings, ARCHIVEBOT_TEST_PAUSE_AT="embed", ARCHIVEBOT_TEST_PAUSE_FILE=str(marker)),
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the indexer never paused"
            time.sleep(0.02)
        second = run_cli(["index", str(root), "--json"], backend_env(settings))
        assert second.returncode == 1
        assert "another reindex is already running" in second.stderr
        assert second.stdout == ""
        marker.unlink()
        assert first.wait(timeout=60) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stdout.close()
        first.stderr.close()
    third = run_cli(["index", str(root), "--json"], backend_env(settings))
    assert third.returncode == 0, third.stderr


async def test_a_cancelled_reindex_leaves_the_old_index_and_releases_the_lock(
    tmp_path: Path, backend_settings: Settings
) -> None:
    """A front end shutting down cancels its reindex task mid-embedding: nothing half-done remains."""
    root = write_archive(tmp_path / "news", marker="alpha")
    embedder = GatedEmbedder()
    settings = _settings(backend_settings)
    archive = await Archive.open(settings, embedder=embedder)
    try:
        await archive.reindex([root])
        write_archive(root, marker="omega")
        reindex = asyncio.create_task(archive.reindex([root]))
        assert await asyncio.to_thread(embedder.entered.wait, 60)
        reindex.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reindex
        embedder.gate.set()
        assert not archive.reindexing
        assert {_generation_of(a) for a in await _ask_all(archive)} == {"alpha"}
        await assert_consistent(settings)
        summary = await archive.reindex([root])  # neither lock is left held
        assert summary.updated == len(TOPICS)
        assert {_generation_of(a) for a in await _ask_all(archive)} == {"omega"}
    finally:
        await archive.close()
    await assert_consistent(settings)
