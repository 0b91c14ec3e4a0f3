"""The sentence splitter and passage builder: boundaries on news text's hard cases, exact offsets."""

from __future__ import annotations

import pytest
from conftest import SEED_FILE

from index.reading.text import Span, build_passages, split_sentences


def sentences(text: str) -> list[str]:
    return [text[span.start : span.end] for span in split_sentences(text)]


def assert_well_formed(text: str, spans: list[Span]) -> None:
    """Spans are ordered, disjoint, inside the text, trimmed, and never cut a word in half."""
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip()
        assert span.start == 0 or not (text[span.start - 1].isalnum() and text[span.start].isalnum())
        assert span.end == len(text) or not (text[span.end - 1].isalnum() and text[span.end].isalnum())
        previous_end = span.end
    # Nothing but whitespace and punctuation is left between sentences.
    covered = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    left_over = "".join(ch for i, ch in enumerate(text) if i not in covered)
    assert not any(ch.isalnum() for ch in left_over), left_over


# ---- the seed's hard cases ---------------------------------------------------------------------------


def test_seed_sentence_with_honorifics_acronyms_and_abbreviated_month() -> None:
    text = (
        "North Korea’s official Korean Central News Agency confirmed later Friday that the letter from "
        "Mr. Obama to Mr. Kim had been handed to First Vice Minister of Foreign Affairs Kang Sok-ju, considered "
        "the mastermind of the North’s nuclear policy, by U.S. envoy Stephen Bosworth on Dec. 9. It gave no "
        "other details."
    )
    assert sentences(text) == [text[: text.index(" It gave")], "It gave no other details."]


