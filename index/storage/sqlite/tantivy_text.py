"""The embedded backend's passage full-text index at scale: tantivy generations committed with SQLite's.

Why: at a million passages FTS5's bm25() costs about 1 µs for every passage an OR-query matches, and a
question's full-text search and document frequencies were 28-31 ms of its 48-75 ms p95 (`python -m bench.stages`
on the 53-copy archive, bench/HISTORY.md 2026-12-08); tantivy (Lucene-style, block-max WAND) answers the same
query in about a millisecond. FTS5 stays the index of record: it is written in the same transaction as the rows,
answers below TANTIVY_FROM passages, and is what a question falls back to when this index is missing or does
not match its snapshot.

One field, `words`: the article's title twice, then the passage (FTS5 weighs the title 2x in the same BM25 sum,
`bm25(passages_fts, 2.0, 1.0)`); one stemmed vocabulary, so a term's document frequency is exact.

Generations, like the FAISS files (vectors.py): a write that changes passages builds `fulltext.<n + 1>/` beside
`fulltext.<n>/` — the old generation's files hard-linked (tantivy never rewrites a file: new segments, new
delete files and a renamed meta.json), the write's deletes and adds applied and committed — renames it into
place, and records `fulltext_generation = n + 1` in `meta` inside the same SQLite transaction. A crash before the
COMMIT leaves the old pair in place (the new directory is garbage); readers open the generation their snapshot
names.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

META_KEY = "fulltext_generation"
TANTIVY_FROM = 200_000  # passages: "auto" searches tantivy from here (FTS5's split search starts here too)
KEPT_GENERATIONS = 3  # as the vector files: this generation and the two before it
SETTLED_SECONDS = 10.0
WRITER_HEAP = 128_000_000  # bytes: one writer thread's buffer (a 2,000-article chunk is ~20k passages)
_PREFIX = "fulltext."


def recorded_generation(meta: dict[str, str]) -> int | None:
    """The generation the database records as live (`META_KEY`), or None when there is none yet."""
    value = meta.get(META_KEY, "")
    return int(value) if value.isdigit() else None


_PARTIAL = ".partial"
_LOCKS = (".tantivy-writer.lock", ".tantivy-meta.lock")
_ANALYZER = "archive_words"


def _tantivy() -> Any:
    import tantivy

    return tantivy


def analyzer() -> Any:
    """Words as tantivy indexes and looks them up: split at non-alphanumerics, lowercased, accents folded,
    Snowball English stems (FTS5's `porter unicode61 remove_diacritics 2` but with Porter's successor)."""
    tantivy = _tantivy()
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(64))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> Any:
    tantivy = _tantivy()
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("passage", stored=False, indexed=True, fast=True)
    builder.add_text_field("words", stored=False, tokenizer_name=_ANALYZER)  # positions: phrases
    return builder.build()


def path_for(data_dir: Path, generation: int) -> Path:
    return data_dir / f"{_PREFIX}{generation}"


def generation_of(path: Path) -> int | None:
    suffix = path.name[len(_PREFIX) :] if path.name.startswith(_PREFIX) else ""
    return int(suffix) if suffix.isdigit() else None


def _open(path: Path, *, create: bool = False) -> Any:
    tantivy = _tantivy()
    index = tantivy.Index(_schema(), path=str(path), reuse=True) if create else tantivy.Index.open(str(path))
    index.register_tokenizer(_ANALYZER, analyzer())
    return index


def words_of(title: str, text: str) -> str:
    return f"{title}\n{title}\n{text}"


@dataclass
class TextChanges:
    """What one write did to the full-text rows, in order: ("delete", passage ids) and ("add", rows of
    (passage id, title, text))."""

    steps: list[tuple[str, Any]] = field(default_factory=list)

    def deleted(self, passage_ids: Sequence[int]) -> None:
        if passage_ids:
            self.steps.append(("delete", list(passage_ids)))

    def added(self, rows: Sequence[tuple[int, str, str]]) -> None:
        if rows:
            self.steps.append(("add", list(rows)))

    def __bool__(self) -> bool:
        return bool(self.steps)


class GenerationBuilder:
    """`fulltext.<generation>/` in the making (in a worker thread, call by call): `previous`'s files
    hard-linked, or a new index when `previous` is None; `finish` commits it and renames it into place, and the
    caller records the generation in its transaction. A builder never finished leaves a directory that
    `collect_garbage` removes."""

    def __init__(self, data_dir: Path, previous: int | None, generation: int) -> None:
        self.data_dir = data_dir
        self.target = path_for(data_dir, generation)
        self.partial = self.target.with_name(self.target.name + _PARTIAL)
        for leftover in (self.partial, self.target):  # a crashed write's, never committed: its number is reused
            shutil.rmtree(leftover, ignore_errors=True)
        self.partial.mkdir(mode=0o700)
        if previous is not None:
            for entry in os.scandir(path_for(data_dir, previous)):
                if entry.is_file() and entry.name not in _LOCKS:
                    os.link(entry.path, self.partial / entry.name)
        self._index = _open(self.partial, create=True)
        self._writer = self._index.writer(WRITER_HEAP, 1)
        self._tantivy = _tantivy()
        self._schema = _schema()

    def apply(self, changes: TextChanges) -> None:
        for kind, payload in changes.steps:
            if kind == "delete":
                self.delete(payload)
            else:
                self.add(payload)

    def delete(self, passage_ids: Sequence[int]) -> None:
        # A term-set query, not `delete_documents_by_term("passage", id)`: tantivy-py 0.27 makes a Python int an
        # i64 term, which matches no document of a u64 field, and deletes nothing without an error.
        ids = [int(passage_id) for passage_id in passage_ids]
        for start in range(0, len(ids), 10_000):
            query = self._tantivy.Query.term_set_query(self._schema, "passage", ids[start : start + 10_000])
            self._writer.delete_documents_by_query(query)

    def add(self, rows: Sequence[tuple[int, str, str]]) -> None:
        for passage_id, title, text in rows:
            document = self._tantivy.Document()
            document.add_unsigned("passage", int(passage_id))
            document.add_text("words", words_of(title, text))
            self._writer.add_document(document)

    def commit(self) -> int:
        """Commit the changes; returns how many passages the generation holds."""
        self._writer.commit()
        self._writer.wait_merging_threads()
        self._index.reload()
        return int(self._index.searcher().num_docs)

    def finish(self) -> Path:
        for entry in os.scandir(self.partial):  # tantivy creates its files by the umask: owner-only, as the rest
            if entry.is_file():
                os.chmod(entry.path, 0o600)
        _sync_directory(self.partial)
        os.replace(self.partial, self.target)
        _sync_directory(self.data_dir)
        return self.target

    def abandon(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


def _sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def generation_bytes(data_dir: Path, generation: int) -> int:
    """The size of one generation's files (hard links shared with its neighbours counted in full)."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(path_for(data_dir, generation)) if entry.is_file())
    except OSError:
        return 0


