"""The JSON formats: `.json` (one record or a list of records) and `.jsonl` (one record a line). A record is
an object with the text under `text`/`body`/`content`/`article`; malformed records are skipped and summed up
in one warning for the file."""

from __future__ import annotations

import json
from typing import Any

from index._models import FileWarning, ParsedArticle
from index.reading.article import make_article, paragraphs_of, strip_boilerplate
from index.reading.files import ArchiveFile


def _record_text(record: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = record.get(name)
        if isinstance(value, (str, int, float)) and str(value).strip():
            return str(value)
    return None


def _from_record(file: ArchiveFile, record: Any, number: int, default_source: str | None) -> ParsedArticle | None:
    if not isinstance(record, dict):
        raise ValueError("record is not a JSON object")
    body = _record_text(record, "text", "body", "content", "article")
    if body is None:
        raise ValueError("record has no text/body")
    identifier = _record_text(record, "id", "url") or str(number)
    paragraphs = strip_boilerplate(paragraphs_of(body))
    return make_article(
        file,
        body="\n\n".join(paragraphs),
        title=_record_text(record, "title", "headline"),
        source=_record_text(record, "source", "publication") or default_source,
        published=_record_text(record, "date", "published", "published_at"),
        byline=_record_text(record, "byline", "author"),
        url=_record_text(record, "url"),
        record=identifier,
    )


def _record_problem(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, json.JSONDecodeError):
        return f"malformed JSON ({error.msg} at column {error.colno})"
    return str(error).split("\n")[0][:80] or type(error).__name__


def _malformed(file: ArchiveFile, bad: list[tuple[int, str]], unit: str) -> list[FileWarning]:
    """One warning for the file, however many records are bad (the first three named)."""
    if not bad:
        return []
    shown = ", ".join(f"{unit} {n}: {reason}" for n, reason in bad[:3])
    more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
    return [FileWarning(str(file.path), f"{len(bad)} malformed record(s) skipped: {shown}{more}")]


def parse_json(
    file: ArchiveFile, text: str, default_source: str | None
) -> tuple[list[ParsedArticle], list[FileWarning]]:
    articles: list[ParsedArticle] = []
    bad: list[tuple[int, str]] = []
    if file.path.suffix.lower() == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                article = _from_record(file, json.loads(line), number, default_source)
            except (ValueError, RecursionError) as error:
                bad.append((number, _record_problem(error)))
                continue
            if article:
                articles.append(article)
        return articles, _malformed(file, bad, "line")
    try:
        data = json.loads(text)
    except RecursionError:
        return [], [FileWarning(str(file.path), "JSON nested too deeply")]
    except ValueError as error:
        return [], [FileWarning(str(file.path), f"malformed JSON ({error})")]
    records = data if isinstance(data, list) else [data]
    for number, record in enumerate(records, start=1):
        try:
            article = _from_record(file, record, number, default_source)
        except (ValueError, RecursionError) as error:
            bad.append((number, _record_problem(error)))
            continue
        if article:
            articles.append(article)
    return articles, _malformed(file, bad, "record")
