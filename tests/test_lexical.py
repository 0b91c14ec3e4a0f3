"""Which question terms the full-text search uses (`lexical_terms`): every term on ordinary archives, the
rarer ones on very large archives."""

from __future__ import annotations

import re

from index.answering.lexical import _WORD, LEXICAL_LIMIT_FROM, lexical_terms, words


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


def test_words_lowers_the_whole_text_and_finds_what_lowering_each_word_finds() -> None:
    def each(text: str) -> list[str]:  # the definition: each word found, then lowered
        return [word.lower().replace("’", "'") for word in _WORD.findall(text)]

    for text in (
        "Mr O’Neill's £1.2bn BID for Café Nero's shares (UK) rose 3.5%",
        "İstanbul and İZMİR",  # "İ" lowers to two characters
        "ΟΔΟΣ ΣΑΣ Σ",  # a final sigma lowers by what follows it
        "ǅemal ẞ ﬁne Ⅻ ① a_b",
    ):
        assert words(text) == each(text)
    assert re.fullmatch(r"[a-z0-9' ]+", " ".join(words("IT’S THE BBC'S 2005 VOTE")))
