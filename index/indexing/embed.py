"""An index run's embedding: every sentence and title vector of the new articles, found or computed.

Only texts never embedded before are embedded (stored vectors are reused by text hash), length-sorted, in
batches, off the event loop. Each finished batch is staged (`VectorStaging`), so a killed run resumes
without embedding the same text again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from index._models import ParsedArticle, Progress
from index._rows import NewArticleRow, NewPassage, NewSentence, blob_to_vector, vector_to_blob
from index.embedding.embedder import Embedder
from index.indexing.pause import pause_for_tests
from index.indexing.plan import NewArticle
from index.reading.text import Span, build_passages, split_sentences
from index.storage import IndexSession, IndexWrite, VectorStaging, passage_vector

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
EMBED_BATCH = 256
TEXT_COST_CHARACTERS = 40  # per-text cost in the embedding ETA, in characters' worth


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def body_hash(body: str) -> str:
    """The same for two copies of one article whatever their spacing and case (syndicated copies)."""
    return hashlib.sha1(re.sub(r"\W+", " ", body.lower()).strip().encode("utf-8")).hexdigest()


class Reporter:
    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._started = time.monotonic()
        self._phase_started = self._started
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int, detail: str = "", *, fraction: float | None = None) -> None:
        """`fraction`: the share of the phase's work done, when items differ in cost (texts are embedded
        shortest first, so counting texts alone would promise an end far too early)."""
        if self._callback is None:
            return
        now = time.monotonic()
        if phase != self._phase:
            self._phase, self._phase_started = phase, now
        elapsed_phase = now - self._phase_started
        if fraction is None:
            fraction = done / total if total and total >= done else 0.0
        if phase == "commit":  # done/total are the run's commits: the time so far is the whole run's
            elapsed_phase = now - self._started
        eta = elapsed_phase / fraction * (1 - fraction) if fraction > 0 else None
        try:
            self._callback(Progress(phase, done, total, now - self._started, eta, detail, fraction))
        except Exception:  # a broken progress display must never break indexing
            logger.exception("progress callback failed")


@dataclass(frozen=True)
class Prepared:
    """An article whose every sentence and title vector is known, ready to insert. Vectors stay float16
    blobs (768 bytes for 384 dimensions) until the article is inserted: holding every sentence as a float32
    array and every passage's text at once took ~9 GB for 100k articles."""

    article: ParsedArticle
    fingerprint: str
    spans: list[Span]
    hashes: list[str]
    title_key: str
    known: dict[str, bytes]


async def insert_prepared(write: IndexWrite, item: Prepared, passage_sentences: int, indexed_at: str) -> int:
    """Insert one prepared article with its passage vectors; returns its passage count."""
    text = item.article.body
    sentences = [
        NewSentence(i, span.start, span.end, key, blob_to_vector(item.known[key]))
        for i, (span, key) in enumerate(zip(item.spans, item.hashes, strict=True))
    ]
    passages = [
        NewPassage(i, p.start, p.end, p.first_sentence, p.last_sentence, text[p.start : p.end])
        for i, p in enumerate(build_passages(item.spans, passage_sentences))
    ]
    title_vector = blob_to_vector(item.known[item.title_key])
    vectors = [
        passage_vector([sentences[i].vector for i in range(p.first_sentence, p.last_sentence + 1)], title_vector)
        for p in passages
    ]
    await write.insert_article(
        NewArticleRow(
            item.article,
            fingerprint=item.fingerprint,
            body_hash=body_hash(text),
            title_vector=title_vector,
            indexed_at=indexed_at,
            sentences=sentences,
            passages=passages,
            passage_vectors=np.stack(vectors) if vectors else np.zeros((0, len(title_vector)), dtype=np.float32),
        )
    )
    return len(passages)


@dataclass(frozen=True)
class _Layout:
    new: NewArticle
    spans: list[Span]
    hashes: list[str]
    title_key: str


async def prepare_articles(
    session: IndexSession,
    staging: VectorStaging,
    embedder: Embedder,
    articles: Sequence[NewArticle],
    report: Reporter,
    *,
    reuse_stored: bool = True,
    detail: str = "",
) -> tuple[list[Prepared], int]:
    """Split, find or compute every sentence and title vector. Returns the prepared articles (those with any
    sentence) and how many texts were actually embedded."""
    layouts: list[_Layout] = []
    wanted: dict[str, str] = {}  # text hash -> text
    for new in articles:
        body = new.article.body
        spans = split_sentences(body)
        hashes = [text_hash(body[s.start : s.end]) for s in spans]
        layouts.append(_Layout(new, spans, hashes, text_hash("title\x1f" + new.article.title)))
        for span, key in zip(spans, hashes, strict=True):
            wanted.setdefault(key, body[span.start : span.end])
        wanted.setdefault(layouts[-1].title_key, new.article.title)
    known = await _known_vectors(session, staging, layouts, wanted, reuse_stored)
    missing = [key for key in wanted if key not in known]
    missing.sort(key=lambda key: len(wanted[key]))  # length-sorted batches waste no padding
    await _embed_missing(staging, embedder, missing, wanted, known, report, detail)
    prepared = [
        Prepared(layout.new.article, layout.new.fingerprint, layout.spans, layout.hashes, layout.title_key, known)
        for layout in layouts
        if layout.spans
    ]
    return prepared, len(missing)


async def _known_vectors(
    session: IndexSession,
    staging: VectorStaging,
    layouts: list[_Layout],
    wanted: dict[str, str],
    reuse_stored: bool,
) -> dict[str, bytes]:
    """Vectors already at hand: stored ones (same model only) and those an unfinished run staged."""
    known = await session.vectors_by_text_hash(list(wanted)) if reuse_stored else {}
    if reuse_stored:  # an updated article whose title did not change keeps its title vector
        stored_titles = await session.title_vectors([layout.new.article.article_id for layout in layouts])
        for layout in layouts:
            if layout.title_key not in known and layout.new.article.title in stored_titles:
                known[layout.title_key] = stored_titles[layout.new.article.title]
    known.update(await staging.get([key for key in wanted if key not in known]))
    return known


async def _embed_missing(
    staging: VectorStaging,
    embedder: Embedder,
    missing: list[str],
    wanted: dict[str, str],
    known: dict[str, bytes],
    report: Reporter,
    detail: str = "",
) -> None:
    """Embed `missing` in batches into `known`. Each batch's staging write runs beside the next batch's
    embedding; progress counts what is saved. ETA cost model: characters plus a fixed cost per text
    (measured: ~linear in length here)."""
    total = len(missing)
    report("embed", 0, total, detail)
    costs = [len(wanted[key]) + TEXT_COST_CHARACTERS for key in missing]
    total_cost = float(sum(costs)) or 1.0
    saving: asyncio.Future[None] | None = None
    in_flight = saved = 0
    saved_cost = 0.0

    async def settle() -> None:
        """Wait for the staging write in flight, then report it."""
        nonlocal saving, saved, saved_cost
        if saving is None:
            return
        await saving
        saving = None
        saved_cost += sum(costs[saved : saved + in_flight])
        saved += in_flight
        report("embed", saved, total, detail, fraction=saved_cost / total_cost)
        pause_for_tests("embed")

    for start in range(0, total, EMBED_BATCH):
        keys = missing[start : start + EMBED_BATCH]
        vectors = await asyncio.to_thread(embedder.embed, [wanted[key] for key in keys])
        blobs = {key: vector_to_blob(vector) for key, vector in zip(keys, vectors, strict=True)}
        known.update(blobs)
        await settle()
        saving, in_flight = asyncio.ensure_future(staging.put(blobs)), len(keys)
    await settle()
