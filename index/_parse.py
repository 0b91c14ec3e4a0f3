"""Reading archive files into `ParsedArticle`s: discovery, decoding, format parsers, boilerplate removal.

Supported: `.txt` (the seed's shape with a "- Publication - Weekday, Month D, YYYY" header and a "CITY |"
dateline; the BBC shape with a headline line; or plain text), `.md`/`.markdown` (optional front matter),
`.json`/`.jsonl` records, and `.html`/`.htm` (main text through trafilatura). A file that can't be read
becomes one `FileWarning` with the reason; it never stops the rest of the archive.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from ._models import FileWarning, ParsedArticle
from ._text import split_sentences

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".json", ".jsonl", ".html", ".htm"})

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_HEADER = re.compile(
    r"^\s*[-–—]?\s*(?P<source>[^\n]+?)\s+[-–—|]\s+(?:" + _WEEKDAY + r",?\s+)?"
    r"(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})\s*$"
)
_DATELINE = re.compile(r"^(?P<dateline>[A-Z][A-Za-z .'’,-]{1,40}?)\s*\|\s+")
_BYLINE = re.compile(r"^\s*By\s+(?P<name>[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})\s*$")
# A paragraph matching one of these starts the site footer: it and everything after it are dropped.
_FOOTER = re.compile(
    r"^\s*(?:Copyright\b|©|\(c\)\s*\d{4}|All rights reserved|Click to\b|Click here\b|"
    r".{0,60}\bComment Policy\b|Please read our Comment Policy|Sign up for\b|Read more\b)",
    re.IGNORECASE,
)
# Paragraphs dropped wherever they stand.
_NOISE = re.compile(
    r"^\s*(?:Click to\b.*|Click here\b.*|Advertisement|ADVERTISEMENT|Share this article.*|"
    r"Continue reading.*|.*\bComment Policy\b.*|.*welcomes your comments.*)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArchiveFile:
    root: Path
    path: Path

    @property
    def relative(self) -> str:
        return self.path.relative_to(self.root).as_posix()

    @property
    def location(self) -> str:
        return f"{self.root.name}/{self.relative}"


def article_id_for(location: str) -> str:
    """The stable public id of an article: 16 hex digits of the SHA-1 of its location."""
    return hashlib.sha1(location.encode("utf-8")).hexdigest()[:16]


def discover(roots: tuple[Path, ...] | list[Path]) -> tuple[list[ArchiveFile], list[FileWarning]]:
    """Every supported file under the roots, sorted; symbolic links leading outside a root are not followed."""
    files: list[ArchiveFile] = []
    warnings: list[FileWarning] = []
    for root in roots:
        root = Path(root).resolve()
        resolved_root = root
        for directory, subdirectories, names in os.walk(root, followlinks=False):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(directory) / name
                if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(resolved_root):
                        warnings.append(FileWarning(str(path), "symbolic link leading outside the archive (not followed)"))
                        continue
                    if not target.is_file():
                        warnings.append(FileWarning(str(path), "broken symbolic link"))
                        continue
                files.append(ArchiveFile(root, path))
        for directory_path in _symlinked_directories(root, resolved_root):
            warnings.append(FileWarning(str(directory_path), "symbolic link to a folder (not followed)"))
    return files, warnings


def _symlinked_directories(root: Path, resolved_root: Path) -> Iterator[Path]:
    for directory, subdirectories, _ in os.walk(root, followlinks=False):
        for name in subdirectories:
            candidate = Path(directory) / name
            if candidate.is_symlink():
                yield candidate


def file_fingerprint(path: Path) -> str:
    """A cheap change detector: size and modification time in nanoseconds."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def decode(data: bytes, path: str) -> tuple[str | None, FileWarning | None]:
    """Bytes to text: BOM-aware UTF-8/UTF-16, Windows-1252 as a last resort; binary data is refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return None, FileWarning(path, "invalid UTF-16 text")
    if b"\x00" in data[:8192]:
        return None, FileWarning(path, "binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return None, FileWarning(path, f"not valid UTF-8 (byte {error.start})")
        return text, FileWarning(path, f"not valid UTF-8 (byte {error.start}); read as Windows-1252")


def parse_date(text: str | None) -> str | None:
    """An ISO date from common forms: 2009-12-19, December 19, 2009, 19 December 2009, Dec. 19, 2009."""
    if not text:
        return None
    text = str(text).strip()
    match = re.search(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if match:
        return _iso(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = re.search(r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})", text)
    if match and match.group(1).lower() in _MONTHS:
        return _iso(int(match.group(3)), _MONTHS[match.group(1).lower()], int(match.group(2)))
    match = re.search(r"(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})", text)
    if match and match.group(2).lower() in _MONTHS:
        return _iso(int(match.group(3)), _MONTHS[match.group(2).lower()], int(match.group(1)))
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [re.sub(r"[ \t\u00a0]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _strip_boilerplate(paragraphs: list[str]) -> list[str]:
    kept: list[str] = []
    for paragraph in paragraphs:
        # A footer line only counts as the footer once some body text came before it.
        if kept and _FOOTER.match(paragraph):
            break
        if _NOISE.match(paragraph):
            continue
        kept.append(paragraph)
    return kept


def derive_title(body: str, limit: int = 80) -> str:
    """A readable title from the lede: its first sentence, shortened at a word boundary."""
    spans = split_sentences(body)
    lede = body[spans[0].start:spans[0].end] if spans else body.strip()
    lede = re.sub(r"\s+", " ", lede).strip()
    lede = re.sub(r",?\s+(?:\w+\s+){0,3}(?:said|says|reported)\s+\w+\.?$", "", lede).rstrip(".")
    if len(lede) <= limit:
        return lede
    cut = lede[:limit].rsplit(" ", 1)[0].rstrip(",;:–—-")
    return cut + "…"


def _content_hash(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def _make(
    file: ArchiveFile,
    *,
    body: str,
    title: str | None,
    source: str | None,
    published: str | None,
    dateline: str | None = None,
    byline: str | None = None,
    url: str | None = None,
    record: str | None = None,
) -> ParsedArticle | None:
    body = body.strip()
    if not body or not any(ch.isalnum() for ch in body):
        return None
    location = file.location + (f"#{record}" if record is not None else "")
    title = re.sub(r"\s+", " ", title).strip() if title else ""
    derived = not title
    if derived:
        title = derive_title(body)
    return ParsedArticle(
        article_id=article_id_for(location),
        location=location,
        path=str(file.path),
        title=title[:300],
        title_derived=derived,
        source=(source or None) and str(source).strip()[:200],
        published=parse_date(published) if published else None,
        dateline=dateline,
        byline=byline,
        url=url,
        body=body,
        content_hash=_content_hash(title, source, published, dateline, byline, url, body),
    )


def parse_text(file: ArchiveFile, text: str, default_source: str | None) -> ParsedArticle | None:
    """Plain text: the seed's shape, the BBC shape (headline line first) or anything else."""
    paragraphs = _paragraphs(text)
    if not paragraphs:
        return None
    source, published, title, dateline, byline = default_source, None, None, None, None
    header = _HEADER.match(paragraphs[0]) if "\n" not in paragraphs[0] else None
    if header and header.group("month").lower() in _MONTHS:
        source = header.group("source").strip(" -–—")
        published = f"{header.group('month')} {header.group('day')}, {header.group('year')}"
        paragraphs = paragraphs[1:]
    elif _looks_like_headline(paragraphs):
        first, _, rest = paragraphs[0].partition("\n")
        title = first
        paragraphs = ([rest.strip()] if rest.strip() else []) + paragraphs[1:]
    if paragraphs and (byline_match := _BYLINE.match(paragraphs[0])):
        byline = byline_match.group("name")
        paragraphs = paragraphs[1:]
    if paragraphs and (dateline_match := _DATELINE.match(paragraphs[0])):
        dateline = dateline_match.group("dateline").strip()
        paragraphs[0] = paragraphs[0][dateline_match.end():]
    paragraphs = _strip_boilerplate(paragraphs)
    return _make(
        file, body="\n\n".join(paragraphs), title=title, source=source, published=published,
        dateline=dateline, byline=byline,
    )


