"""Bytes to text, and text made safe to store, print and send.

Decoding is BOM-aware UTF-8/UTF-16 with Windows-1252 as a last resort, and refuses binary data. Scrubbing
removes control characters, terminal escape sequences and lone surrogates from every parsed field.
"""

from __future__ import annotations

import re

from index._models import FileWarning

# Control characters (terminal escape sequences among them) and lone surrogates (from JSON "\ud800"
# escapes; they can't be stored as UTF-8) never reach the index, a terminal or a Discord message.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")

# Terminal escape sequences go whole (CSI "ESC [ 31 m", OSC "ESC ] … BEL"), not just their ESC byte.
_ANSI = re.compile(r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?|[@-Z\\-_])")


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


def scrub(value: str | None) -> str | None:
    """`value` without terminal escape sequences, control characters and lone surrogates."""
    return _UNSAFE.sub("", _ANSI.sub("", value)) if value else value
