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


async def test_a_finished_build_leaves_one_vector_file_and_stats_counts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunked build commits a vector generation per chunk; once no reader can need the older ones (their
    successor is SETTLED_SECONDS old) they go, and `stats` counts only the live file (it reported 56.9 MB for a
    29 MB index, old generations included)."""
    from index.storage.sqlite import tantivy_text, vectors

    settings = Settings(data_dir=tmp_path / "data", model="hash:256", index_chunk_articles=1, min_confidence=0.05)
    root = undated_archive(tmp_path / "archive")
    async with await Archive.open(settings, embedder=HashEmbedder(256)) as archive:
        monkeypatch.setattr(vectors, "SETTLED_SECONDS", 3600.0)  # a reader could still need them
        monkeypatch.setattr(tantivy_text, "SETTLED_SECONDS", 3600.0)
        await archive.reindex([root])
        assert len(list(settings.data_dir.glob("vectors.*.faiss"))) == 3  # three chunks, three generations kept
        stats = await archive.stats()
        live = settings.data_dir / "vectors.3.faiss"
        assert stats.vector_bytes == live.stat().st_size  # only the live one counted
        assert len(list(settings.data_dir.glob("fulltext.*"))) == 3  # the full-text generations likewise
        assert stats.search_index_bytes == tantivy_text.generation_bytes(settings.data_dir, 3) > 0
        monkeypatch.setattr(vectors, "SETTLED_SECONDS", 0.0)  # every reader has moved on
        monkeypatch.setattr(tantivy_text, "SETTLED_SECONDS", 0.0)
        (root / "harbour-3.txt").write_text("More harbour news\n\nThe ferry from Oban left at noon.\n")
        await archive.reindex([root])
        assert sorted(p.name for p in settings.data_dir.glob("vectors.*.faiss")) == ["vectors.4.faiss"]
        assert sorted(p.name for p in settings.data_dir.glob("fulltext.*")) == ["fulltext.4"]
        assert (await archive.ask("When did the ferry from Oban leave?")).answered
