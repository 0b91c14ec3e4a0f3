"""The question-constraints stage: what is extracted from a question, what counts as agreeing (paraphrase
is not a miss), and the reason given when the archive has something else."""

from __future__ import annotations

import pytest

from index.answering.agreement import Rule, verdict
from index.answering.constraints import Evidence, check, extract, reason


def kinds(question: str) -> list[tuple[str, str]]:
    return [(c.kind, c.text) for c in extract(question)]


def missing(question: str, sentence: str, body: str = "", title: str = "", published: str | None = None) -> list[str]:
    evidence = Evidence(sentence, sentence, title, body or sentence, published)
    return [c.constraint.text for c in check(extract(question), evidence) if c.missing]


def test_years_numbers_entities_places_and_qualifiers_are_extracted():
    assert kinds("Who won best actor at the 2007 Bafta film awards?") == [
        ("year", "2007"),
        ("outcome", "won"),
        ("entity", "bafta"),
    ]
    assert ("number", "ten") in kinds("What did it cost in the ten years after it closed?")
    assert ("number", "fourth") in kinds("Who scored the fourth goal?")
    assert ("outcome", "convicted") in kinds("When was Victor Conte convicted?")
    assert kinds("What share of the market does B&B have?") == []  # letters alone can't be checked
    assert ("number", "40") in kinds("Which firm paid $40 million in 2005?")
    assert ("year", "2005") in kinds("Which firm paid $40 million in 2005?")
    assert ("qualifier", "north-east") in kinds("How many homes are planned in north-east England?")
    assert ("qualifier", "women's") in kinds("What did he say about the women's tennis body?")
    assert ("place", "french") in kinds("How much did it take at the French box office?")
    # a question word or a title opening a span is not part of the name; a possessive is dropped
    assert kinds("Where was Munster's cup tie played?") == [("entity", "munster")]
    assert kinds("What did Mr Victor Wong say?") == [("entity", "victor wong")]
    assert ("entity", "death of a salesman") in kinds("Who stars in Death of a Salesman?")


def test_a_country_inside_a_longer_span_is_a_place_of_its_own():
    assert kinds("What growth does the UNECE forecast for central European EU members?") == [
        ("entity", "unece"),
        ("place", "european"),
    ]


def test_a_question_without_constraints_has_none():
    assert extract("How much did they pay?") == ()
    assert extract("what is the boiling point of liquid nitrogen?") == ()


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("What did British retailers report?", "UK retailers reported weak sales."),
        ("What did UK retailers report?", "Retailers in Britain reported weak sales."),
        ("What did UK retailers report?", "Retailers across the United Kingdom reported weak sales."),
        ("What did US retailers report?", "American retailers reported weak sales."),
        ("What did American retailers report?", "Retailers in the United States reported weak sales."),
        ("What did American retailers report?", "Retailers in the U.S. reported weak sales."),
        ("What did Malaysian banks say?", "Banks in Malaysia said so."),
        ("Who won the 2005 Six Nations?", "Wales won the 2004-05 Six Nations."),
        ("Who won the Bafta in 2005?", "Jamie Foxx won two Baftas in 2005."),
    ],
)
def test_paraphrase_is_not_a_miss(question, sentence):
    assert missing(question, sentence) == []


def test_the_pronoun_us_is_not_the_us():
    assert missing("What did American retailers report?", "Retailers told us sales fell.") == ["american"]


def test_this_year_in_an_article_dated_that_year_is_the_year():
    question = "Who directed the Meltdown festival in 2005?"
    body = "Patti Smith has been made artistic director of this year's Meltdown festival."
    assert missing(question, body, published="2005-03-01") == []
    assert missing(question, body, published="2004-03-01") == ["2005"]
    assert missing(question, body) == ["2005"]  # undated: "this year" can't be read
    assert missing("Who directs Meltdown in 2006?", "Meltdown moves next year.", published="2005-01-01") == []


def test_a_surname_is_enough_in_the_sentence_when_the_article_names_the_whole_person():
    body = "Victor Wong runs the firm. Sales rose. Mr Wong said so."
    checks = check(extract("What did Victor Wong say?"), Evidence("Mr Wong said so.", "Mr Wong said so.", "T", body))
    assert checks[0].level == "sentence"
    other = "Sales rose. Mr Wong said so."  # the article never names Victor Wong: another Wong
    assert check(extract("What did Victor Wong say?"), Evidence("Mr Wong said so.", other, "T", other))[0].missing
    # a last word alone is no name: "Film Festival" in the sentence is not the Cairo International Film Festival
    sentence = "She won at the film festival."
    cairo = extract("Who won at the Cairo International Film Festival?")
    assert [c.level for c in check(cairo, Evidence(sentence, sentence, "T", sentence))][-1] == "absent"


