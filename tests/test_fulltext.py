"""The embedded backend's full-text side (index/storage/sqlite/fulltext.py): the split BM25 search returns the
OR-query's top k, and remembered document frequencies never outlive a change to the archive."""

from __future__ import annotations

import random
from pathlib import Path

import aiosqlite
import pytest

from index.storage.sqlite import fulltext
from index.storage.sqlite.fulltext import TermFrequencies, document_frequencies, split_passages
from index.storage.sqlite.schema import fts_match, open_database, transaction

# A Zipf-like vocabulary (a few words in many passages, most in few) and stories: each passage is about one of
# TOPICS, whose own words it repeats, as a news passage names its subject more than once.
WORDS = [f"w{rank}" for rank in range(400)]
WEIGHTS = [1.0 / (rank + 1) for rank in range(400)]
TOPICS = [[f"t{topic}x{word}" for word in range(4)] for topic in range(60)]


async def _archive(path: Path, passages: int, seed: int = 0) -> aiosqlite.Connection:
    db = await open_database(path)
    rng = random.Random(seed)
    rows = []
    for rowid in range(1, passages + 1):
        title = " ".join(rng.choices(WORDS, WEIGHTS, k=rng.randint(2, 6)))
        text = " ".join(rng.choices(WORDS, WEIGHTS, k=rng.randint(10, 60)) + rng.choices(rng.choice(TOPICS), k=3))
        rows.append((rowid, title, text))
    await db.executemany("INSERT INTO passages_fts(rowid, title, text) VALUES (?, ?, ?)", rows)
    return db


@pytest.mark.parametrize("share", [fulltext.ESSENTIAL_SHARE, 0.05])
async def test_the_split_search_returns_the_or_querys_top_k(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    monkeypatch.setattr(fulltext, "ESSENTIAL_SHARE", share)
    db = await _archive(tmp_path / "archive.sqlite3", 3_000)
    original = fulltext.fts_passages
    called: list[str] = []

    async def counting(db: aiosqlite.Connection, match: str, limit: int) -> list[tuple[int, float]]:
        called.append(match)
        return await original(db, match, limit)

    monkeypatch.setattr(fulltext, "fts_passages", counting)  # to see whether the fill-up query (3) ran
    rng = random.Random(1)
    splits = fallbacks = 0
    try:
        for _ in range(120):
            terms = list(dict.fromkeys(rng.sample(WORDS[:60], rng.randint(1, 3)) + rng.sample(rng.choice(TOPICS), 2)))
            frequencies, total = await document_frequencies(db, terms, 3_000)
            _, common = fulltext.split_terms(terms, frequencies, total)
            everything = dict(await original(db, fts_match(terms), 3_000))
            for limit in (10, 64):
                expected = await original(db, fts_match(terms), limit)
                called.clear()
                found = await split_passages(db, terms, frequencies, total, limit)
                # The same scores in the same order (passages of equal score at the cut may differ).
                assert [round(score, 9) for _, score in found] == [round(score, 9) for _, score in expected]
                assert all(abs(everything[passage_id] - score) < 1e-9 for passage_id, score in found)  # its own score
                splits += bool(common)
                fallbacks += any(" NOT " in match for match in called)
    finally:
        await db.close()
    assert splits > 120  # most term sets had common terms to leave to the second query…
    assert 0 < fallbacks < splits  # …and the bound spared the third query for some, not all


async def test_remembered_frequencies_follow_commits_of_other_connections(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite3"
    reader = await _archive(path, 200)
    await reader.commit()
    writer = await open_database(path)
    remembered = TermFrequencies()
    try:
        async with transaction(reader, write=False):
            before, total = await remembered.of(reader, ["w0", "w399", "zebra"], 200)
            assert (before, total) == ((await document_frequencies(reader, ["w0", "w399", "zebra"]))[0], 200)
        async with transaction(writer):
            await writer.execute("INSERT INTO passages_fts(rowid, title, text) VALUES (1000, 'zebra', 'w399 zebra')")
        async with transaction(reader, write=False):
            after, _ = await remembered.of(reader, ["w399", "zebra"], 201)
        assert after == {"w399": before["w399"] + 1, "zebra": 1}
    finally:
        await writer.close()
        await reader.close()


async def test_remembered_frequencies_start_again_when_too_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fulltext, "REMEMBERED_TERMS", 3)
    db = await _archive(tmp_path / "archive.sqlite3", 200)
    remembered = TermFrequencies()
    try:
        async with transaction(db, write=False):
            expected, _ = await document_frequencies(db, ["w0", "w1", "w2", "w3"])
            assert (await remembered.of(db, ["w0", "w1"], 200))[0] == {"w0": expected["w0"], "w1": expected["w1"]}
            assert (await remembered.of(db, ["w0", "w2", "w3"], 200))[0] == {t: expected[t] for t in ("w0", "w2", "w3")}
            assert (await remembered.of(db, ["w1", "w0"], 200))[0] == {"w1": expected["w1"], "w0": expected["w0"]}
    finally:
        await db.close()
