"""What a newcomer meets in the first hour: filters an archive cannot satisfy are explained, bad inline
options are refused like bad command-line options, and summaries print numbers one way."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.discord_format import not_found_embed
from index import Archive, HashEmbedder, QuestionError, Settings


def undated_archive(root: Path) -> Path:
    root.mkdir(parents=True)
    for number, town in enumerate(("Harwich", "Whitby", "Oban")):
        (root / f"harbour-{number}.txt").write_text(
            f"Harbour news from {town}\n\nThe harbour master of {town} counted {number + 3} fishing boats at dawn.\n",
            encoding="utf-8",
        )
    return root


async def test_a_date_filter_on_an_undated_archive_says_the_archive_has_no_dates(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05)
    async with await Archive.open(settings, embedder=HashEmbedder(256)) as archive:
        await archive.reindex([undated_archive(tmp_path / "archive")])
        answer = await archive.ask("How many fishing boats did the harbour master of Whitby count?", after="2005-01-01")
        assert not answer.answered
        assert answer.date_note is not None and "carry no dates" in answer.date_note
        assert "carry no dates" in (not_found_embed(answer).description or "")
        unfiltered = await archive.ask("How many fishing boats did the harbour master of Whitby count?")
        assert unfiltered.date_note is None  # said only when a date filter is given


async def test_a_bad_inline_date_is_refused_like_the_option(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256")
    async with await Archive.open(settings, embedder=HashEmbedder(256)) as archive:
        await archive.reindex([undated_archive(tmp_path / "archive")])
        for question in ("boats after:2005-13", "boats before:yesterday", 'boats since:"soon"'):
            with pytest.raises(QuestionError, match="must be a date like 2009-12-19"):
                await archive.ask(question)


def test_the_cli_refuses_a_bad_inline_date_with_exit_2(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256")
    runner = CliRunner()
    obj = {"settings": settings, "embedder": HashEmbedder(256)}
    assert runner.invoke(cli, ["index", str(undated_archive(tmp_path / "archive"))], obj=obj).exit_code == 0
    result = runner.invoke(
        cli, ["ask", "boats after:2009-13-45"], obj={"settings": settings, "embedder": HashEmbedder(256)}
    )
    assert result.exit_code == 2 and result.stderr.startswith("error: after: must be a date")


def test_the_index_summary_prints_thousands_like_the_progress(tmp_path: Path) -> None:
    from bot.terminal import summary_text
    from index import IndexSummary

    text = summary_text(IndexSummary(added=2095, passages_embedded=13136, sentences_embedded=41000, seconds=3))
    assert text.startswith("2,095 added") and "13,136 passages (41,000 new texts embedded)" in text