def test_levels_are_the_narrowest_place_a_constraint_is_found():
    evidence = Evidence("He won.", "Federer won in 2005. He won.", "Federer wins", "Federer won in 2005. He won.")
    levels = {c.constraint.text: c.level for c in check(extract("Who played Federer in 2005?"), evidence)}
    assert levels == {"2005": "passage", "federer": "passage"}


def test_wrong_year_place_person_and_qualifier_are_missing_with_the_value_found_instead():
    question = "Who won best actor at the 2007 Bafta film awards?"
    sentence = "Jamie Foxx won best actor at the Bafta film awards in 2005."
    checks = check(extract(question), Evidence(sentence, sentence, "Foxx wins", sentence))
    (miss,) = [c for c in checks if c.missing]
    assert reason(miss, question, "Foxx wins") == "The archive has the Bafta film awards of 2005, not 2007"

    question = "How much did Boogeyman take at the French box office?"
    sentence = "Boogeyman took £788,439 at the UK box office."
    (miss,) = [c for c in check(extract(question), Evidence(sentence, sentence, "Boogeyman", sentence)) if c.missing]
    assert reason(miss, question, "Boogeyman") == 'The closest article ("Boogeyman") is about the UK, not France'

    question = "How many homes are planned for north-east England?"
    sentence = "Plans for 200,000 homes in south-east England were criticised."
    (miss,) = [c for c in check(extract(question), Evidence(sentence, sentence, "Homes", sentence)) if c.missing]
    assert "south-east, not north-east" in reason(miss, question, "Homes")

    assert missing("Which Celtic winger was sent off?", "Hearts winger Mikoliunas was sent off.") == ["celtic"]


def test_an_earlier_turns_entity_is_a_constraint_of_the_follow_up():
    constraints = extract("How much did they pay?", ["Who bought Bay Bakery?"])
    assert [(c.kind, c.text, c.origin) for c in constraints] == [("entity", "bay bakery", "context")]
    # the follow-up's own names come first; an earlier name it repeats is not added twice
    again = extract("How much did Bay Bakery cost?", ["Who bought Bay Bakery?"])
    assert [(c.text, c.origin) for c in again] == [("bay bakery", "question")]


def test_the_rule_declines_cautions_or_ignores_by_kind():
    from index._rows import ArticleRow
    from index.answering.agreement import Agreement
    from index.answering.candidates import Candidate, Scored
    from index.answering.lexical import words

    body = "Jamie Foxx won best actor at the Bafta film awards in 2005."
    fields = {"location": "bbc/x.txt", "path": "x", "title_derived": False, "source": None, "published": None}
    fields |= {"dateline": None, "byline": None, "url": None, "content_hash": "h", "indexed_at": "t"}
    article = ArticleRow(row=1, article_id="a1", title="Foxx wins", body=body, **fields)
    question = "Who won best actor at the 2007 Bafta film awards?"
    weights = {word: 5.0 for word in words(question)}
    agreement = Agreement(extract(question), {}, {1: article}, {(1, 0): body}, weights, passages_total=100)
    first = Scored(Candidate((1, 0), body, None), 0.9, 0.5, 0.5, 0.5, True)
    declined = verdict(first, agreement, Rule({"year": "decline"}), question)
    assert declined.not_found_reason == "The archive has the Bafta film awards of 2005, not 2007"
    cautioned = verdict(first, agreement, Rule({"year": "caveat"}), question)
    assert cautioned.not_found_reason is None and cautioned.caveats == (declined.not_found_reason,)
    entity = Rule({"entity": "caveat"})
    said = verdict(
        first,
        Agreement(extract("Who won at the Cairo Bafta?"), {}, {1: article}, {(1, 0): body}, weights),
        entity,
        "Who won at the Cairo Bafta?",
    )
    assert said.caveats == ('The quoted article ("Foxx wins") does not mention Cairo Bafta',)
    assert verdict(first, agreement, Rule({"year": "ignore"}), question).caveats == ()
    rare_only = verdict(first, agreement, Rule({"year": "decline"}, min_rarity=0.99), question)
    assert rare_only.not_found_reason is None  # "2007" is not rare enough to count under this rule