def collect_garbage(data_dir: Path, generation: int) -> None:
    """After a COMMIT, under the reindex lock: remove generations older than the two before `generation`, and
    any unfinished or uncommitted directory (a crashed write's)."""
    keep = set(range(generation - KEPT_GENERATIONS + 1, generation + 1))
    for path in data_dir.glob(_PREFIX + "*"):
        number = generation_of(path)
        if path.name.endswith(_PARTIAL) or (number is not None and number not in keep):
            shutil.rmtree(path, ignore_errors=True)


def collect_settled(data_dir: Path, generation: int) -> None:
    """Remove generations older than the committed `generation` whose successor is SETTLED_SECONDS old (no
    reader of any process can still be opening them); safe without the lock, like the vector files'."""
    now = time.time()
    for path in data_dir.glob(_PREFIX + "*"):
        older = generation_of(path)
        if older is None or older >= generation:
            continue
        try:
            if now - path_for(data_dir, older + 1).stat().st_mtime < SETTLED_SECONDS:
                continue
        except OSError:
            pass
        shutil.rmtree(path, ignore_errors=True)


class TextIndex:
    """One generation, open for questions."""

    def __init__(self, path: Path, generation: int) -> None:
        self.generation = generation
        self._index = _open(path)
        self._schema = _schema()
        self._analyzer = analyzer()
        self.size = int(self._index.searcher().num_docs)

    def _query(self, tokens: list[str]) -> Any:
        tantivy = _tantivy()
        if len(tokens) == 1:
            return tantivy.Query.term_query(self._schema, "words", tokens[0])
        return tantivy.Query.phrase_query(self._schema, "words", tokens)

    def _tokens(self, terms: Sequence[str]) -> list[list[str]]:
        return [tokens for tokens in (self._analyzer.analyze(term) for term in terms) if tokens]

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The BM25 top `k` of an OR-query of `terms` (a term of several words, "o'neill", is a phrase)."""
        tantivy = _tantivy()
        queries = [self._query(tokens) for tokens in self._tokens(terms)]
        if not queries or k <= 0:
            return []
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in queries])
        searcher = self._index.searcher()
        hits = searcher.search(query, k, count=False).hits
        ids = searcher.fast_field_values("passage", [address for _, address in hits])
        return [(int(passage_id), float(score)) for (score, _), passage_id in zip(hits, ids, strict=True)]

    def frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Passages holding each term (a phrase's: counted). As in Lucene, a deleted passage's terms still count
        until tantivy merges its segment away: the figures can run a little above FTS5's after updates."""
        searcher = self._index.searcher()
        found: dict[str, int] = {}
        for term in terms:
            tokens = self._analyzer.analyze(term)
            if not tokens:
                found[term] = 0
            elif len(tokens) == 1:
                found[term] = int(searcher.doc_freq("words", tokens[0]))
            else:
                found[term] = int(searcher.search(self._query(tokens), 1, count=True).count)
        return found