@pytest.mark.parametrize(
    "text",
    [
        "The offer was in a letter that Mr. Obama’s first envoy delivered last week.",
        "The letter was handed over by U.S. envoy Stephen Bosworth in Pyongyang.",
        "North Korea was hit with fresh U.N. sanctions after a nuclear test in May, its second.",
        "Dr. Jones and Mrs. Smith met Gov. Brown and Sen. Clinton at St. Paul’s.",
        "Profits rose 3.5% to $1.5bn, up from 2.25 billion euros, at 10.30 GMT.",
        "J. K. Rowling and George W. Bush were both mentioned.",
        "The talks — which began on Jan. 3 — were, he said, “a step forward” for the region.",
        "Acme Inc. in London said it would hire 200 people.",
        "The meeting ended at 5 p.m. on Friday without a deal.",
        "He won the No. 1 spot and vol. 2 sold out.",
        "Sales of the U.S. iPod rose, e.g. eBay listings.",
    ],
)
def test_abbreviations_initials_and_decimals_do_not_end_a_sentence(text: str) -> None:
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He arrived on Dec. 9. It gave no details.", ["He arrived on Dec. 9.", "It gave no details."]),
        ("Sales rose in the U.S. The firm said so.", ["Sales rose in the U.S.", "The firm said so."]),
        ("He joined Acme Inc. The company grew.", ["He joined Acme Inc.", "The company grew."]),
        ("It was 5 p.m. The show began.", ["It was 5 p.m.", "The show began."]),
        ("Is it? Yes. No! Maybe…", ["Is it?", "Yes.", "No!", "Maybe…"]),
        ("Wait... What happened?", ["Wait...", "What happened?"]),
        ("He won in 2004. 2005 was worse.", ["He won in 2004.", "2005 was worse."]),
        ("He said the answer was no. Then he left.", ["He said the answer was no.", "Then he left."]),
        ('He replied: "No. Definitely not."', ['He replied: "No.', 'Definitely not."']),
        (
            "It spans the 15th century to World War I. But experts disagree.",
            ["It spans the 15th century to World War I.", "But experts disagree."],
        ),
        ("She used to sing R&B. She now sings jazz.", ["She used to sing R&B.", "She now sings jazz."]),
        (
            "Apple launched the iPod. iTunes followed. eBay grew.",
            ["Apple launched the iPod.", "iTunes followed.", "eBay grew."],
        ),
    ],
)
def test_real_sentence_ends_are_found(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_curly_and_straight_closing_quotes_stay_with_their_sentence() -> None:
    text = "“We will win,” he said. “No doubt about it.” Then he left. She said 'enough.' They agreed."
    assert sentences(text) == [
        "“We will win,” he said.",
        "“No doubt about it.”",
        "Then he left.",
        "She said 'enough.'",
        "They agreed.",
    ]


def test_a_lower_case_continuation_after_a_quote_is_one_sentence() -> None:
    text = "“It is over.” he said, and “Why?” she asked."
    assert sentences(text) == [text]


def test_dashes_do_not_split_and_brackets_close_with_the_sentence() -> None:
    text = "Growth was strong – really strong — in 2004. Others (including the IMF.) Disagreed."
    assert sentences(text) == [
        "Growth was strong – really strong — in 2004.",
        "Others (including the IMF.)",
        "Disagreed.",
    ]


def test_line_breaks_are_hard_boundaries() -> None:
    text = "A heading without a stop\n\nThe first paragraph. Its second sentence.\nA list item"
    assert sentences(text) == [
        "A heading without a stop",
        "The first paragraph.",
        "Its second sentence.",
        "A list item",
    ]


def test_empty_and_punctuation_only_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []
    assert split_sentences("... — !") == []


# ---- offsets ---------------------------------------------------------------------------------------------


def test_offsets_are_exact_on_the_seed_body() -> None:
    from index.reading.files import ArchiveFile
    from index.reading.parse import parse_file

    articles, _ = parse_file(ArchiveFile(SEED_FILE.parent, SEED_FILE), 10_000_000)
    body = articles[0].body
    spans = split_sentences(body)
    assert_well_formed(body, spans)
    texts = [body[s.start : s.end] for s in spans]
    assert "It gave no other details." in texts
    assert any(t.startswith("The offer was in a letter") and "Mr. Obama’s first envoy" in t for t in texts)
    assert "North Korea was hit with fresh U.N. sanctions after a nuclear test in May, its second." in texts
    assert any(t.startswith("“North Korea is looking") and t.endswith("an unidentified source said.") for t in texts)


def test_offsets_survive_leading_whitespace_non_ascii_and_a_sub_range() -> None:
    text = "\u00a0 Zürich’s mayor spoke.  Café owners cheered!\n\n  “Très bien,” one said. "
    spans = split_sentences(text)
    assert_well_formed(text, spans)
    assert [text[s.start : s.end] for s in spans] == [
        "Zürich’s mayor spoke.",
        "Café owners cheered!",
        "“Très bien,” one said.",
    ]
    start = text.index("Café")
    inner = split_sentences(text, start, len(text))
    assert [text[s.start : s.end] for s in inner] == ["Café owners cheered!", "“Très bien,” one said."]
    assert all(s.start >= start for s in inner)


def test_spans_are_well_formed_on_messy_text() -> None:
    text = (
        "Mr. A. B. Smith (of the U.S.A.) said: “Sales fell 4.5%… to $3.2bn!” Really? yes.\n"
        "  \n"
        "—Then— the U.K. govt. (i.e. Whitehall) said no. 10 Downing St. agreed.\t\n"
        "ok"
    )
    assert_well_formed(text, split_sentences(text))


# ---- passages ---------------------------------------------------------------------------------------------


def _seed_spans() -> tuple[str, list[Span]]:
    from index.reading.files import ArchiveFile
    from index.reading.parse import parse_file

    articles, _ = parse_file(ArchiveFile(SEED_FILE.parent, SEED_FILE), 10_000_000)
    body = articles[0].body
    return body, split_sentences(body)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_passages_cover_every_sentence_in_order(size: int) -> None:
    body, spans = _seed_spans()
    passages = build_passages(spans, size=size)
    covered: list[int] = []
    for passage in passages:
        assert 0 <= passage.first_sentence <= passage.last_sentence < len(spans)
        assert passage.last_sentence - passage.first_sentence + 1 <= size
        assert passage.start == spans[passage.first_sentence].start
        assert passage.end == spans[passage.last_sentence].end
        assert body[passage.start : passage.end].startswith(
            body[spans[passage.first_sentence].start : spans[passage.first_sentence].end]
        )
        covered.extend(range(passage.first_sentence, passage.last_sentence + 1))
    assert sorted(set(covered)) == list(range(len(spans)))
    starts = [p.first_sentence for p in passages]
    assert starts == sorted(set(starts))  # each passage starts later than the one before


def test_passages_of_three_overlap_by_one_sentence() -> None:
    _, spans = _seed_spans()
    assert len(spans) >= 7  # enough sentences for several overlapping passages
    passages = build_passages(spans, size=3, max_chars=10_000)
    # Three sentences each, every passage starting on the last sentence of the one before; the last may be shorter.
    last = len(spans) - 1
    expected = [(first, min(first + 2, last)) for first in range(0, last, 2)]
    assert [(p.first_sentence, p.last_sentence) for p in passages] == expected


def test_max_chars_limits_passages_but_never_drops_a_long_sentence() -> None:
    body, spans = _seed_spans()
    passages = build_passages(spans, size=3, max_chars=200)
    for passage in passages:
        if passage.last_sentence > passage.first_sentence:
            assert passage.end - passage.start <= 200
    assert {i for p in passages for i in range(p.first_sentence, p.last_sentence + 1)} == set(range(len(spans)))
    assert any(spans[i].end - spans[i].start > 200 for i in range(len(spans)))  # the seed has such a sentence


def test_no_sentences_no_passages() -> None:
    assert build_passages([]) == []
