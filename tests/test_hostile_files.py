"""Hostile archive files: each gets exactly one warning naming the file and the reason, good files are
indexed, nothing crashes or hangs, and the index stays consistent (checked with `archivebot doctor`'s
check). The files are generated here, in temporary folders."""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from reliability_support import assert_consistent, sql, write_archive

import index.indexing.indexer as indexer_module
import index.reading.files as files_module
import index.reading.format_html as html_module
import index.reading.parse as parse_module
from index import Archive, HashEmbedder, Settings

GOOD_ARTICLES = 8


def _hostile_files(root: Path, outside: Path) -> dict[str, str]:
    """Write the hostile files; returns {file name: a word its warning must contain}."""
    rng = random.Random(6)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, reason: str) -> None:
        (root / name).write_bytes(data)
        expected[name] = reason

    put("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(4096), "binary")
    put("controls.txt", bytes(range(1, 32)) * 200, "binary")
    put("empty.txt", b"", "empty")
    put("blank.md", b"\n  \n\t\n", "empty")
    put(
        "cp1252.txt", "Caf\u00e9 owners in the harbour town welcomed the ferry plan.\n".encode("cp1252"), "Windows-1252"
    )
    put("undecodable.txt", b"Broken \x81\x8d\x8f\x90\x9d bytes everywhere \xff\xfe\xfd.", "UTF-8")
    put("huge.txt", b"filler words " * (50_000_000 // 13 + 1), "limit")
    put("million.txt", b"x\n" * 1_000_000, "sentences")
    put("malformed.json", b'{"title": "Broken", "text": "unterminated', "malformed JSON")
    put("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply")
    put(
        "deep_record.json",
        b'{"title": "T", "text": "Some text.", "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "nested too deeply",
    )
    put("no_text.json", json.dumps({"title": "Only a title"}).encode(), "no text")
    lines = [
        json.dumps(
            {
                "id": "good-1",
                "title": "Lighthouse keeper retires",
                "text": "The last lighthouse keeper on the coast retired after forty years of service.",
            }
        ),
        '{"id": "broken", "text": ',
        "[" * 5000 + "]" * 5000,
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "empty", "title": "No body here"}),
    ]
    put("mixed.jsonl", "\n".join(lines).encode(), "4 malformed record")
    records = [1] * 1000 + [
        {"title": "Beekeepers", "text": "Beekeepers counted more hives than last year in the hills."}
    ]
    put("many_bad_records.json", json.dumps(records).encode(), "1000 malformed record")
    duplicate = {"id": "same", "title": "Twins", "text": "Two records share one id in this file, which is wrong."}
    put("duplicates.jsonl", (json.dumps(duplicate) + "\n" + json.dumps(duplicate) + "\n").encode(), "duplicate")

    secret = outside / "secret.txt"
    secret.write_text("Password list\n\nThe outsidersecret password is swordfish and must never be indexed.\n")
    os.symlink(secret, root / "link_outside.txt")
    expected["link_outside.txt"] = "outside the archive"
    os.symlink(outside, root / "linked_folder")
    expected["linked_folder"] = "not followed"
    os.mkfifo(root / "pipe.txt")  # reading it naively would block forever
    expected["pipe.txt"] = "not a regular file"
    os.symlink("loop_b.txt", root / "loop_a.txt")  # pathlib's resolve() raised RuntimeError on these
    os.symlink("loop_a.txt", root / "loop_b.txt")
    os.symlink("self.txt", root / "self.txt")
    expected.update({"loop_a.txt": "loop", "loop_b.txt": "loop", "self.txt": "loop"})
    os.symlink(root / "missing.txt", root / "dangling.txt")
    expected["dangling.txt"] = "broken symbolic link"
    os.symlink(root / "harbour.txt", root / "inside_link.txt")  # inside the archive: followed, no warning
    # A name with bytes that are not UTF-8 can't be stored, logged or sent; it is skipped by name.
    with open(os.path.join(os.fsencode(root), b"bad\xff name.txt"), "wb") as handle:
        handle.write(b"Bad name\n\nAn article whose file name is not UTF-8.\n")
    expected["bad\ufffd name.txt"] = "not valid UTF-8"
    return expected


def _well_formed_but_odd(root: Path) -> None:
    """Files that must be indexed (no warning needed), however odd."""
    (root / "utf16.txt").write_bytes(
        "Glassblowers\n\nThe glassblowers guild opened its workshop to visitors for the first time.\n".encode("utf-16")
    )
    (root / "escapes.txt").write_text(
        "Terminal tricks\n\nThe \x1b[31mcouncil\x1b[0m approved the budget\x07 for the new library.\n", encoding="utf-8"
    )
    (root / "surrogate.json").write_text(
        '{"title": "Odd characters", "text": "A lone surrogate \\ud800 appeared in the beekeeping report.\\u0000"}',
        encoding="utf-8",
    )
    (root / "spaces.txt").write_text(
        "Mountain pass" + "\u2003" * 100_000 + "reopened.\n\nThe mountain pass reopened after the snow melted.\n",
        encoding="utf-8",
    )
    (root / "brackets.md").write_text(
        "# Brackets\n\n" + "[" * 100_000 + "\n\nCartographers mapped the delta.\n", encoding="utf-8"
    )
    (root / "page.html").write_text(
        """<!doctype html><html><head><title>Museum reopens</title>
        <style>.scriptsecret-style { color: red } body::after { content: "STYLESECRET" }</style>
        <script>var token = "SCRIPTSECRET"; document.write("SCRIPTSECRET");</script></head>
        <body><nav>Home | News</nav><article><h1>Museum reopens</h1>
        <p>The city museum reopened its doors on Saturday after a long renovation of the east wing.</p>
        <script type="text/javascript">alert("SCRIPTSECRET")</script>
        <p>Curators said the new galleries would show the maritime collection for the first time.</p>
        <noscript>NOSCRIPTSECRET enable javascript</noscript>
        <p onclick="SCRIPTSECRET()">Visitors queued around the block to see the restored ship models.</p>
        </article><footer>Copyright 2024 Museum News</footer></body></html>""",
        encoding="utf-8",
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05)


async def test_hostile_files_warn_once_each_and_never_damage_the_index(tmp_path: Path, settings: Settings) -> None:
    root = write_archive(tmp_path / "news")
    outside = tmp_path / "outside"
    outside.mkdir()
    embedder = HashEmbedder(256)
    archive = await Archive.open(settings, embedder=embedder)
    try:
        first = await archive.reindex([root])
        assert first.added == GOOD_ARTICLES and not first.warnings

        expected = _hostile_files(root, outside)
        _well_formed_but_odd(root)
        summary = await archive.reindex([root])

        per_file = Counter(Path(w.path).name for w in summary.warnings)
        assert set(per_file) == set(expected), summary.warnings
        assert all(count == 1 for count in per_file.values()), per_file  # one warning per file
        for warning in summary.warnings:
            name = Path(warning.path).name
            assert expected[name].lower() in warning.reason.lower(), (name, warning.reason)
            assert str(root) in warning.path  # the warning names the file itself

        # Good and odd-but-readable files were indexed; the hostile ones contributed nothing else.
        # cp1252, utf16, escapes, surrogate, spaces, brackets, page, mixed#good-1, many_bad#1001, duplicates#same,
        # inside_link
        assert summary.added == 11, summary
        assert summary.unchanged == GOOD_ARTICLES

        for question, word in [
            ("What did the harbour authority approve?", "ferry"),
            ("What did the glassblowers guild open?", "glassblowers"),
            ("Who retired after forty years?", "lighthouse"),
            ("What did the city museum reopen?", "museum"),
        ]:
            answer = await archive.ask(question)
            assert answer.quotes and word in " ".join(q.text.lower() for q in answer.quotes), question

        bodies = " ".join(row[0] for row in sql(settings.data_dir, "SELECT body || ' ' || title FROM articles"))
        fts = " ".join(row[0] for row in sql(settings.data_dir, "SELECT title || ' ' || text FROM passages_fts"))
        for text in (bodies, fts):
            assert "SCRIPTSECRET" not in text and "STYLESECRET" not in text and "scriptsecret" not in text
            assert "outsidersecret" not in text and "swordfish" not in text
            assert "\x1b" not in text and "\x07" not in text and "\x00" not in text
        assert "council approved the budget" in bodies
        assert "Caf\u00e9 owners" in bodies
        assert "Mountain pass reopened" in bodies  # 100,000 exotic spaces became one

        await assert_consistent(settings.data_dir)
        # A second run over the same hostile archive changes nothing. Files that gave nothing are read and
        # reported again; files indexed despite a warning are unchanged, so they are not even read.
        again = await archive.reindex([root])
        assert again.added == again.updated == again.removed == 0
        partly_indexed = {"cp1252.txt", "mixed.jsonl", "many_bad_records.json", "duplicates.jsonl"}
        assert Counter(Path(w.path).name for w in again.warnings) == Counter(
            {name: 1 for name in per_file if name not in partly_indexed}
        )
    finally:
        await archive.close()
    await assert_consistent(settings.data_dir)


async def test_the_file_size_limit_is_configurable(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ARCHIVEBOT_DATA_DIR": str(tmp_path / "data"),
            "ARCHIVEBOT_MODEL": "hash:256",
            "ARCHIVEBOT_MAX_FILE_BYTES": "2000",
        }
    )
    assert settings.max_file_bytes == 2000
    root = write_archive(tmp_path / "news", count=2)
    big = root / "long.txt"
    big.write_text("Long read\n\n" + "The long article keeps going about canals. " * 80, encoding="utf-8")
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        summary = await archive.reindex([root])
        assert summary.added == 2
        [warning] = summary.warnings
        assert warning.path == str(big) and "2,000-byte limit" in warning.reason
        assert "ARCHIVEBOT_MAX_FILE_BYTES" in warning.reason
    finally:
        await archive.close()


