"""Syndicated copies (issue 13 part 5): detection (shingles, MinHash/LSH, exact Jaccard, union-find) and how
every front end lists the other copies under a quote or a search hit."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from bot import discord_format, terminal
from bot.web import pages
from index import Answer, Archive, ArticleHit, Copy, HashEmbedder, Quote, Settings
from index._rows import CopyRef
from index.indexing import copies as _copies
from index.indexing.copies import (
    COPY_THRESHOLD,
    article_band_keys,
    candidate_pairs,
    confirmed_pairs,
    group_rows,
    jaccard,
    shingles,
    update_copy_groups,
)
from index.indexing.embed import body_hash
from index.storage.common import copies_by_row
from index.storage.postgres import schema as _postgres_schema
from index.storage.postgres.storage import PostgresStorage

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
    """The `CopyStore` primitives over dicts, as a backend keeps them: articles by row, everything else by
    content (body hash)."""

    def __init__(self) -> None:
        self.articles: dict[int, str] = {}
        self.keys: dict[str, list[int]] = {}
        self.pairs: dict[tuple[str, str], float] = {}
        self.groups: list[list[str]] = []

    def held(self) -> set[str]:
        return {body_hash(body) for body in self.articles.values()}

    def grouped_rows(self) -> list[list[int]]:
        """The groups as article rows, as a reader sees them through `articles.body_hash`."""
        return sorted(
            sorted(row for row, body in self.articles.items() if body_hash(body) in group) for group in self.groups
        )

    async def drop_contents_without_articles(self) -> None:
        held = self.held()
        self.keys = {content: keys for content, keys in self.keys.items() if content in held}
        self.pairs = {pair: value for pair, value in self.pairs.items() if set(pair) <= held}
        self.groups = [[content for content in group if content in held] for group in self.groups]

    async def contents_without_band_keys(self, limit: int) -> list[tuple[str, str]]:
        first_body = {body_hash(body): body for _, body in sorted(self.articles.items(), reverse=True)}
        return sorted((content, body) for content, body in first_body.items() if content not in self.keys)[:limit]

    async def add_band_keys(self, keys: dict[str, list[int]]) -> None:
        self.keys.update(keys)

    async def band_neighbours(self, hashes) -> set[tuple[str, str]]:
        return {
            (content, other)
            for content in hashes
            for other, keys in self.keys.items()
            if other != content and set(keys) & set(self.keys[content])
        }

    async def bodies(self, hashes) -> dict[str, str]:
        return {body_hash(body): body for body in self.articles.values() if body_hash(body) in set(hashes)}

    async def add_copy_pairs(self, pairs) -> None:
        self.pairs.update({(first, second): value for first, second, value in pairs})

    async def copy_pairs(self) -> list[tuple[str, str]]:
        return sorted(self.pairs)

    async def shared_contents(self) -> list[str]:
        held = Counter(body_hash(body) for body in self.articles.values())
        return [content for content, count in held.items() if count > 1 and self.keys.get(content)]

    async def replace_copy_groups(self, groups) -> None:
        self.groups = [list(group) for group in groups]


async def test_groups_follow_new_changed_and_deleted_articles(monkeypatch: pytest.MonkeyPatch):
    store = MemoryCopyStore()
    store.articles = {1: STORY, 2: OTHER, 3: "", 4: REFILED, 7: "  ...  "}  # 3 and 7: one content, no words
    assert await update_copy_groups(store, batch=2) == 1  # batches of two: every content keyed in the end
    assert store.grouped_rows() == [[1, 4]] and set(store.keys) == store.held() and len(store.keys) == 4
    keyed = dict(store.keys)
    shingled = _count_shingles(monkeypatch)
    store.articles[5] = STORY  # a third copy arrives: its content is keyed already, nothing is shingled
    assert await update_copy_groups(store) == 1 and store.grouped_rows() == [[1, 4, 5]]
    assert store.keys == keyed and shingled == []
    store.articles.pop(1)  # changed: the old row goes, the new text comes under a new row
    store.articles[6] = OTHER
    assert await update_copy_groups(store) == 2 and store.grouped_rows() == [[2, 6], [4, 5]]
    store.articles.pop(4)
    store.articles.pop(6)
    assert await update_copy_groups(store) == 0 and store.groups == []  # article 5 alone: no copies left
    assert body_hash(REFILED) not in store.keys and not store.pairs  # the gone content left no trace


def _count_shingles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every body `index.indexing.copies` shingles from now on."""
    calls: list[str] = []

    def counted(body: str) -> set[int]:
        calls.append(body)
        return shingles(body)

    monkeypatch.setattr(_copies, "shingles", counted)
    return calls


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
        connection.executescript(
            "DELETE FROM copy_content_groups; DELETE FROM copy_content_pairs; DELETE FROM copy_content_keys;"
            " CREATE TABLE copy_keys (article_row INTEGER NOT NULL, band_key INTEGER);"
            " INSERT INTO copy_keys SELECT id, 1 FROM articles;"  # keyed by article: means nothing now
        )
    assert all(hit.also_in == () for hit in await archive.search("central bank rates", limit=5))
    summary = await archive.reindex([root])
    assert summary.unchanged == 2 and summary.added == 0
    assert [len(hit.also_in) for hit in await archive.search("central bank rates", limit=5)] == [1]
    with sqlite3.connect(archive.settings.data_dir / "archive.sqlite3") as connection:
        assert not connection.execute("SELECT name FROM sqlite_master WHERE name = 'copy_keys'").fetchall()


