"""Syndicated copies: articles whose bodies are the same story (identical or near-identical text).

Pure functions, no I/O. A body becomes a set of word shingles (SHINGLE_WORDS consecutive lower-cased words);
a MinHash signature of that set is split into LSH bands, and two bodies sharing any band are candidates. A
candidate pair is confirmed only by the exact Jaccard similarity of the two shingle sets (at least
COPY_THRESHOLD), so the LSH side can only miss pairs, never merge distinct stories. Confirmed pairs are
joined transitively into groups (union-find).

Detection is keyed by content, not by article: the unit is a distinct body hash (`articles.body_hash`, the
sha1 of the body's lower-cased words). Two articles with the same body hash have the same words in the same
order, hence the same shingles (Jaccard 1.0): they are copies without any shingling. So band keys, candidate
pairs and confirmed pairs are between body hashes, and a story held in k identical copies costs one keying
and no pair, where keying articles cost k - 1 candidate pairs per new copy, each confirmed by shingling both
bodies: O(k^2) work (measured: at 16 copies of the BBC corpus, more than half of `archivebot index` went to
shingling and Jaccard; docs/quality.md "Syndicated copies").

Grouping is incremental (`update_copy_groups`): the contents of articles no longer in the archive lose their
keys and pairs; only contents the index has not keyed yet (a new or changed article's body, when no other
article holds it) are shingled, once per batch, and compared with the contents sharing a band key with
them; confirmed pairs are stored. The groups are then rebuilt: connected components of the stored pairs
(few: one per near-copy), plus every content held by two or more articles; each group is stored by content
(body hash -> group), so rewriting them touches a row per grouped content, not per grouped article. A body
without words has no shingles and is never a copy of anything.

Why these numbers (measured on the BBC archive, docs/quality.md "Syndicated copies"): 5-word shingles
make two different stories on the same topic share almost nothing (Jaccard < 0.1), while a refiled
wire story with an edited sentence or two stays above 0.8. 20 bands of 5 rows put the LSH's 50 %
point near Jaccard 0.55, so a pair at the 0.8 threshold collides with probability > 0.999.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from index.storage.base import CopyStore

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


def shingle_band_keys(hashed: set[int]) -> list[int]:
    """What the index stores for a shingle set: its LSH band keys (empty for a body without words)."""
    return band_keys(signature(hashed)) if hashed else []


def article_band_keys(body: str) -> list[int]:
    """What the index stores for an article's body."""
    return shingle_band_keys(shingles(body))


def jaccard(first: set[int], second: set[int]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


Key = TypeVar("Key", int, str)  # an article row (the pure functions' tests, bench.copies) or a body hash


def candidate_pairs(buckets: Iterable[Sequence[Key]]) -> set[tuple[Key, Key]]:
    """Every pair of members (article rows or body hashes) that share a bucket (an LSH band key), smaller first."""
    pairs: set[tuple[Key, Key]] = set()
    for bucket in buckets:
        members = sorted(set(bucket))
        for position, first in enumerate(members):
            pairs.update((first, second) for second in members[position + 1 :])
    return pairs


def confirmed_pairs(
    pairs: Iterable[tuple[Key, Key]],
    bodies: Mapping[Key, str],
    threshold: float = COPY_THRESHOLD,
    shingled: dict[Key, set[int]] | None = None,
) -> list[tuple[Key, Key, float]]:
    """The candidate pairs whose bodies' exact shingle Jaccard reaches the threshold, with that Jaccard.
    `shingled` holds shingle sets already computed (it is filled in: each body is shingled once)."""
    cache: dict[Key, set[int]] = {} if shingled is None else shingled

    def shingle_set(member: Key) -> set[int]:
        if member not in cache:
            cache[member] = shingles(bodies.get(member, ""))
        return cache[member]

    confirmed = []
    for first, second in pairs:
        similarity = jaccard(shingle_set(first), shingle_set(second))
        if similarity >= threshold:
            confirmed.append((first, second, similarity))
    return confirmed


def group_rows(pairs: Iterable[tuple[Key, Key]], singletons: Iterable[Key] = ()) -> list[list[Key]]:
    """Connected components of the pairs (union-find), plus each of `singletons` in none of them as a group of
    its own; each sorted, ordered by their smallest member."""
    parent: dict[Key, Key] = {}

    def root(member: Key) -> Key:
        parent.setdefault(member, member)
        while parent[member] != member:
            parent[member] = parent[parent[member]]
            member = parent[member]
        return member

    for first, second in pairs:
        low, high = sorted((root(first), root(second)))
        parent[high] = low
    for member in singletons:
        root(member)
    groups: dict[Key, list[Key]] = {}
    for member in list(parent):
        groups.setdefault(root(member), []).append(member)
    return sorted((sorted(members) for members in groups.values()), key=lambda members: members[0])


async def update_copy_groups(store: CopyStore, batch: int = 500) -> int:
    """Key the contents not keyed yet, confirm their copies, rebuild the groups; returns how many groups."""
    await store.drop_contents_without_articles()
    while pending := await store.contents_without_band_keys(batch):
        shingled = {content: shingles(body) for content, body in pending}  # once: keys, then Jaccard
        await store.add_band_keys({content: shingle_band_keys(hashed) for content, hashed in shingled.items()})
        pairs = {
            (min(first, second), max(first, second))
            for first, second in await store.band_neighbours([content for content, _ in pending])
        }
        bodies = await store.bodies(sorted({content for pair in pairs for content in pair} - shingled.keys()))
        await store.add_copy_pairs(confirmed_pairs(sorted(pairs), bodies, shingled=shingled))
    # A pair joins two contents each held by at least one article: two articles. A content in no pair is a
    # group only when two or more articles hold it.
    groups = group_rows(await store.copy_pairs(), await store.shared_contents())
    await store.replace_copy_groups(groups)
    return len(groups)
