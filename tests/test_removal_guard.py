"""Nothing lost by accident: a reindex that would remove more than half of the indexed articles (an empty or
mistyped folder) stops before it changes anything, in the engine, the CLI and Discord's /reindex, unless the
operator says it may."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bot_fixtures import Harness
from click.testing import CliRunner
from conftest import SEED_FILE

from bot.cli import cli
from index import Archive, HashEmbedder, RemovalRefusedError, Settings

pytest_plugins = ["bot_fixtures"]  # the harness fixture (and the fixtures it uses)


def write_articles(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_FILE, root / SEED_FILE.name)
    for number in range(count - 1):
        (root / f"story-{number}.txt").write_text(
            f"Harbour story {number}\n\nThe harbour master counted {number + 2} boats at dawn on the quay.\n",
            encoding="utf-8",
        )
    return root


async def test_an_empty_folder_does_not_empty_the_archive(backend_settings: Settings, tmp_path: Path) -> None:
    archive = await Archive.open(backend_settings, embedder=HashEmbedder(256))
    try:
        full = write_articles(tmp_path / "archive", 4)
        assert (await archive.reindex([full])).added == 4
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(RemovalRefusedError) as refused:
            await archive.reindex([empty])
        assert (refused.value.removing, refused.value.indexed) == (4, 4)
        assert "remove 4 of the 4 indexed articles (every article)" in str(refused.value)
        assert (await archive.stats()).articles == 4  # nothing changed
        # Removing half or less goes ahead; more than half needs the operator's word.
        for path in sorted(full.glob("story-*.txt"))[:2]:
            path.unlink()
        assert (await archive.reindex([full])).removed == 2
        assert (await archive.reindex([empty], allow_removal=True)).removed == 2
        assert (await archive.stats()).articles == 0
    finally:
        await archive.close()


def test_the_cli_stops_with_one_line_and_the_flag_that_allows_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), obj={"settings": settings, "embedder": HashEmbedder(256)})
        return result.exit_code, result.stdout, result.stderr

    archive_dir = write_articles(tmp_path / "archive", 3)
    assert run("index", str(archive_dir))[0] == 0
    empty = tmp_path / "typo"
    empty.mkdir()
    code, out, err = run("index", str(empty))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "would remove 3 of the 3 indexed articles" in err and "--allow-removal" in err
    code, out, _ = run("stats", "--json")
    assert code == 0 and '"articles": 3' in out
    code, out, _ = run("index", str(empty), "--allow-removal")
    assert code == 0 and "3 removed" in out


@pytest.mark.e2e
async def test_discord_reindex_stops_and_says_how_to_allow_it(harness: Harness) -> None:
    h = harness
    before = (await h.archive.stats()).articles
    for path in h.archive_dir.rglob("*"):
        if path.is_file():
            path.unlink()
    i = await h.fake.slash(h.fake.admin, "reindex")
    await h.fake.answered(i)
    await h.fake.wait_for(lambda: any("Stopped" in (e.get("content") or "") for e in i.edits), timeout=20)
    text = next(e["content"] for e in i.edits if "Stopped" in (e.get("content") or ""))
    assert f"remove {before} of the {before} indexed articles" in text and "allow_removal:True" in text
    assert (await h.archive.stats()).articles == before
    allowed = await h.fake.slash(h.fake.admin, "reindex", allow_removal=True)
    await h.fake.answered(allowed)
    await h.fake.wait_for(lambda: any("Reindex finished" in (e.get("content") or "") for e in allowed.edits), 20)
    assert (await h.archive.stats()).articles == 0
