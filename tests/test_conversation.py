"""Follow-up questions (conversation context) and relative dates, in the engine: no Discord here.

A small dated archive (fake embedder): two business stories that both talk about cutting jobs, and two
storms at the same harbour months apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index import Archive, HashEmbedder, Settings, Turn
from index.answering.conversation import changes_subject, refers_back, resolve
from index.operations.evaluation import evaluate, load_questions

ARTICLES = {
    "acme.md": (
        "Acme buys Widget Works",
        "2005-01-10",
        "Acme Corporation has bought the toy maker Widget Works for $40m, the companies said on Monday.\n\n"
        "The company also said it would cut 300 jobs at its Leeds factory by the end of the year.\n\n"
        "Widget Works was founded in 1952 and makes wooden trains.",
    ),
    "zeta.md": (
        "Zeta Bank to cut jobs",
        "2005-03-02",
        "Zeta Bank will cut 900 jobs in a cost-cutting drive, its chief executive said.\n\n"
        "The jobs will go over two years, mostly in back-office roles, the bank said.\n\n"
        "Zeta Bank reported profits of $2bn for last year.",
    ),
    "storm.md": (
        "Storm closes harbour",
        "2004-11-20",
        "A storm closed the harbour at Porthmadog on Friday, the coastguard said.\n\n"
        "Gusts reached 90mph and ferries were cancelled for the day.",
    ),
    "storm2.md": (
        "Second storm closes harbour",
        "2005-02-25",
        "A second storm closed the harbour at Porthmadog on Thursday, the coastguard said.\n\n"
        "Gusts reached 70mph and two fishing boats were damaged.",
    ),
}


@pytest.fixture
async def dated(tmp_path: Path):
    root = tmp_path / "news"
    root.mkdir()
    for name, (title, published, body) in ARTICLES.items():
        front = f"---\ntitle: {title}\ndate: {published}\nsource: Test Wire\n---\n"
        (root / name).write_text(front + body + "\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", archive_roots=(root,), min_confidence=0.05)
    archive = await Archive.open(settings, embedder=HashEmbedder(256))
    await archive.reindex()
    yield archive
    await archive.close()


def test_a_question_that_refers_back_is_a_follow_up() -> None:
    earlier = [Turn("Who bought Widget Works?")]
    for question in ("How many jobs did they cut?", "And when was it founded?", "How many jobs did the company cut?"):
        text, context = resolve(question, earlier)
        assert text == question and context.questions == ("Who bought Widget Works?",), question
        assert "widget" in context.terms


def test_a_question_with_its_own_subject_or_a_change_of_subject_is_answered_alone() -> None:
    earlier = ["Who bought Widget Works?"]
    assert not resolve("How many jobs will Zeta Bank cut?", earlier)[1]
    text, context = resolve("Different question: who founded Widget Works?", earlier)
    assert (text, bool(context)) == ("Who founded Widget Works?", False)
    assert changes_subject("Changing the subject, how fast was the storm?") == ("How fast was the storm?", True)
    assert changes_subject("A different kettle of fish?") == ("A different kettle of fish?", False)
    assert not resolve("How many jobs did they cut?", [])[1]  # nothing earlier


def test_only_the_turns_since_the_last_change_of_subject_count() -> None:
    history = ["Who bought Widget Works?", "Different question: how many jobs will Zeta Bank cut?"]
    _, context = resolve("Over how many years will they go?", history)
    assert context.questions == ("How many jobs will Zeta Bank cut?",)
    assert not refers_back("What is the capital of Australia?", [Turn("Who bought Widget Works?")])


async def test_a_follow_up_is_answered_from_the_earlier_turns_article(dated: Archive) -> None:
    first = await dated.ask("Who bought Widget Works?")
    assert first.quotes and first.quotes[0].title == "Acme buys Widget Works"
    cited = tuple(quote.article_id for quote in first.quotes)
    alone = await dated.ask("How many jobs will be cut?")
    assert alone.quotes[0].title == "Zeta Bank to cut jobs" and alone.following_up_on == ()
    follow_up = await dated.ask("How many jobs will be cut?", history=[Turn("Who bought Widget Works?", cited)])
    assert follow_up.quotes[0].title == "Acme buys Widget Works"
    assert follow_up.following_up_on == ("Who bought Widget Works?",)
    assert follow_up.to_dict()["following_up_on"] == ["Who bought Widget Works?"]
    switched = await dated.ask("Different question: how many jobs will Zeta Bank cut?", history=[first.question])
    assert switched.quotes[0].title == "Zeta Bank to cut jobs" and switched.following_up_on == ()


async def test_relative_dates_are_read_against_the_archives_newest_article(dated: Archive) -> None:
    plain = await dated.ask("When did a storm close the harbour at Porthmadog?")
    assert plain.date_note is None and "date_note" not in plain.to_dict()
    for question in ("What was the latest storm to close the harbour?", "Which storm closed the harbour this year?"):
        answer = await dated.ask(question)
        assert answer.quotes[0].title == "Second storm closes harbour", question
        assert answer.date_note and "2005-03-02" in answer.date_note  # the newest article, not the clock
    last_year = await dated.ask("Which storm closed the harbour last year?")
    assert last_year.quotes[0].title == "Storm closes harbour"
    assert last_year.date_note and "2004-01-01 to 2004-12-31" in last_year.date_note


async def test_eval_reads_conversations_and_reports_follow_ups_with_and_without_history(
    dated: Archive, tmp_path: Path
) -> None:
    lines = [
        {
            "turns": [
                {"q": "Who bought Widget Works?", "answers": ["Acme"], "article": "news/acme.md"},
                {"q": "How many jobs will be cut?", "answers": ["300 jobs"], "article": "news/acme.md"},
            ]
        },
        {"q": "How many jobs will Zeta Bank cut?", "answers": ["900 jobs"], "article": "news/zeta.md"},
    ]
    path = tmp_path / "conversations.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    questions = load_questions(path)
    assert [(q.conversation, q.turn) for q in questions] == [(1, 0), (1, 1), (None, 0)]
    result = await evaluate(dated, questions)
    assert result["followups"] == 1
    assert result["followup_answer_in_quote"] == 1.0 and result["followup_citation_at_1"] == 1.0
    assert result["followup_citation_at_1_without_history"] == 0.0  # alone, it cites Zeta Bank
    assert 0.0 <= result["answer_in_top_quote"] <= result["answer_in_quote"]
