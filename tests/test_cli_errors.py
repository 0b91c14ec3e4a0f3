"""Bad input and bad state: a typed error in the library; in the CLI (a real subprocess) a one-line
message and a non-zero exit, never a traceback and never an answer from a broken or foreign index."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_support import cli_env, run_cli, sql, write_archive

from index import Archive, HashEmbedder, IndexNotBuiltError, QuestionError, Settings


@pytest.fixture
async def empty_archive(tmp_path: Path):
    archive = await Archive.open(Settings(data_dir=tmp_path / "data", model="hash:256"), embedder=HashEmbedder(256))
    yield archive
    await archive.close()


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\u200b\u200b\u200d"])
async def test_empty_questions_are_a_question_error(empty_archive: Archive, question: str) -> None:
    await empty_archive.reindex([write_archive(empty_archive.settings.data_dir.parent / "news", count=2)])
    with pytest.raises(QuestionError, match="no question in that"):
        await empty_archive.ask(question)


async def test_a_10000_character_question_is_a_question_error(empty_archive: Archive) -> None:
    await empty_archive.reindex([write_archive(empty_archive.settings.data_dir.parent / "news", count=2)])
    with pytest.raises(QuestionError, match="too long"):
        await empty_archive.ask("why " * 2500)
    with pytest.raises(QuestionError, match="too long"):
        await empty_archive.search("x" * 10_000)


async def test_a_never_built_index_is_a_typed_error(empty_archive: Archive) -> None:
    with pytest.raises(IndexNotBuiltError, match="archivebot index"):
        await empty_archive.ask("What did the harbour authority approve?")
    with pytest.raises(IndexNotBuiltError, match="archivebot index"):
        await empty_archive.search("harbour")


def _clean_failure(result, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_cli_never_built(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    _clean_failure(run_cli(["ask", "What happened?"], env), 1, "archivebot index")
    _clean_failure(run_cli(["search", "harbour"], env), 1, "archivebot index")
    _clean_failure(run_cli(["doctor"], env), 1, "archivebot index")


@pytest.fixture
def built_env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(tmp_path / "data")
    result = run_cli(["index", str(write_archive(tmp_path / "news", count=3))], env)
    assert result.returncode == 0, result.stderr
    return env


def test_cli_empty_and_oversized_questions(built_env: dict[str, str]) -> None:
    _clean_failure(run_cli(["ask", ""], built_env), 2, "no question in that")
    _clean_failure(run_cli(["ask", "   "], built_env), 2, "no question in that")
    _clean_failure(run_cli(["ask", "why " * 2500], built_env), 2, "too long")
    _clean_failure(run_cli(["search", "x" * 10_000], built_env), 2, "too long")
    assert run_cli(["ask", "What did the harbour authority approve?"], built_env).returncode == 0


def test_cli_foreign_model_index_is_refused_at_start(built_env: dict[str, str]) -> None:
    other = dict(built_env, ARCHIVEBOT_MODEL="hash:128")
    _clean_failure(
        run_cli(["ask", "What did the harbour authority approve?"], other), 1, "hash:256", "archivebot index"
    )
    _clean_failure(run_cli(["search", "harbour"], other), 1, "hash:256")
    doctor = run_cli(["doctor"], other)
    assert doctor.returncode == 1 and "model_mismatch" in doctor.stdout


def test_cli_inconsistent_index_is_refused_not_answered(built_env: dict[str, str], tmp_path: Path) -> None:
    data = Path(built_env["ARCHIVEBOT_DATA_DIR"])
    for vector_file in data.glob("vectors.*.faiss"):
        vector_file.unlink()
    _clean_failure(run_cli(["ask", "What did the harbour authority approve?"], built_env), 1, "doctor --repair")
    repaired = run_cli(["doctor", "--repair"], built_env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert run_cli(["ask", "What did the harbour authority approve?"], built_env).returncode == 0

    sql(data, "DELETE FROM passages WHERE id = (SELECT max(id) FROM passages)")  # a vector without a passage
    _clean_failure(run_cli(["ask", "What did the harbour authority approve?"], built_env), 1, "doctor --repair")
