"""Portable SQL: the statements both backends run, written once.

Each is written with `?` placeholders, SQLite's style, which the embedded backend runs as is;
`postgres(statement)` renders it for psycopg (`%s`), as an ORM's dialects render one statement. A statement
here uses only what both databases read alike (no `%`, no `?` but placeholders, identifiers neither
database reserves). Statements only one backend can run stay in that backend's modules.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from index._rows import ArticleRow, NewArticleRow, vector_to_blob


@functools.cache
def postgres(statement: str) -> str:
    """`statement` with psycopg's placeholders."""
    if "%" in statement:
        raise ValueError(f"a portable statement can't hold '%': {statement}")
    return statement.replace("?", "%s")


# ---- meta, counts -----------------------------------------------------------------------------------------

META = "SELECT key, value FROM meta"
SET_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
COUNTS = "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages), (SELECT count(*) FROM sentences)"
PASSAGE_IDS = "SELECT id FROM passages"

# ---- articles ---------------------------------------------------------------------------------------------

# An article as `article_row` reads it back.
ARTICLE_COLUMNS = (
    "a.id, a.article_id, a.location, a.path, a.title, a.title_derived, a.source, a.published, a.dateline,"
    " a.byline, a.url, a.body, a.content_hash, a.indexed_at, a.body_hash"
)
ARTICLE_BY_ID = f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.article_id = ?"
LATEST_ARTICLES = (
    f"SELECT {ARTICLE_COLUMNS} FROM articles a ORDER BY a.published IS NULL, a.published DESC, a.id DESC LIMIT ?"
)
# A new article's row: its 16 values are `article_values(row)`, in this order.
INSERT_ARTICLE = (
    "INSERT INTO articles (article_id, location, path, fingerprint, content_hash, body_hash, title,"
    " title_derived, source, published, dateline, byline, url, body, title_vector, indexed_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# `"end"` quoted: PostgreSQL reserves the word (SQLite reads a quoted name of a column as that column).
INSERT_SENTENCE = (
    'INSERT INTO sentences (article_row, ordinal, start, "end", text_hash, vector) VALUES (?, ?, ?, ?, ?, ?)'
)
ARTICLE_STATES = "SELECT id, article_id, path, fingerprint, content_hash FROM articles"
UPDATE_FINGERPRINT = "UPDATE articles SET fingerprint = ? WHERE id = ?"


def article_row(values: Sequence[Any]) -> ArticleRow:
    """An `ArticleRow` from the columns of ARTICLE_COLUMNS, in order."""
    (row, article_id, location, path, title, derived, source, published, dateline, byline, url, body,
     content_hash, indexed_at, body_hash) = values  # fmt: skip
    return ArticleRow(
        article_id=article_id,
        location=location,
        path=path,
        title=title,
        title_derived=bool(derived),
        source=source,
        published=published,
        dateline=dateline,
        byline=byline,
        url=url,
        body=body,
        content_hash=content_hash,
        indexed_at=indexed_at,
        row=row,
        body_hash=body_hash,
    )


def article_values(new: NewArticleRow) -> tuple[Any, ...]:
    """The values of INSERT_ARTICLE for a new article (`title_derived` a bool: SQLite stores it as 0/1)."""
    article = new.article
    return (
        article.article_id,
        article.location,
        article.path,
        new.fingerprint,
        article.content_hash,
        new.body_hash,
        article.title,
        bool(article.title_derived),
        article.source,
        article.published,
        article.dateline,
        article.byline,
        article.url,
        article.body,
        vector_to_blob(new.title_vector) if new.title_vector is not None else None,
        new.indexed_at,
    )


def sentence_values(article_row: int, new: NewArticleRow) -> list[tuple[Any, ...]]:
    """The values of INSERT_SENTENCE for a new article's sentences (stored as float16 bytes)."""
    return [(article_row, s.ordinal, s.start, s.end, s.text_hash, vector_to_blob(s.vector)) for s in new.sentences]


# ---- syndicated copies (the CopyStore) -------------------------------------------------------------------

CONTENTS_WITHOUT_BAND_KEYS = (
    "SELECT body_hash, body FROM articles WHERE id IN (SELECT min(a.id) FROM articles a"
    " WHERE NOT EXISTS (SELECT 1 FROM copy_content_keys k WHERE k.body_hash = a.body_hash)"
    " GROUP BY a.body_hash ORDER BY a.body_hash LIMIT ?)"
)
ADD_BAND_KEY = "INSERT INTO copy_content_keys (body_hash, band_key) VALUES (?, ?)"
COPY_PAIRS = "SELECT first_hash, second_hash FROM copy_content_pairs"
SHARED_CONTENTS = (
    "SELECT a.body_hash FROM articles a GROUP BY a.body_hash HAVING count(*) > 1 AND EXISTS"
    " (SELECT 1 FROM copy_content_keys k WHERE k.body_hash = a.body_hash AND k.band_key IS NOT NULL)"
)
DELETE_COPY_GROUPS = "DELETE FROM copy_content_groups"
ADD_COPY_GROUP = "INSERT INTO copy_content_groups (body_hash, group_hash) VALUES (?, ?)"
# Each statement drops what belongs to a content no article holds. The columns are qualified: a bare
# `body_hash` inside the subquery would be the article's own, and nothing would ever be dropped.
COPY_CONTENTS_WITHOUT_ARTICLES = (
    "DELETE FROM copy_content_keys WHERE NOT EXISTS"
    " (SELECT 1 FROM articles a WHERE a.body_hash = copy_content_keys.body_hash)",
    "DELETE FROM copy_content_pairs WHERE NOT EXISTS"
    " (SELECT 1 FROM articles a WHERE a.body_hash = copy_content_pairs.first_hash) OR NOT EXISTS"
    " (SELECT 1 FROM articles a WHERE a.body_hash = copy_content_pairs.second_hash)",
    "DELETE FROM copy_content_groups WHERE NOT EXISTS"
    " (SELECT 1 FROM articles a WHERE a.body_hash = copy_content_groups.body_hash)",
)

# ---- feedback and the question log ------------------------------------------------------------------------

RECORD_VOTE = (
    "INSERT INTO feedback (answer_key, user_id, guild_id, question, article_ids, helpful)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (answer_key, user_id) DO UPDATE SET helpful = excluded.helpful"
)
RECORD_QUESTION = (
    "INSERT INTO questions (asked_at, guild_id, question, kind, answer_key) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (answer_key) DO NOTHING"
)
QUESTIONS_SINCE = "SELECT question, asked_at, guild_id, kind FROM questions WHERE asked_at >= ? ORDER BY asked_at, id"
PURGE_QUESTIONS = "DELETE FROM questions WHERE asked_at < ?"
