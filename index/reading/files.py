"""Finding an archive's files and reading them safely.

Discovery walks the archive folders without following links out of them; a read never blocks on a FIFO or a
device, never reads past the size limit and notices a file that changes while it is read. Problems become
`FileWarning`s (or reasons) naming the file; they never stop the rest of the archive.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from index._models import FileWarning

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".json", ".jsonl", ".html", ".htm"})


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
            subdirectories: list[Path] = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                _admit(root, entry, files, warnings, subdirectories)
            pending.extend(reversed(subdirectories))  # popped in sorted order
    return files, warnings


def _admit(
    root: Path,
    entry: os.DirEntry[str],
    files: list[ArchiveFile],
    warnings: list[FileWarning],
    subdirectories: list[Path],
) -> None:
    """Sort one folder entry into a sub-folder to walk, an archive file, a warning, or nothing."""
    path = Path(entry.path)
    try:
        is_directory = entry.is_dir(follow_symlinks=False)
        is_link = entry.is_symlink()
    except OSError:
        is_directory = is_link = False
    if is_directory:
        subdirectories.append(path)
        return
    if is_link and (target := _link_target(path)[0]) is not None and target.is_dir():
        warnings.append(FileWarning(printable_path(path), "symbolic link to a folder (not followed)"))
        return
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return
    if not _valid_name(path):  # undecodable bytes: can't be stored, printed or sent
        warnings.append(FileWarning(printable_path(path), "file name is not valid UTF-8 (skipped)"))
        return
    problem = _link_problem(root, path) if is_link else None
    if problem is None and not is_link and not _is_regular(path):
        problem = "not a regular file (skipped)"
    if problem is not None:
        warnings.append(FileWarning(str(path), problem))
        return
    files.append(ArchiveFile(root, path))


def _link_problem(root: Path, path: Path) -> str | None:
    """Why a symbolic link to a file is not indexed, or None when it leads to a regular file inside `root`."""
    target, problem = _link_target(path)
    if target is None:
        return problem
    if not target.is_relative_to(root):
        return "symbolic link leading outside the archive (not followed)"
    if not target.is_file():
        return "not a regular file (skipped)"
    return None


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


def read_file(file: ArchiveFile, limit: int) -> tuple[bytes | None, str | None]:
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


def _read_bytes(handle: BinaryIO, count: int) -> bytes:
    return handle.read(count)
