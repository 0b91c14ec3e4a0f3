"""SQL shared by the PostgreSQL backend's writer and its doctor snapshot (one text per statement)."""

from __future__ import annotations

# A passage's words from its article's title and its own text (see `archivebot_words` in the schema).
PASSAGE_WORDS = 'archivebot_words(a.title, substr(a.body, p.start + 1, p."end" - p.start))'
# The same for the text the pg_textsearch index ranks (`passages.words`; see `archivebot_bm25_text`).
PASSAGE_BM25_TEXT = 'a.title, substr(a.body, p.start + 1, p."end" - p.start)'

# The stems of an article's passages into the inverted index BM25 reads (title words counted twice).
POSTINGS_OF_PASSAGES = f"""
INSERT INTO postings (lexeme, passage_id, frequency, length)
SELECT e.key, p.id, e.value::real, p.token_count
FROM passages p JOIN articles a ON a.id = p.article_row,
     jsonb_each_text(archivebot_term_frequencies({PASSAGE_WORDS})) e
WHERE p.id = ANY(%s::bigint[])
"""
WORD_COUNTS_OF_PASSAGES = f"""
UPDATE passages p
SET token_count = archivebot_word_count({PASSAGE_WORDS}), words = archivebot_bm25_text({PASSAGE_BM25_TEXT})
FROM articles a WHERE a.id = p.article_row AND p.id = ANY(%s::bigint[])
"""
# Passages whose postings or length are not what their title and text give.
STALE_POSTINGS = f"""
SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_row
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(o.lexeme, o.frequency) AS stored, min(o.length) AS low, max(o.length) AS high
    FROM postings o WHERE o.passage_id = p.id
) s ON true
WHERE s.stored IS NOT NULL AND (
    s.stored IS DISTINCT FROM (
        SELECT coalesce(jsonb_object_agg(e.key, e.value::real), '{{}}'::jsonb)
        FROM jsonb_each_text(archivebot_term_frequencies({PASSAGE_WORDS})) e)
    OR p.token_count IS DISTINCT FROM archivebot_word_count({PASSAGE_WORDS})
    OR p.words IS DISTINCT FROM archivebot_bm25_text({PASSAGE_BM25_TEXT})
    OR s.low IS DISTINCT FROM s.high OR s.low IS DISTINCT FROM p.token_count
)
ORDER BY p.id
"""
# Each passage's id, its sentences' stored vectors in order and its title's vector ({where}: a filter or "").
PASSAGE_VECTOR_SOURCES = """
SELECT p.id, array_agg(s.vector ORDER BY s.ordinal), min(a.title_vector) FROM passages p
JOIN sentences s ON s.article_row = p.article_row AND s.ordinal BETWEEN p.first_sentence AND p.last_sentence
JOIN articles a ON a.id = p.article_row {where}
GROUP BY p.id ORDER BY p.id
"""