async def test_a_file_that_vanishes_while_indexing(tmp_path: Path, settings: Settings, monkeypatch) -> None:
    root = write_archive(tmp_path / "news")
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        await archive.reindex([root])
        doomed = root / "harbour.txt"
        newcomer = root / "newcomer.txt"
        newcomer.write_text("Newcomer\n\nA new bakery opened near the station.\n", encoding="utf-8")
        (root / "orchard.txt").write_text("Orchard\n\nThe orchard changed hands.\n", encoding="utf-8")
        real_discover = indexer_module.discover

        def discover_then_delete(roots):
            found = real_discover(roots)
            doomed.unlink()  # found by the scan, gone before it is read
            newcomer.unlink()
            return found

        monkeypatch.setattr(indexer_module, "discover", discover_then_delete)
        summary = await archive.reindex([root])
        reasons = {Path(w.path).name: w.reason for w in summary.warnings}
        assert reasons == {
            "harbour.txt": "file vanished while indexing",
            "newcomer.txt": "file vanished while indexing",
        }
        assert summary.updated == 1 and summary.removed == 1  # orchard changed; harbour is gone
        answer = await archive.ask("What did the harbour authority approve?")
        assert all("ferry terminal" not in q.text for q in answer.quotes)
    finally:
        await archive.close()
    await assert_consistent(settings.data_dir)