def _looks_like_headline(paragraphs: list[str]) -> bool:
    first_line = paragraphs[0].split("\n", 1)[0].strip()
    if len(paragraphs) < 2 and "\n" not in paragraphs[0]:
        return False
    return 0 < len(first_line) <= 200 and not re.search(r"[.!?,;:]$", first_line) and len(first_line.split()) <= 25


_FRONT_MATTER = re.compile(r"\A---\s*\n(?P<meta>.*?)\n---\s*\n", re.DOTALL)


def parse_markdown(file: ArchiveFile, text: str, default_source: str | None) -> ParsedArticle | None:
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group("meta").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("'\"")
        text = text[match.end():]
    title = meta.get("title")
    lines = text.replace("\r\n", "\n").split("\n")
    kept = []
    for line in lines:
        heading = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            if title is None:
                title = heading.group(1)
                continue
            line = heading.group(1)
        line = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)  # images
        line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)  # links keep their text
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        kept.append(line)
    paragraphs = _strip_boilerplate(_paragraphs("\n".join(kept)))
    return _make(
        file, body="\n\n".join(paragraphs), title=title, source=meta.get("source") or default_source,
        published=meta.get("date") or meta.get("published"), byline=meta.get("author") or meta.get("byline"),
        url=meta.get("url"),
    )


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
    paragraphs = _strip_boilerplate(_paragraphs(body))
    return _make(
        file, body="\n\n".join(paragraphs), title=_record_text(record, "title", "headline"),
        source=_record_text(record, "source", "publication") or default_source,
        published=_record_text(record, "date", "published", "published_at"),
        byline=_record_text(record, "byline", "author"), url=_record_text(record, "url"), record=identifier,
    )