async def _copies_by_title(archive: Archive) -> dict[str, list[str]]:
    """Every article's other copies' titles (oldest first, as `copies_of` lists them), by title."""
    async with archive._storage.reader() as reader:
        articles = await reader.articles_by_rows(list(range(1, 1000)))
        copies = await reader.copies_of(list(articles))
    return {article.title: [copy.title for copy in copies.get(row, [])] for row, article in articles.items()}


def _write_copies(root: Path, count: int, body: str, prefix: str) -> None:
    for number in range(count):
        (root / f"{prefix}-{number:02d}.md").write_text(
            f"---\ntitle: {prefix} {number:02d}\nsource: Wire\ndate: 2005-02-{number % 28 + 1:02d}\n---\n\n{body}\n"
        )


async def test_thirty_identical_copies_are_one_group_with_the_body_shingled_once(
    backend_archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "wire"
    root.mkdir()
    _write_copies(root, 30, STORY, "Copy")
    _write(root, "conference.md", "Minister defends budget", "Daily Post", OTHER)
    shingled = _count_shingles(monkeypatch)
    await backend_archive.reindex([root])
    assert sorted(shingled) == sorted([STORY, OTHER])  # one content, one shingling: no pair to confirm
    copies = await _copies_by_title(backend_archive)
    assert copies["Minister defends budget"] == []
    for number in range(30):
        others = [f"Copy {other:02d}" for other in sorted(range(30), key=lambda other: (other % 28, other))]
        assert copies[f"Copy {number:02d}"] == [title for title in others if title != f"Copy {number:02d}"]
    shingled.clear()
    _write_copies(root, 1, STORY, "Late")  # one more copy of a content already keyed: nothing shingled
    await backend_archive.reindex([root])
    assert shingled == [] and len((await _copies_by_title(backend_archive))["Late 00"]) == 30


def _stored_contents(settings: Settings) -> dict[str, set[str]]:
    """The body hashes the copy tables hold (keys, pairs, groups) and those the articles hold, read directly."""
    queries = {
        "keys": "SELECT body_hash FROM copy_content_keys",
        "pairs": "SELECT first_hash FROM copy_content_pairs UNION SELECT second_hash FROM copy_content_pairs",
        "groups": "SELECT body_hash FROM copy_content_groups",
        "articles": "SELECT body_hash FROM articles",
    }
    url = settings.database_url
    if url:
        with psycopg.connect(url) as connection:
            return {name: {row[0] for row in connection.execute(query).fetchall()} for name, query in queries.items()}
    with sqlite3.connect(settings.data_dir / "archive.sqlite3") as connection:
        return {name: {row[0] for row in connection.execute(query).fetchall()} for name, query in queries.items()}


async def test_identical_copies_and_a_near_copy_are_one_group_until_the_copies_go(
    backend_archive: Archive, tmp_path: Path
):
    root = tmp_path / "wire"
    root.mkdir()
    _write_copies(root, 3, STORY, "Copy")
    _write(root, "bank-wire.md", "Bank holds rates", "Wire", REFILED)
    _write(root, "conference.md", "Minister defends budget", "Daily Post", OTHER)
    await backend_archive.reindex([root])
    copies = await _copies_by_title(backend_archive)
    assert copies["Bank holds rates"] == ["Copy 00", "Copy 01", "Copy 02"]
    assert copies["Copy 01"] == ["Copy 00", "Copy 02", "Bank holds rates"]  # oldest first
    assert copies["Minister defends budget"] == []
    for number in range(3):  # every article holding the story's first text goes: the near copy is alone
        (root / f"Copy-{number:02d}.md").unlink()
    await backend_archive.reindex([root], allow_removal=True)  # 3 of 5 articles: more than the guard lets go
    assert all(titles == [] for titles in (await _copies_by_title(backend_archive)).values())
    stored = _stored_contents(backend_archive.settings)  # the deleted copies' content left no trace
    assert body_hash(STORY) not in stored["articles"] and stored["keys"] == stored["articles"]
    assert not stored["pairs"] and not stored["groups"]
    _write_copies(root, 2, REFILED, "Refiled")  # the near copy's own text twice more: a group of three
    await backend_archive.reindex([root])
    copies = await _copies_by_title(backend_archive)
    assert copies["Bank holds rates"] == ["Refiled 00", "Refiled 01"] and copies["Minister defends budget"] == []


async def test_a_postgres_archive_at_schema_1_is_migrated_and_regrouped_by_the_next_run(
    postgres_url: str, hash_embedder: HashEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with monkeypatch.context() as older:  # the database as the version before copies were keyed by content
        older.setattr(_postgres_schema, "MIGRATIONS", _postgres_schema.MIGRATIONS[:1])
        older.setattr(_postgres_schema, "SCHEMA_VERSION", 1)
        await (await PostgresStorage.open(postgres_url)).close()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        assert connection.execute("SELECT max(version) FROM archivebot_schema").fetchone() == (1,)
    root = tmp_path / "wire"
    root.mkdir()
    _write(root, "bank.md", "Rates held", "Daily Post", STORY)
    _write(root, "bank-wire.md", "Bank holds rates", "Wire", REFILED)
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", database_url=postgres_url)
    archive = await Archive.open(settings, embedder=hash_embedder)
    try:
        await archive.reindex([root])
        assert [len(hit.also_in) for hit in await archive.search("central bank rates", limit=5)] == [1]
    finally:
        await archive.close()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        version = connection.execute("SELECT max(version) FROM archivebot_schema").fetchone()
        assert version == (_postgres_schema.SCHEMA_VERSION,)
        assert connection.execute("SELECT to_regclass('copy_keys')").fetchone() == (None,)


def test_copies_by_row_lists_each_rows_group_without_the_row_itself_in_the_given_order():
    def ref(row: int) -> CopyRef:
        return CopyRef(row, f"a{row}", f"Title {row}", None, None)

    members = [("g1", ref(7)), ("g1", ref(3)), ("g1", ref(5)), ("g2", ref(9)), ("g3", ref(4))]
    found = copies_by_row({3: "g1", 5: "g1", 9: "g2", 4: "g3", 8: "gone"}, members)
    assert found == {3: [ref(7), ref(5)], 5: [ref(7), ref(3)]}  # a group of one is no group; order kept


async def test_stored_vectors_are_found_once_per_text_whatever_the_number_of_copies(
    backend_archive: Archive, tmp_path: Path
):
    """The indexer reuses a stored vector by text hash: one vector per known hash, none for an unknown one,
    on both backends, with a sentence held by thirty copies."""
    from index.indexing.embed import text_hash
    from index.reading.text import split_sentences
    from index.storage import open_storage

    root = tmp_path / "wire"
    root.mkdir()
    _write_copies(root, 30, STORY, "Copy")
    await backend_archive.reindex([root])
    first = split_sentences(STORY)[0]
    known = text_hash(STORY[first.start : first.end])
    storage = await open_storage(backend_archive.settings)
    try:
        async with storage.index_session() as session:
            found = await session.vectors_by_text_hash([known, "0" * 40, known])
    finally:
        await storage.close()
    assert list(found) == [known] and len(found[known]) == 2 * 256  # one float16 vector of the hash model