async def test_a_file_that_changes_while_being_read_is_read_again_next_time(
    tmp_path: Path, settings: Settings, monkeypatch
) -> None:
    root = write_archive(tmp_path / "news")
    target = root / "glacier.txt"
    real_read = files_module._read_bytes

    def read_then_change(handle, count):
        data = real_read(handle, count)
        if handle.name and Path(str(target)).samefile(f"/proc/self/fd/{handle.fileno()}"):
            with open(target, "a", encoding="utf-8") as writer:
                writer.write("\nLate news: the zeppelin landed safely in the glacier valley.\n")
        return data

    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    try:
        monkeypatch.setattr(files_module, "_read_bytes", read_then_change)
        summary = await archive.reindex([root])
        [warning] = summary.warnings
        assert warning.path == str(target) and "changed while being read" in warning.reason
        assert summary.added == GOOD_ARTICLES
        assert not any("zeppelin" in body for (body,) in sql(settings.data_dir, "SELECT body FROM articles"))
        await assert_consistent(settings.data_dir)

        monkeypatch.setattr(files_module, "_read_bytes", real_read)
        again = await archive.reindex([root])
        assert not again.warnings and again.updated == 1
        answer = await archive.ask("Where did the zeppelin land?")
        assert answer.quotes and "zeppelin" in answer.quotes[0].text
    finally:
        await archive.close()
    await assert_consistent(settings.data_dir)


