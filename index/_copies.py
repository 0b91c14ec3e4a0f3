"""Syndicated copies: articles whose bodies are the same story (identical or near-identical text).

Pure functions, no I/O. An article's body becomes a set of word shingles (SHINGLE_WORDS consecutive
lower-cased words); a MinHash signature of that set is split into LSH bands, and two articles sharing
any band are candidates. A candidate pair is confirmed only by the exact Jaccard similarity of the
two shingle sets (at least COPY_THRESHOLD), so the LSH side can only miss pairs, never merge distinct
articles. Confirmed pairs are joined transitively into groups (union-find).

Grouping is incremental (`update_copy_groups`): only articles the index has not keyed yet (new or changed
ones: a changed article is stored again under a new row) are shingled and compared with the articles that
share a band key with them; confirmed pairs are stored, and a deleted article's keys and pairs go with it. The
groups are then rebuilt from the stored pairs, which are few (one per copy), so a deletion that splits a
group splits it.

Why these numbers (measured on the BBC archive, docs/quality.md "Syndicated copies"): 5-word shingles
make two different stories on the same topic share almost nothing (Jaccard < 0.1), while a refiled
wire story with an edited sentence or two stays above 0.8. 20 bands of 5 rows put the LSH's 50 %
point near Jaccard 0.55, so a pair at the 0.8 threshold collides with probability > 0.999.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SHINGLE_WORDS = 5
PERMUTATIONS = 100
BANDS = 20
ROWS_PER_BAND = PERMUTATIONS // BANDS
COPY_THRESHOLD = 0.8  # exact Jaccard of the shingle sets at or above which two bodies are the same story

_WORD = re.compile(r"\w+")
# Fixed seeds: signatures are stored, so they must be the same in every process and every run.
_GENERATOR = np.random.default_rng(20261130)
_MULTIPLIERS = _GENERATOR.integers(1, 2**63, size=PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
_OFFSETS = _GENERATOR.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)


@dataclass(frozen=True)
class CopyRef:
    """Another copy of a quoted or listed article: enough to cite it."""

    row: int
    article_id: str
    title: str
    source: str | None
    date: str | None


def shingles(body: str) -> set[int]:
    """The body's word shingles, each as a stable 32-bit hash. A body shorter than a shingle is one shingle."""
    words = [word.lower() for word in _WORD.findall(body)]
    if not words:
        return set()
    if len(words) < SHINGLE_WORDS:
        return {zlib.crc32(" ".join(words).encode())}
    return {
        zlib.crc32(" ".join(words[index : index + SHINGLE_WORDS]).encode())
        for index in range(len(words) - SHINGLE_WORDS + 1)
    }


def signature(hashed: set[int]) -> np.ndarray:
    """The MinHash signature (PERMUTATIONS uint32 values) of a shingle set; all-ones for an empty body."""
    if not hashed:
        return np.full(PERMUTATIONS, 0xFFFFFFFF, dtype=np.uint32)
    values = np.fromiter(hashed, dtype=np.uint64, count=len(hashed))
    # Multiply-shift hashing: (a * x + b) mod 2**64, top 32 bits; numpy's uint64 arithmetic wraps.
    with np.errstate(over="ignore"):
        mixed = (values[None, :] * _MULTIPLIERS[:, None] + _OFFSETS[:, None]) >> np.uint64(32)
    minimum: np.ndarray = mixed.min(axis=1).astype(np.uint32)
    return minimum


def band_keys(minhash: np.ndarray) -> list[int]:
    """One key per LSH band (a signed 64-bit integer, so any database stores it as a plain integer)."""
    keys = []
    for band in range(BANDS):
        chunk = minhash[band * ROWS_PER_BAND : (band + 1) * ROWS_PER_BAND].tobytes()
        digest = hashlib.blake2b(bytes([band]) + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def article_band_keys(body: str) -> list[int]:
    """What the index stores for an article: its LSH band keys (empty for a body without words)."""
    hashed = shingles(body)
    return band_keys(signature(hashed)) if hashed else []


def jaccard(first: set[int], second: set[int]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def candidate_pairs(buckets: Iterable[Sequence[int]]) -> set[tuple[int, int]]:
    """Every pair of article rows that share a bucket (an LSH band key), smaller row first."""
    pairs: set[tuple[int, int]] = set()
    for bucket in buckets:
        members = sorted(set(bucket))
        for position, first in enumerate(members):
            pairs.update((first, second) for second in members[position + 1 :])
    return pairs


def confirmed_pairs(
    pairs: Iterable[tuple[int, int]], bodies: dict[int, str], threshold: float = COPY_THRESHOLD
) -> list[tuple[int, int, float]]:
    """The candidate pairs whose bodies' exact shingle Jaccard reaches the threshold, with that Jaccard."""
    cache: dict[int, set[int]] = {}

    def shingled(row: int) -> set[int]:
        if row not in cache:
            cache[row] = shingles(bodies.get(row, ""))
        return cache[row]

    confirmed = []
    for first, second in pairs:
        similarity = jaccard(shingled(first), shingled(second))
        if similarity >= threshold:
            confirmed.append((first, second, similarity))
    return confirmed


def group_rows(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components of the pairs (union-find), each sorted, ordered by their smallest row."""
    parent: dict[int, int] = {}

    def root(row: int) -> int:
        parent.setdefault(row, row)
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    for first, second in pairs:
        low, high = sorted((root(first), root(second)))
        parent[high] = low
    groups: dict[int, list[int]] = {}
    for row in list(parent):
        groups.setdefault(root(row), []).append(row)
    return sorted((sorted(members) for members in groups.values()), key=lambda members: members[0])


class CopyStore(Protocol):
    """What a storage backend keeps for copy detection, inside one index write (`IndexWrite.group_copies`)."""

    async def articles_without_band_keys(self, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` (article row, body) of the articles not keyed yet."""
        ...

    async def add_band_keys(self, keys: dict[int, list[int]]) -> None:
        """Store each article's band keys (an empty list marks an article without words as keyed)."""
        ...

    async def band_neighbours(self, rows: Sequence[int]) -> set[tuple[int, int]]:
        """(row, other row) for every other article sharing a band key with one of `rows`."""
        ...

    async def bodies(self, rows: Sequence[int]) -> dict[int, str]: ...

    async def add_copy_pairs(self, pairs: Sequence[tuple[int, int, float]]) -> None:
        """Store confirmed pairs (smaller row first) with their Jaccard similarity."""
        ...

    async def copy_pairs(self) -> list[tuple[int, int]]: ...

    async def replace_copy_groups(self, groups: Sequence[Sequence[int]]) -> None:
        """The groups from now on (each sorted; its first row names it); articles in none have no copies."""
        ...


async def update_copy_groups(store: CopyStore, batch: int = 500) -> int:
    """Key the articles not keyed yet, confirm their copies, rebuild the groups; returns how many groups."""
    while pending := await store.articles_without_band_keys(batch):
        await store.add_band_keys({row: article_band_keys(body) for row, body in pending})
        pairs = {
            (min(first, second), max(first, second))
            for first, second in await store.band_neighbours([row for row, _ in pending])
        }
        bodies = dict(pending)
        bodies.update(await store.bodies(sorted({row for pair in pairs for row in pair} - bodies.keys())))
        await store.add_copy_pairs(confirmed_pairs(sorted(pairs), bodies))
    groups = group_rows(await store.copy_pairs())
    await store.replace_copy_groups(groups)
    return len(groups)
