"""Secrets and data: the data directory is owner-only (0700) and every file in it (databases, their -wal
and -shm files, the staging cache, vector files, the lock file) is 0600, under an ordinary umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from reliability_support import cli_env, run_cli, write_archive

from index import Archive, HashEmbedder, Settings, repair_index


@pytest.fixture
def ordinary_umask():
    previous = os.umask(0o022)  # files would be world-readable by default
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_private(data_dir: Path, *, expect: set[str]) -> None:
    assert _mode(data_dir) == 0o700
    names = {path.name for path in data_dir.iterdir()}
    assert expect <= names, names
    for path in data_dir.rglob("*"):  # the tantivy generations' files too (fulltext.<n>/)
        assert _mode(path) & 0o077 == 0, f"{path.relative_to(data_dir)} is {oct(_mode(path))}"


async def test_library_creates_owner_only_data(tmp_path: Path, ordinary_umask) -> None:
    data_dir = tmp_path / "nested" / "data"
    settings = Settings(data_dir=data_dir, model="hash:256", min_confidence=0.0)
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        await archive.reindex([write_archive(tmp_path / "news", count=3)])
        await archive.ask("What did the harbour authority approve?")
        await archive.record_feedback(
            answer_key="k", user_id="1", guild_id=None, question="q", article_ids=["a"], helpful=True
        )
        # While the connections are open, SQLite's -wal and -shm files exist too.
        _assert_private(
            data_dir,
            expect={
                "archive.sqlite3",
                "archive.sqlite3-wal",
                "archive.sqlite3-shm",
                "feedback.sqlite3",
                "feedback.sqlite3-wal",
                "staging.sqlite3",
                "index.lock",
                "vectors.1.faiss",
            },
        )
        for vector_file in data_dir.glob("vectors.*.faiss"):
            vector_file.unlink()
        await repair_index(data_dir)  # doctor's new vector file is private too
        _assert_private(data_dir, expect={"vectors.2.faiss"})
    finally:
        await archive.close()
    _assert_private(data_dir, expect={"archive.sqlite3"})


def test_cli_creates_owner_only_data(tmp_path: Path, ordinary_umask) -> None:
    data_dir = tmp_path / "data"
    result = run_cli(["index", str(write_archive(tmp_path / "news", count=2))], cli_env(data_dir))
    assert result.returncode == 0, result.stderr
    _assert_private(data_dir, expect={"archive.sqlite3", "staging.sqlite3", "index.lock", "vectors.1.faiss"})


async def test_an_existing_open_data_directory_is_tightened(tmp_path: Path, ordinary_umask) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    leftover = data_dir / "vectors.9.faiss"
    leftover.write_bytes(b"old")
    os.chmod(leftover, 0o644)
    archive = await Archive.open(Settings(data_dir=data_dir, model="hash:256"), embedder=HashEmbedder(256))
    await archive.close()
    _assert_private(data_dir, expect={"archive.sqlite3", "vectors.9.faiss"})
