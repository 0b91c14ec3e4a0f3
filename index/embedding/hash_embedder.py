"""A deterministic, dependency-free fake embedder for tests (`ARCHIVEBOT_MODEL=hash[:DIM]`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from index._settings import HASH_MODEL


class HashEmbedder:
    """A deterministic, dependency-free embedder for unit tests: hashed bag of words and word bigrams.

    Texts sharing words get similar vectors, so retrieval tests behave sensibly without a model.
    """

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"{HASH_MODEL}:{dimension}"
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for feature in words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]:
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                vectors[row, index] += sign * (0.5 if " " in feature else 1.0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        normalised: np.ndarray = vectors / norms
        return normalised
