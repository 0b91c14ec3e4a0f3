"""Syndicated copies (issue 13 part 5): detection (shingles, MinHash/LSH, exact Jaccard, union-find) and how
every front end lists the other copies under a quote or a search hit."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import discord_format, terminal
from bot.web import pages
from index import Answer, Archive, ArticleHit, Copy, HashEmbedder, Quote, Settings
from index._copies import (
    COPY_THRESHOLD,
    article_band_keys,
    candidate_pairs,
    confirmed_pairs,
    group_rows,
    jaccard,
    shingles,
    update_copy_groups,
)

STORY = (
    "The central bank held interest rates at 4.75% on Thursday, the fifth month in a row without a change. "
    "Economists had expected the decision after figures showed consumer spending slowing over the summer. "
    "The bank's governor said inflation remained close to its target and that the outlook was uncertain. "
    "Mortgage lenders said they would keep their own rates where they are for the time being."
)
REFILED = STORY.replace("on Thursday", "on Thursday afternoon")  # the same wire story, one edit
OTHER = (
    "Interest rates were the talk of the conference, where the finance minister defended the budget. "
    "He said the central bank was independent and that the government would not comment on its decisions. "
    "Opposition members called for a cut in fuel duty before the winter, which the minister rejected."
)


def test_a_refiled_story_is_a_copy_and_a_story_on_the_same_topic_is_not():
    assert jaccard(shingles(STORY), shingles(REFILED)) >= COPY_THRESHOLD
    assert jaccard(shingles(STORY), shingles(OTHER)) < 0.1
    bodies = {1: STORY, 2: REFILED, 3: OTHER, 4: STORY}
    buckets: dict[int, list[int]] = {}
    for row, body in bodies.items():
        for key in article_band_keys(body):
            buckets.setdefault(key, []).append(row)
    pairs = candidate_pairs(bucket for bucket in buckets.values() if len(bucket) > 1)
    assert {(1, 2), (1, 4), (2, 4)} <= pairs  # LSH proposes the copies…
    confirmed = confirmed_pairs(pairs, bodies)
    assert {(first, second) for first, second, _ in confirmed} == {(1, 2), (1, 4), (2, 4)}  # …Jaccard confirms
    assert group_rows((first, second) for first, second, _ in confirmed) == [[1, 2, 4]]


def test_band_keys_are_stable_and_short_or_empty_bodies_are_handled():
    assert article_band_keys(STORY) == article_band_keys(STORY)  # stored: the same in every process
    assert all(-(2**63) <= key < 2**63 for key in article_band_keys(STORY))
    assert article_band_keys("") == [] and article_band_keys("  ...  ") == []
    assert article_band_keys("Short note.") == article_band_keys("short  NOTE")  # one shingle, case-folded
    assert article_band_keys("Short note.") != article_band_keys("Another note.")


def test_groups_are_transitive_and_ordered():
    assert group_rows([(5, 9), (9, 7), (2, 3)]) == [[2, 3], [5, 7, 9]]
    assert group_rows([]) == []


COPY = Copy("b" * 16, "Rates held [again](https://evil.example)", "Wire", "2005-02-10")
QUOTE = Quote("The central bank held interest rates at 4.75%.", "a" * 16, "Rates held", "BBC", "2005-02-10", 0, 47, 0.9)


def test_front_ends_list_the_other_copies():
    quote = Quote(**{**QUOTE.to_dict(), "also_in": (COPY,)})
    answer = Answer("What did the bank do?", True, 0.9, (quote,))
    description = discord_format.answer_embed(answer).description or ""
    assert "also in: " in description and f"(`{COPY.article_id}`)" in description
    assert "[again](" not in description and "\\[again\\]" in description  # escaped: no live masked link
    assert f"id `{COPY.article_id}`" not in description  # not mistaken for a quoted article by 👍/👎 recovery
    assert f"also in: {COPY.title} · Wire · 2005-02-10 [{COPY.article_id}]" in terminal.answer_text(answer)
    hit = ArticleHit(QUOTE.article_id, "Rates held", "BBC", "2005-02-10", 1.0, "x.txt", (COPY,))
    assert COPY.article_id in discord_format.search_pages("rates", [hit])[0].description
    assert f"[{COPY.article_id}]" in terminal.hits_text([hit])
    assert hit.to_dict()["also_in"] == [
        {"id": COPY.article_id, "title": COPY.title, "source": "Wire", "date": COPY.date}
    ]
    html = pages.answer_page(answer) + pages.search_page("rates", [hit])
    assert html.count(f'href="/articles/{COPY.article_id}"') == 2 and '<a href="https://evil' not in html
    plain = Answer("What did the bank do?", True, 0.9, (QUOTE,))
    assert "also in" not in (discord_format.answer_embed(plain).description or "")
    assert "also in" not in terminal.answer_text(plain) and "Also in" not in pages.answer_page(plain)


class MemoryCopyStore:
    """The `CopyStore` primitives over dicts, as a backend keeps them (deleting an article drops its keys and
    pairs, like ON DELETE CASCADE)."""

    def __init__(self) -> None:
        self.articles: dict[int, str] = {}
        self.keys: dict[int, list[int]] = {}
        self.pairs: dict[tuple[int, int], float] = {}
        self.groups: list[list[int]] = []

    def delete(self, row: int) -> None:
        del self.articles[row]
        self.keys.pop(row, None)
        self.pairs = {pair: value for pair, value in self.pairs.items() if row not in pair}

    async def articles_without_band_keys(self, limit: int) -> list[tuple[int, str]]:
        return [(row, body) for row, body in sorted(self.articles.items()) if row not in self.keys][:limit]

    async def add_band_keys(self, keys: dict[int, list[int]]) -> None:
        self.keys.update(keys)

    async def band_neighbours(self, rows) -> set[tuple[int, int]]:
        return {
            (row, other)
            for row in rows
            for other, keys in self.keys.items()
            if other != row and set(keys) & set(self.keys[row])
        }

    async def bodies(self, rows) -> dict[int, str]:
        return {row: self.articles[row] for row in rows}

    async def add_copy_pairs(self, pairs) -> None:
        self.pairs.update({(first, second): value for first, second, value in pairs})

    async def copy_pairs(self) -> list[tuple[int, int]]:
        return sorted(self.pairs)

    async def replace_copy_groups(self, groups) -> None:
        self.groups = [list(group) for group in groups]


async def test_groups_follow_new_changed_and_deleted_articles():
    store = MemoryCopyStore()
    store.articles = {1: STORY, 2: OTHER, 3: "", 4: REFILED}
    assert await update_copy_groups(store, batch=2) == 1  # batches of two: every article keyed in the end
    assert store.groups == [[1, 4]] and set(store.keys) == {1, 2, 3, 4}
    keyed = dict(store.keys)
    store.articles[5] = STORY  # a third copy arrives: only it is keyed and compared
    assert await update_copy_groups(store) == 1 and store.groups == [[1, 4, 5]]
    assert all(store.keys[row] == keyed[row] for row in keyed)
    store.delete(1)  # changed: the old row goes, the new text comes under a new row
    store.articles[6] = OTHER
    assert await update_copy_groups(store) == 2 and store.groups == [[2, 6], [4, 5]]
    store.delete(4)
    store.delete(6)
    assert await update_copy_groups(store) == 0 and store.groups == []  # article 5 alone: no copies left


def _write(root: Path, name: str, title: str, source: str, body: str) -> None:
    (root / name).write_text(f"---\ntitle: {title}\nsource: {source}\ndate: 2005-02-10\n---\n\n{body}\n")


@pytest.fixture
async def backend_archive(backend_settings: Settings, hash_embedder: HashEmbedder) -> AsyncIterator[Archive]:
    """An empty archive on each storage backend in turn."""
    opened = await Archive.open(backend_settings, embedder=hash_embedder)
    yield opened
    await opened.close()


async def test_the_index_groups_copies_and_follows_changes_and_deletions(backend_archive: Archive, tmp_path: Path):
    archive = backend_archive
    root = tmp_path / "wire"
    root.mkdir()
    _write(root, "bank.md", "Rates held", "Daily Post", STORY)
    _write(root, "bank-wire.md", "Bank holds rates", "Wire", REFILED)
    _write(root, "conference.md", "Minister defends budget", "Daily Post", OTHER)
    await archive.reindex([root])
    ids = {hit.title: hit.article_id for hit in await archive.suggest_titles("", limit=10)}
    hits = await archive.search("central bank interest rates held", limit=10)
    story = [hit for hit in hits if hit.article_id in {ids["Rates held"], ids["Bank holds rates"]}]
    assert len(story) == 1 and len(story[0].also_in) == 1  # one result, the other copy listed
    assert {story[0].article_id, story[0].also_in[0].article_id} == {ids["Rates held"], ids["Bank holds rates"]}
    answer = await archive.ask("What did the central bank do with interest rates?", max_quotes=3)
    quoted = [
        quote for quote in answer.quotes if quote.article_id in set(ids.values()) - {ids["Minister defends budget"]}
    ]
    assert quoted and all(len(quote.also_in) == 1 for quote in quoted)
    assert len({quote.article_id for quote in quoted}) == 1  # never both copies quoted

    _write(root, "bank-wire.md", "Bank holds rates", "Wire", OTHER)  # changed: now a copy of the conference story
    await archive.reindex([root])
    hits = await archive.search("finance minister budget conference", limit=10)
    conference = [hit for hit in hits if hit.title in {"Minister defends budget", "Bank holds rates"}]
    assert len(conference) == 1 and len(conference[0].also_in) == 1
    rates = [hit for hit in hits if hit.title == "Rates held"]
    assert rates and rates[0].also_in == ()  # its copy changed into another story: no longer grouped
    (root / "conference.md").unlink()
    await archive.reindex([root])
    hits = await archive.search("finance minister budget conference", limit=10)
    assert {hit.title for hit in hits} == {"Bank holds rates", "Rates held"} and all(hit.also_in == () for hit in hits)


async def test_an_archive_indexed_before_copies_were_grouped_is_keyed_by_the_next_run(archive: Archive, tmp_path):
    root = tmp_path / "wire"
    root.mkdir()
    _write(root, "bank.md", "Rates held", "Daily Post", STORY)
    _write(root, "bank-wire.md", "Bank holds rates", "Wire", REFILED)
    await archive.reindex([root])
    with sqlite3.connect(archive.settings.data_dir / "archive.sqlite3") as connection:  # as an older version left it
        connection.executescript("DELETE FROM copy_groups; DELETE FROM copy_pairs; DELETE FROM copy_keys;")
    assert all(hit.also_in == () for hit in await archive.search("central bank rates", limit=5))
    summary = await archive.reindex([root])
    assert summary.unchanged == 2 and summary.added == 0
    assert [len(hit.also_in) for hit in await archive.search("central bank rates", limit=5)] == [1]