def test_pathological_text_parses_in_linear_time(tmp_path: Path) -> None:
    """Inputs that made the old header and markdown-link patterns backtrack quadratically (minutes for a
    few hundred kilobytes). Each of these is large enough that quadratic behaviour would not finish."""
    root = tmp_path / "news"
    root.mkdir()
    cases = {
        "spaces.txt": "Head" + "\u2003" * 400_000 + "x - y",
        "links.md": "Text " + "[" * 400_000 + "\n\nBody text.",
        "images.md": "Text " + "![" * 200_000 + "\n\nBody text.",
        "header.txt": "- Source " + "- " * 200_000 + "Monday, December 19, 2009\n\nBody text.",
    }
    for name, text in cases.items():
        path = root / name
        path.write_text(text, encoding="utf-8")
        articles, warnings = parse_module.parse_file(files_module.ArchiveFile(root, path), 10_000_000)
        assert len(articles) == 1 and not warnings, (name, warnings)


async def test_a_deeply_nested_archive_is_walked_without_recursion(tmp_path: Path, settings: Settings) -> None:
    """1,200 nested folders: `os.walk` recursed and raised RecursionError, failing the whole reindex."""
    root = write_archive(tmp_path / "news", count=2)
    levels = [root]
    try:
        for _ in range(1200):
            levels.append(levels[-1] / "d")
            os.mkdir(levels[-1])  # one level at a time: Path.mkdir(parents=True) itself recurses
        (levels[-1] / "owls.txt").write_text(
            "Owls\n\nA deeply filed article about barn owls nesting in the old mill.\n"
        )
        archive = await Archive.open(settings, embedder=HashEmbedder(256))
        try:
            summary = await archive.reindex([root])
            assert summary.added == 3 and not summary.warnings
            answer = await archive.ask("Where are the barn owls nesting?")
            assert answer.quotes and "barn owls" in answer.quotes[0].text
        finally:
            await archive.close()
    finally:
        # shutil.rmtree recurses too: pytest's clean-up of old temporary folders would fail on this one.
        (levels[-1] / "owls.txt").unlink(missing_ok=True)
        for level in reversed(levels[1:]):
            with contextlib.suppress(OSError):
                os.rmdir(level)


def test_html_with_a_flood_of_tags_is_stripped_linearly_without_scripts(tmp_path: Path) -> None:
    """trafilatura took ~30 s on 4 MB of tags; past MAX_HTML_TAGS the linear tag stripper is used instead."""
    root = tmp_path / "news"
    root.mkdir()
    path = root / "flood.html"
    path.write_text(
        "<html><head><title>Flood of tags</title><style>p { content: 'STYLESECRET' }</style></head><body>"
        "<p>The river authority opened the flood gates on Tuesday morning.</p>"
        + "<i></i>" * (html_module.MAX_HTML_TAGS // 2 + 10)
        + "<script>var x = 'SCRIPTSECRET';</script><p>Farmers moved their cattle to higher ground.</p></body></html>",
        encoding="utf-8",
    )
    [article], [warning] = parse_module.parse_file(files_module.ArchiveFile(root, path), 10_000_000)
    assert warning.path == str(path) and "tags stripped" in warning.reason
    assert "flood gates" in article.body and "higher ground" in article.body
    assert "SCRIPTSECRET" not in article.body and "STYLESECRET" not in article.body
    assert article.title == "Flood of tags"