class ServedText:
    """The full-text generation this process's questions search (loaded once per generation). `engine`:
    "auto" (tantivy from TANTIVY_FROM passages), "tantivy" (always, where the index is) or "fts5" (never)."""

    def __init__(self, data_dir: Path, engine: str = "auto") -> None:
        self.data_dir = data_dir
        self.engine = engine
        self._index: TextIndex | None = None
        self._refused: set[int] = set()  # generations that would not open or did not match: FTS5 answers
        self._lock = threading.Lock()

    def wanted(self, passages: int) -> bool:
        return self.engine == "tantivy" or (self.engine == "auto" and passages >= TANTIVY_FROM)

    def loaded(self, meta: dict[str, str], passages: int) -> TextIndex | None:
        """The generation already open for this snapshot, if it is (no thread needed)."""
        index = self._index
        if index is not None and meta.get(META_KEY) == str(index.generation) and index.size == passages:
            return index
        return None

    def of(self, meta: dict[str, str], passages: int) -> TextIndex | None:
        """The snapshot's generation when it holds exactly `passages` documents, else None (FTS5 answers;
        logged once per generation). Called in a worker thread."""
        generation = recorded_generation(meta)
        if generation is None:
            return None
        with self._lock:
            if self._index is not None and self._index.generation == generation:
                return self._index if self._index.size == passages else None
            if generation in self._refused:
                return None
            try:
                loaded = TextIndex(path_for(self.data_dir, generation), generation)
            except Exception as error:  # missing (collected meanwhile) or unreadable
                self._refused.add(generation)
                logger.warning("full-text generation %d unusable (%s): searching FTS5", generation, error)
                return None
            if loaded.size != passages:
                self._refused.add(generation)
                logger.warning(
                    "full-text generation %d holds %d passages, the database %d: searching FTS5 until"
                    " `archivebot doctor --repair`",
                    generation,
                    loaded.size,
                    passages,
                )
                return None
            self._index = loaded
            return loaded