def parse_json(
    file: ArchiveFile, text: str, default_source: str | None
) -> tuple[list[ParsedArticle], list[FileWarning]]:
    articles: list[ParsedArticle] = []
    warnings: list[FileWarning] = []
    if file.path.suffix.lower() == ".jsonl":
        bad = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                article = _from_record(file, json.loads(line), number, default_source)
            except (ValueError, RecursionError) as error:
                bad.append((number, str(error).split("\n")[0][:80] or type(error).__name__))
                continue
            if article:
                articles.append(article)
        if bad:
            shown = ", ".join(f"line {n}: {reason}" for n, reason in bad[:3])
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            warnings.append(FileWarning(str(file.path), f"{len(bad)} malformed record(s) skipped: {shown}{more}"))
        return articles, warnings
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
            warnings.append(FileWarning(f"{file.path}#{number}", f"skipped record: {error}"))
            continue
        if article:
            articles.append(article)
    return articles, warnings


def parse_html(file: ArchiveFile, text: str, default_source: str | None) -> ParsedArticle | None:
    title = published = body = byline = url = source = None
    try:
        import trafilatura

        extracted = trafilatura.bare_extraction(
            text, include_comments=False, include_tables=False, with_metadata=True, favor_precision=True,
            # Only dates the page states as such (meta tags, <time>, URL): htmldate's extensive search
            # otherwise "finds" 2020-01-01 in a "Copyright 2020" footer, a wrong date on every citation.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
        if extracted is not None:
            data = extracted.as_dict() if hasattr(extracted, "as_dict") else dict(extracted)
            body, title = data.get("text"), data.get("title")
            published, byline = data.get("date"), data.get("author")
            url, source = data.get("url"), data.get("sitename")
    except Exception as error:  # trafilatura can fail on odd markup; fall back to plain tag stripping
        logger.debug("trafilatura failed on %s: %s", file.path, error)
    if not body:
        title, body = _strip_tags(text)
    paragraphs = _strip_boilerplate(_paragraphs(body.replace("\n", "\n\n")))
    return _make(
        file, body="\n\n".join(paragraphs), title=title, source=source or default_source,
        published=published, byline=byline, url=url,
    )


def _strip_tags(html: str) -> tuple[str | None, str]:
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        skip = {"script", "style", "noscript", "template", "head", "nav", "footer", "svg"}
        blocks = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "section", "article"}

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.depth = 0
            self.parts: list[str] = []
            self.title: str | None = None
            self._in_title = False

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag == "title":
                self._in_title = True
            if tag in self.skip:
                self.depth += 1
            elif tag in self.blocks:
                self.parts.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if tag == "title":
                self._in_title = False
            if tag in self.skip and self.depth:
                self.depth -= 1
            elif tag in self.blocks:
                self.parts.append("\n")

        def handle_data(self, data: str) -> None:
            if self._in_title:
                self.title = (self.title or "") + data
            elif not self.depth:
                self.parts.append(data)

    parser = _Text()
    parser.feed(html)
    return parser.title, "".join(parser.parts)


def parse_file(
    file: ArchiveFile, max_file_bytes: int, default_source: str | None = None
) -> tuple[list[ParsedArticle], list[FileWarning]]:
    """Parse one archive file. Never raises for bad content: problems come back as warnings."""
    path = str(file.path)
    try:
        size = file.path.stat().st_size
        if size > max_file_bytes:
            return [], [FileWarning(path, f"file is {size:,} bytes, over the {max_file_bytes:,}-byte limit (ARCHIVEBOT_MAX_FILE_BYTES)")]
        data = file.path.read_bytes()
    except FileNotFoundError:
        return [], [FileWarning(path, "file vanished while indexing")]
    except OSError as error:
        return [], [FileWarning(path, f"unreadable ({error.strerror or error})")]
    if not data.strip():
        return [], [FileWarning(path, "empty file")]
    text, warning = decode(data, path)
    warnings = [warning] if warning else []
    if text is None:
        return [], warnings
    text = text.replace("\x00", "")
    suffix = file.path.suffix.lower()
    if default_source is None:
        default_source = file.root.name
    try:
        if suffix in {".json", ".jsonl"}:
            articles, record_warnings = parse_json(file, text, default_source)
            warnings.extend(record_warnings)
        else:
            parser = {".md": parse_markdown, ".markdown": parse_markdown, ".html": parse_html, ".htm": parse_html}
            article = parser.get(suffix, parse_text)(file, text, default_source)
            articles = [article] if article else []
    except RecursionError:
        return [], warnings + [FileWarning(path, "content nested too deeply to parse")]
    if not articles and not any(w.path == path for w in warnings):
        warnings.append(FileWarning(path, "no article text found"))
    return articles, warnings
