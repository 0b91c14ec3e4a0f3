"""`archivebot doctor` on a PostgreSQL archive: check that rows, vectors and full-text data agree; repair.

Rows and vectors share one table here, so the embedded backend's "a passage without a vector" cannot
happen; what can still disagree is checked: each passage's vector against the one its stored sentence
vectors give (a restore from another database, a manual UPDATE, a bug), each passage's `tsvector` against
its title and text, the recorded totals BM25 uses, the HNSW index (present and valid), the vector column's
dimension, and the meta (model, dimension, schema version). Repair runs in one transaction under the
reindex lock and never embeds anything.
"""

from __future__ import annotations

import numpy as np

from .._doctor import VECTOR_AGREEMENT, DoctorReport, Problem
from .._errors import IndexNotBuiltError
from .._store import blob_to_vector
from .._vectors import passage_vector
from ._postgres import PostgresStorage
from ._postgres_schema import SCHEMA_VERSION
from ._postgres_writer import TITLE_WEIGHT, PostgresWriter

_WORDS = 'archivebot_words(a.title, substr(a.body, p.start + 1, p."end" - p.start))'
# Passages whose postings or length are not what their title and text give.
_STALE_TERMS = f"""
SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_row
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(o.lexeme, o.frequency) AS stored, min(o.length) AS low, max(o.length) AS high
    FROM postings o WHERE o.passage_id = p.id
) s ON true
WHERE coalesce(s.stored, '{{}}'::jsonb) IS DISTINCT FROM (
        SELECT coalesce(jsonb_object_agg(e.key, e.value::real), '{{}}'::jsonb)
        FROM jsonb_each_text(archivebot_term_frequencies({_WORDS})) e)
   OR p.token_count IS DISTINCT FROM archivebot_word_count({_WORDS})
   OR s.low IS DISTINCT FROM s.high OR s.low IS DISTINCT FROM p.token_count
ORDER BY p.id
"""
_REPAIR_LENGTHS = f"""
UPDATE passages p SET token_count = archivebot_word_count({_WORDS})
FROM articles a WHERE a.id = p.article_row AND p.id = ANY(%s::bigint[])
"""
_REPAIR_POSTINGS = f"""
INSERT INTO postings (lexeme, passage_id, frequency, length)
SELECT e.key, p.id, e.value::real, p.token_count
FROM passages p JOIN articles a ON a.id = p.article_row,
     jsonb_each_text(archivebot_term_frequencies({_WORDS})) e
WHERE p.id = ANY(%s::bigint[])
"""


async def _wrong_vectors(writer: PostgresWriter) -> tuple[dict[int, np.ndarray], int]:
    """Passages whose stored vector is not the one their sentences give: {id: the right vector}, and how many
    passages have sentence vectors that cannot make one (missing or of the wrong size)."""
    stored = await writer.all_passage_vectors()
    right: dict[int, np.ndarray] = {}
    broken = 0
    async for passage_id, blobs, title in writer.passage_vector_sources():
        try:
            expected = passage_vector(
                [blob_to_vector(b) for b in blobs], blob_to_vector(title) if title else None, TITLE_WEIGHT
            )
        except ValueError:
            broken += 1
            continue
        vector = stored.get(passage_id)
        norm = float(np.linalg.norm(vector)) if vector is not None else 0.0
        if (
            vector is None
            or vector.shape != expected.shape
            or not float(np.dot(expected, vector)) / (norm or 1.0) >= VECTOR_AGREEMENT
        ):
            right[passage_id] = expected
    return right, broken


async def _inspect(
    storage: PostgresStorage, writer: PostgresWriter, expected_model: str | None, expected_dimension: int | None
) -> tuple[DoctorReport, dict[int, np.ndarray], list[int]]:
    meta = await writer.get_meta()
    if "generation" not in meta:
        raise IndexNotBuiltError(f"the archive at {storage.location} has not been indexed yet: run `archivebot index`")
    dimension = int(meta.get("dimension", "0") or 0)
    report = DoctorReport(storage.location, int(meta["generation"]), meta.get("model"), dimension)
    report.counts = await storage.counts()
    problems = report.problems
    schema = await storage.schema()
    if schema["schema_version"] != SCHEMA_VERSION:
        problems.append(
            Problem("schema_version", f"schema version {schema['schema_version']}, expected {SCHEMA_VERSION}", 1, False)
        )
    if expected_model and meta.get("model") != expected_model:
        problems.append(
            Problem(
                "model",
                f"indexed with {meta.get('model')!r}, configured {expected_model!r}: run `archivebot index`",
                1,
                False,
            )
        )
    if expected_dimension and dimension != expected_dimension:
        problems.append(Problem("dimension", f"{dimension} dims, the model gives {expected_dimension}", 1, False))
    if report.counts["passages"] and schema["dimension"] != dimension:
        problems.append(
            Problem(
                "vector_column",
                f"the vector column holds {schema['dimension']} dims, the meta says {dimension}",
                1,
                False,
            )
        )
    if not await writer.vector_index_valid():
        problems.append(Problem("vector_index", "the HNSW index on passages.embedding is missing or invalid"))
    right, broken = await _wrong_vectors(writer)
    if right:
        problems.append(
            Problem(
                "wrong_vectors",
                f"{len(right)} passage vector(s) do not match their stored sentence vectors",
                len(right),
            )
        )
    if broken:
        problems.append(
            Problem(
                "broken_sentences", f"{broken} passage(s) have missing or malformed sentence vectors", broken, False
            )
        )
    stale = [int(row[0]) for row in await writer.fetch(_STALE_TERMS)]
    if stale:
        problems.append(Problem("stale_terms", f"{len(stale)} passage(s) have out-of-date full-text data", len(stale)))
    totals = await writer.actual_totals()
    if any(meta.get(key) != str(value) for key, value in totals.items()):
        problems.append(Problem("totals", "the recorded passage count or word total is out of date"))
    return report, right, stale


async def check(
    storage: PostgresStorage, *, expected_model: str | None = None, expected_dimension: int | None = None
) -> DoctorReport:
    """Read-only check (one snapshot; safe while questions are answered and while a reindex runs)."""
    async with storage.inspector() as writer:
        report, _, _ = await _inspect(storage, writer, expected_model, expected_dimension)
    return report


async def repair(storage: PostgresStorage, *, expected_model: str | None = None) -> DoctorReport:
    """Fix what is repairable in one transaction under the reindex lock (`IndexBusyError` during a reindex),
    then check again; `repaired` lists what was done."""
    done: list[str] = []
    async with storage.writer() as writer, writer.transaction():
        report, right, stale = await _inspect(storage, writer, expected_model, None)
        codes = {problem.code for problem in report.problems}
        if right:
            await writer.set_passage_vectors(right)
            done.append(f"recomputed {len(right)} passage vector(s) from their stored sentence vectors")
        if stale:
            await writer.execute("DELETE FROM postings WHERE passage_id = ANY(%s::bigint[])", (stale,))
            await writer.execute(_REPAIR_LENGTHS, (stale,))
            await writer.execute(_REPAIR_POSTINGS, (stale,))
            done.append(f"rebuilt the full-text data of {len(stale)} passage(s)")
        if "vector_index" in codes:
            await writer.rebuild_vector_index()
            done.append("rebuilt the HNSW vector index")
        if right or stale or "totals" in codes:
            await writer.refresh_totals()
            if "totals" in codes:
                done.append("recorded the passage count and word total again")
    after = await check(storage, expected_model=expected_model)
    after.repaired = done
    return after
