"""Reading one archive file into `ParsedArticle`s: a safe read (`_archive_files`), decoding (`_decode`), then
the parser for its format (`_format_text`, `_format_json`, `_format_html`).

Supported: `.txt`, `.md`/`.markdown`, `.json`/`.jsonl` records, and `.html`/`.htm` (main text through
trafilatura). A file that can't be read becomes one `FileWarning` with the reason; it never stops the rest of
the archive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from index._models import FileWarning, ParsedArticle
from index._settings import MAX_ARTICLE_SENTENCES
from index.reading.decode import decode
from index.reading.files import ArchiveFile, read_file
from index.reading.format_html import MAX_HTML_TAGS, parse_html
from index.reading.format_json import parse_json
from index.reading.format_text import parse_markdown, parse_text
from index.reading.text import split_sentences

logger = logging.getLogger(__name__)

# Bump when parsing or sentence splitting changes what is stored: the next reindex reads every file
# again (stored vectors are reused for sentences whose text did not change).
PARSER_VERSION = 2

_SINGLE_ARTICLE: dict[str, Callable[[ArchiveFile, str, str | None], ParsedArticle | None]] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
}


def parse_file(
    file: ArchiveFile,
    max_file_bytes: int,
    default_source: str | None = None,
    *,
    max_sentences: int = MAX_ARTICLE_SENTENCES,
) -> tuple[list[ParsedArticle], list[FileWarning]]:
    """Parse one archive file. Never raises for bad content: problems come back as at most one warning
    for the file, naming it and every reason. An article of more than `max_sentences` sentences is not a
    news article (a log dump, a word list, a book): it is skipped, so one hostile file can't cost hours of
    embedding and gigabytes of vectors (`ARCHIVEBOT_MAX_ARTICLE_SENTENCES`)."""
    articles, reasons = _parse_file(file, max_file_bytes, default_source)
    kept = []
    for article in articles:
        if _too_many_sentences(article.body, max_sentences):
            where = f" (record {article.location.rsplit('#', 1)[1]})" if "#" in article.location else ""
            reasons.append(f"more than {max_sentences:,} sentences{where}: too long for one article (skipped)")
            continue
        kept.append(article)
    if not kept and not reasons:
        reasons.append("no article text found")
    if not reasons:
        return kept, []
    return kept, [FileWarning(str(file.path), "; ".join(dict.fromkeys(reasons)))]


def _parse_file(
    file: ArchiveFile, max_file_bytes: int, default_source: str | None
) -> tuple[list[ParsedArticle], list[str]]:
    """The file's articles and the reasons for its warning (a partial read, bad records, a parser failure)."""
    path = str(file.path)
    data, problem = read_file(file, max_file_bytes)
    reasons = [problem] if problem else []
    if data is None:
        return [], reasons
    if not data.strip():
        return [], reasons + ["empty file"]
    text, warning = decode(data, path)
    if warning:
        reasons.append(warning.reason)
    if text is None:
        return [], reasons
    text = text.replace("\x00", "")
    if default_source is None:
        default_source = file.root.name
    try:
        return _parse_text(file, text, default_source, reasons), reasons
    except RecursionError:
        return [], reasons + ["content nested too deeply to parse"]
    except Exception as error:  # a parser bug or a pathological file must never stop the archive
        logger.debug("parsing %s failed", path, exc_info=True)
        return [], reasons + [f"could not be parsed ({type(error).__name__}: {str(error)[:120]})"]


def _parse_text(file: ArchiveFile, text: str, default_source: str, reasons: list[str]) -> list[ParsedArticle]:
    """The decoded file through the parser for its suffix; problems are appended to `reasons`."""
    suffix = file.path.suffix.lower()
    if suffix in {".json", ".jsonl"}:
        articles, record_warnings = parse_json(file, text, default_source)
        reasons.extend(w.reason for w in record_warnings)
        return articles
    if suffix in {".html", ".htm"} and (tags := text.count("<")) > MAX_HTML_TAGS:
        reasons.append(f"{tags:,} tags, over {MAX_HTML_TAGS:,}: main-text extraction skipped, tags stripped")
        article = parse_html(file, text, default_source, extract=False)
    else:
        article = _SINGLE_ARTICLE.get(suffix, parse_text)(file, text, default_source)
    return [article] if article else []


def _too_many_sentences(body: str, limit: int) -> bool:
    # Each sentence takes at least two characters (text and a separator), so short bodies need no count;
    # a prefix with too many sentences settles it without splitting a huge body whole.
    if len(body) <= 2 * limit:
        return False
    if len(split_sentences(body[: 50 * limit])) > limit + 1:
        return True
    return len(body) > 50 * limit and len(split_sentences(body)) > limit
