"""Reading archive files into `ParsedArticle`s: discovery, decoding, format parsers, boilerplate removal.

Supported: `.txt` (the seed's shape with a "- Publication - Weekday, Month D, YYYY" header and a "CITY |"
dateline; the BBC shape with a headline line; or plain text), `.md`/`.markdown` (optional front matter),
`.json`/`.jsonl` records, and `.html`/`.htm` (main text through trafilatura). A file that can't be read
becomes one `FileWarning` with the reason; it never stops the rest of the archive.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import stat as stat_module
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ._models import FileWarning, ParsedArticle
from ._text import split_sentences

logger = logging.getLogger(__name__)

# Bump when parsing or sentence splitting changes what is stored: the next reindex reads every file
# again (stored vectors are reused for sentences whose text did not change).
PARSER_VERSION = 2

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".json", ".jsonl", ".html", ".htm"})
# An article with more sentences than this is not a news article (a log dump, a word list, a book): it is
# skipped with a warning, so one hostile file can't cost hours of embedding and gigabytes of vectors.
# `ARCHIVEBOT_MAX_ARTICLE_SENTENCES` overrides it.
MAX_ARTICLE_SENTENCES = 10_000

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
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
# ("Copyright" only with ©, (c) or a year: "Copyright holders said..." is news.)
_FOOTER = re.compile(
    r"^\s*(?:Copyright\s*(?:©|\(c\)|\d{4}\b)|©|\(c\)\s*\d{4}|All rights reserved|Click to\b|Click here\b|"
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
    """Every supported file under the roots, sorted (a folder's files, then its sub-folders in order);
    symbolic links leading outside a root and links to folders are not followed. The walk is iterative
    (`os.walk` recurses, and an archive nested 1,000 folders deep made it raise RecursionError)."""
    files: list[ArchiveFile] = []
    warnings: list[FileWarning] = []
    for root in roots:
        root = Path(root).resolve()
        pending = [root]
        while pending:
            directory = pending.pop()
            try:
                with os.scandir(directory) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name)
            except OSError as error:
                warnings.append(
                    FileWarning(printable_path(directory), f"unreadable folder ({error.strerror or error})")
                )
                continue
            subdirectories = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                try:
                    is_directory = entry.is_dir(follow_symlinks=False)
                    is_link = entry.is_symlink()
                except OSError:
                    is_directory = is_link = False
                if is_directory:
                    subdirectories.append(path)
                    continue
                if is_link and _link_target(path)[0] is not None and _link_target(path)[0].is_dir():
                    warnings.append(FileWarning(printable_path(path), "symbolic link to a folder (not followed)"))
                    continue
                if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                if not _valid_name(path):  # undecodable bytes: can't be stored, printed or sent
                    warnings.append(FileWarning(printable_path(path), "file name is not valid UTF-8 (skipped)"))
                    continue
                if is_link:
                    target, problem = _link_target(path)
                    if target is None:
                        warnings.append(FileWarning(str(path), problem))
                        continue
                    if not target.is_relative_to(root):
                        warnings.append(
                            FileWarning(str(path), "symbolic link leading outside the archive (not followed)")
                        )
                        continue
                    if not target.is_file():
                        warnings.append(FileWarning(str(path), "not a regular file (skipped)"))
                        continue
                elif not _is_regular(path):
                    warnings.append(FileWarning(str(path), "not a regular file (skipped)"))
                    continue
                files.append(ArchiveFile(root, path))
            pending.extend(reversed(subdirectories))  # popped in sorted order
    return files, warnings


def _valid_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: Path | str) -> str:
    """A path whose undecodable bytes are shown as U+FFFD (for warnings and logs)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _link_target(path: Path) -> tuple[Path | None, str]:
    """Where a symbolic link leads, or None and why it leads nowhere (a loop, or a missing target)."""
    try:
        return Path(os.path.realpath(path, strict=True)), ""
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None, "symbolic link loop (not followed)"
        return None, "broken symbolic link"
    except RuntimeError:  # pathlib's own loop detection on some versions
        return None, "symbolic link loop (not followed)"


def _is_regular(path: Path) -> bool:
    try:
        return stat_module.S_ISREG(path.lstat().st_mode)
    except OSError:
        return True  # vanished: parse_file reports it


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
    head = data[:8192]
    controls = sum(1 for byte in head if byte < 0x20 and byte not in b"\t\n\r\f") + head.count(0x7F)
    if controls > max(8, len(head) // 50):
        return None, FileWarning(path, "binary file (control characters)")
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
    # Every run of whitespace other than a line break becomes one space (Unicode spaces too): the header
    # and dateline patterns then never backtrack over long runs of exotic whitespace.
    return [re.sub(r"[^\S\n]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


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
    lede = body[spans[0].start : spans[0].end] if spans else body.strip()
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


# Control characters (terminal escape sequences among them) and lone surrogates (from JSON "\ud800"
# escapes; they can't be stored as UTF-8) never reach the index, a terminal or a Discord message.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")


# Terminal escape sequences go whole (CSI "ESC [ 31 m", OSC "ESC ] … BEL"), not just their ESC byte.
_ANSI = re.compile(r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?|[@-Z\\-_])")


def _scrub(value: str | None) -> str | None:
    return _UNSAFE.sub("", _ANSI.sub("", value)) if value else value


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
    body, title, source, dateline, byline, url, record = (
        _scrub(value) for value in (body, title, source, dateline, byline, url, record)
    )
    body = (body or "").strip()
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
    header = _HEADER.match(paragraphs[0]) if "\n" not in paragraphs[0] and len(paragraphs[0]) <= 300 else None
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
        paragraphs[0] = paragraphs[0][dateline_match.end() :]
    paragraphs = _strip_boilerplate(paragraphs)
    return _make(
        file,
        body="\n\n".join(paragraphs),
        title=title,
        source=source,
        published=published,
        dateline=dateline,
        byline=byline,
    )


def _looks_like_headline(paragraphs: list[str]) -> bool:
    first_line = paragraphs[0].split("\n", 1)[0].strip()
    if len(paragraphs) < 2 and "\n" not in paragraphs[0]:
        return False
    # A headline may ask or exclaim ("Could Yukos be a blessing in disguise?") or trail off ("... Apple..."),
    # but does not end like a sentence or a clause.
    ends_like_text = re.search(r"[.,;:]$", first_line) and not first_line.endswith(("...", "…"))
    return 0 < len(first_line) <= 200 and not ends_like_text and len(first_line.split()) <= 25


_FRONT_MATTER = re.compile(r"\A---\s*\n(?P<meta>.*?)\n---\s*\n", re.DOTALL)


def parse_markdown(file: ArchiveFile, text: str, default_source: str | None) -> ParsedArticle | None:
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group("meta").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip().lower()] = value.strip().strip("'\"")
        text = text[match.end() :]
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
        # Bracket classes exclude "[" so a line of thousands of "[" is scanned once, not once per bracket.
        line = re.sub(r"!\[[^\[\]]{0,1000}\]\([^()]{0,2000}\)", "", line)  # images
        line = re.sub(r"\[([^\[\]]{1,1000})\]\([^()]{0,2000}\)", r"\1", line)  # links keep their text
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        kept.append(line)
    paragraphs = _strip_boilerplate(_paragraphs("\n".join(kept)))
    return _make(
        file,
        body="\n\n".join(paragraphs),
        title=title,
        source=meta.get("source") or default_source,
        published=meta.get("date") or meta.get("published"),
        byline=meta.get("author") or meta.get("byline"),
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
                bad.append((number, _record_problem(error)))
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
    bad = []
    for number, record in enumerate(records, start=1):
        try:
            article = _from_record(file, record, number, default_source)
        except (ValueError, RecursionError) as error:
            bad.append((number, _record_problem(error)))
            continue
        if article:
            articles.append(article)
    if bad:  # one warning for the file, however many records are bad
        shown = ", ".join(f"record {n}: {reason}" for n, reason in bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        warnings.append(FileWarning(str(file.path), f"{len(bad)} malformed record(s) skipped: {shown}{more}"))
    return articles, warnings


# trafilatura is super-linear on pathological markup (4 MB of <b> tags: 30 s). A news page has a few
# thousand tags; past this many, tags are stripped by the linear fallback instead, with a warning.
MAX_HTML_TAGS = 50_000


class _SkipExtraction(Exception):
    pass


def parse_html(
    file: ArchiveFile, text: str, default_source: str | None, *, extract: bool = True
) -> ParsedArticle | None:
    """Main text through trafilatura; `extract=False` (or a trafilatura failure) strips the tags instead,
    dropping scripts, styles, navigation and footers."""
    title = published = body = byline = url = source = None
    try:
        if not extract:
            raise _SkipExtraction
        import trafilatura

        extracted = trafilatura.bare_extraction(
            text,
            include_comments=False,
            include_tables=False,
            with_metadata=True,
            favor_precision=True,
            # Only dates the page states as such (meta tags, <time>, URL): htmldate's extensive search
            # otherwise "finds" 2020-01-01 in a "Copyright 2020" footer, a wrong date on every citation.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
        if extracted is not None:
            data = extracted.as_dict() if hasattr(extracted, "as_dict") else dict(extracted)
            body, title = data.get("text"), data.get("title")
            published, byline = data.get("date"), data.get("author")
            url, source = data.get("url"), data.get("sitename")
    except _SkipExtraction:
        pass
    except Exception as error:  # trafilatura can fail on odd markup; fall back to plain tag stripping
        logger.debug("trafilatura failed on %s: %s", file.path, error)
    if not body:
        title, body = _strip_tags(text)
    paragraphs = _strip_boilerplate(_paragraphs(body.replace("\n", "\n\n")))
    return _make(
        file,
        body="\n\n".join(paragraphs),
        title=title,
        source=source or default_source,
        published=published,
        byline=byline,
        url=url,
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


def _read(file: ArchiveFile, limit: int) -> tuple[bytes | None, str | None]:
    """At most `limit` bytes of a regular file, or a reason it can't be read. Never blocks on a FIFO or a
    device, never follows a symbolic link that now leads outside the archive, and notices a file that grows
    past the limit or changes while it is read."""
    path = file.path
    try:
        if path.is_symlink():
            target, problem = _link_target(path)
            if target is None:
                return None, problem
            if not target.is_relative_to(file.root.resolve()):
                return None, "symbolic link leading outside the archive (not followed)"
            path = target
        before = path.stat()
        if stat_module.S_ISREG(before.st_mode) and before.st_size > limit:
            return None, f"file is {before.st_size:,} bytes, over the {limit:,}-byte limit (ARCHIVEBOT_MAX_FILE_BYTES)"
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, "file vanished while indexing"
    except OSError as error:
        return None, f"unreadable ({error.strerror or error})"
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat_module.S_ISREG(opened.st_mode):
            return None, "not a regular file (skipped)"
        try:
            data = _read_bytes(handle, limit + 1)
        except OSError as error:
            return None, f"unreadable ({error.strerror or error})"
        if len(data) > limit:
            return None, f"file is over the {limit:,}-byte limit (ARCHIVEBOT_MAX_FILE_BYTES)"
        after = os.fstat(handle.fileno())
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(data) != after.st_size:
        return data, "changed while being read (indexed as read; it is read again on the next run)"
    return data, None


def _read_bytes(handle: Any, count: int) -> bytes:
    return handle.read(count)


def _too_many_sentences(body: str, limit: int) -> bool:
    # Each sentence takes at least two characters (text and a separator), so short bodies need no count;
    # a prefix with too many sentences settles it without splitting a huge body whole.
    if len(body) <= 2 * limit:
        return False
    if len(split_sentences(body[: 50 * limit])) > limit + 1:
        return True
    return len(body) > 50 * limit and len(split_sentences(body)) > limit


def _sentence_limit() -> int:
    raw = os.environ.get("ARCHIVEBOT_MAX_ARTICLE_SENTENCES", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_ARTICLE_SENTENCES


def parse_file(
    file: ArchiveFile, max_file_bytes: int, default_source: str | None = None
) -> tuple[list[ParsedArticle], list[FileWarning]]:
    """Parse one archive file. Never raises for bad content: problems come back as at most one warning
    for the file, naming it and every reason."""
    articles, reasons = _parse_file(file, max_file_bytes, default_source)
    if not reasons:
        return articles, []
    return articles, [FileWarning(str(file.path), "; ".join(dict.fromkeys(reasons)))]


def _parse_file(
    file: ArchiveFile, max_file_bytes: int, default_source: str | None
) -> tuple[list[ParsedArticle], list[str]]:
    path = str(file.path)
    data, problem = _read(file, max_file_bytes)
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
    suffix = file.path.suffix.lower()
    if default_source is None:
        default_source = file.root.name
    try:
        if suffix in {".json", ".jsonl"}:
            articles, record_warnings = parse_json(file, text, default_source)
            reasons.extend(w.reason for w in record_warnings)
        else:
            parser = {".md": parse_markdown, ".markdown": parse_markdown, ".html": parse_html, ".htm": parse_html}
            if suffix in {".html", ".htm"} and (tags := text.count("<")) > MAX_HTML_TAGS:
                reasons.append(f"{tags:,} tags, over {MAX_HTML_TAGS:,}: main-text extraction skipped, tags stripped")
                article = parse_html(file, text, default_source, extract=False)
            else:
                article = parser.get(suffix, parse_text)(file, text, default_source)
            articles = [article] if article else []
    except RecursionError:
        return [], reasons + ["content nested too deeply to parse"]
    except Exception as error:  # a parser bug or a pathological file must never stop the archive
        logger.debug("parsing %s failed", path, exc_info=True)
        return [], reasons + [f"could not be parsed ({type(error).__name__}: {str(error)[:120]})"]
    limit = _sentence_limit()
    kept = []
    for article in articles:
        if _too_many_sentences(article.body, limit):
            where = f" (record {article.location.rsplit('#', 1)[1]})" if "#" in article.location else ""
            reasons.append(f"more than {limit:,} sentences{where}: too long for one article (skipped)")
            continue
        kept.append(article)
    if not kept and not reasons:
        reasons.append("no article text found")
    return kept, reasons
