"""Which question terms the full-text search uses (`lexical_terms`): every term on ordinary archives, the
rarer ones on very large archives."""

from __future__ import annotations

from index.answering.lexical import LEXICAL_LIMIT_FROM, lexical_terms


def test_large_archives_leave_very_common_terms_out_of_the_full_text_search() -> None:
    terms = ["government", "said", "tuition", "fees"]
    small = {"government": 900, "said": 9_000, "tuition": 12, "fees": 40}
    assert lexical_terms(terms, small, 19_000) == terms  # below the limit every term is searched
    total = 1_000_000
    large = {"government": 40_000, "said": 600_000, "tuition": 600, "fees": 2_000}
    assert total > LEXICAL_LIMIT_FROM
    assert lexical_terms(terms, large, total) == ["tuition", "fees"]  # question order kept
    common = {"government": 40_000, "said": 600_000, "tuition": 30_000, "fees": 20_000}
    assert lexical_terms(terms, common, total) == ["tuition", "fees"]  # at least the two rarest
    assert lexical_terms(["said"], common, total) == ["said"]
    assert lexical_terms([], common, total) == []
