"""Follow-ups carry their constraints: two similar takeover stories; after "Who bought Bay Bakery?" the
follow-ups "How much did they pay?" and "When was it announced?" are answered from Bay Bakery's story (its
$40 million, its Monday), never declined and never quoting the other company's figures. Through the CLI's
`ask --json -` history lines and through the fake Discord, in the bot's thread and as a reply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bot_fixtures import Harness, write_bot_archive
from click.testing import CliRunner

from bot.cli import cli
from index import HashEmbedder, Settings

pytest_plugins = ["bot_fixtures"]

FIRST = "Who bought Bay Bakery?"
HOW_MUCH = "How much did they pay?"
WHEN = "When was it announced?"
STORIES = {
    "bay.md": (
        "Harbor Foods buys Bay Bakery",
        "Harbor Foods has bought the family-owned Bay Bakery for $40 million, the company announced on Monday.\n\n"
        "The bakery's 200 staff will keep their jobs, Harbor Foods said.",
    ),
    "river.md": (
        "Coast Mills buys River Bread",
        "Coast Mills has bought the River Bread chain for $55 million, it announced on Tuesday.\n\n"
        "Coast Mills said it would pay for the deal in cash and announced a new chief executive.",
    ),
}


def write_stories(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, (title, body) in STORIES.items():
        (root / name).write_text(f"---\ntitle: {title}\nsource: Test Wire\ndate: 2005-01-10\n---\n\n{body}\n")
    return root


def _first_quote(answer: dict[str, Any]) -> str:
    return str(answer["quotes"][0]["text"]) if answer["quotes"] else ""


def test_follow_ups_through_ask_json_history_lines(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        obj = {"settings": settings, "embedder": HashEmbedder(256)}
        return runner.invoke(cli, list(args), obj=obj, input=input, catch_exceptions=False)

    assert invoke("index", str(write_stories(tmp_path / "archive")), "--json").exit_code == 0
    lines = [
        json.dumps({"q": FIRST}),
        json.dumps({"q": HOW_MUCH, "history": [FIRST]}),
        json.dumps({"q": WHEN, "history": [FIRST, HOW_MUCH]}),
    ]
    result = invoke("ask", "-", "--json", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    first, how_much, when = (json.loads(line) for line in result.stdout.splitlines())
    assert "Harbor Foods" in _first_quote(first)
    assert how_much["answered"] and how_much["not_found_reason"] is None, how_much
    assert "$40 million" in _first_quote(how_much), how_much
    quote = how_much["quotes"][0]
    assert quote["text"][quote["answer_start"] : quote["answer_end"]] == "$40 million"
    assert when["answered"], when
    assert "Monday" in _first_quote(when)
    assert not any("Tuesday" in q["text"] or "$55 million" in q["text"] for q in when["quotes"]), when
    assert not any("$55 million" in q["text"] for q in how_much["quotes"]), how_much


@pytest.fixture
def bot_archive_dir(tmp_path: Path) -> Path:
    return write_stories(write_bot_archive(tmp_path / "archive"))


def _description(message: dict[str, Any]) -> str:
    return str(message["embeds"][0].get("description", ""))


def _quotes_part(description: str) -> str:
    """The description after the "Following up on" line: the quotes and their citations."""
    return description.split("\n\n", 1)[1] if description.startswith("*Following up on") else description


async def _new_bot_message(h: Harness, channel_id: str, seen: int) -> dict[str, Any]:
    messages = await h.fake.wait_for(
        lambda: len(h.fake.bot_messages(channel_id)) > seen and h.fake.bot_messages(channel_id)
    )
    return dict(messages[-1])


@pytest.mark.e2e
@pytest.mark.parametrize("bot_overrides", [{"threads": True, "channels": frozenset()}])
async def test_follow_ups_in_the_bots_thread_keep_to_the_first_story(harness: Harness) -> None:
    h = harness
    await h.fake.message(h.fake.member, FIRST, mentions_bot=True)
    thread = await h.fake.wait_for(lambda: h.fake.threads and h.fake.threads[0])
    first = await _new_bot_message(h, thread["id"], 0)
    assert "Harbor Foods" in _description(first)
    await h.fake.message(h.fake.member, HOW_MUCH, channel_id=thread["id"])
    how_much = await _new_bot_message(h, thread["id"], 1)
    assert how_much["embeds"][0]["title"] != "Not found in the archive", _description(how_much)
    quotes = _quotes_part(_description(how_much))
    assert "**$40 million**" in quotes.split("\n")[0], quotes  # the answer phrase in bold, in the first quote
    assert "$55 million" not in quotes
    await h.fake.message(h.fake.member, WHEN, channel_id=thread["id"])
    when = await _new_bot_message(h, thread["id"], 2)
    quotes = _quotes_part(_description(when))
    assert "Monday" in quotes.split("\n")[0] and "Tuesday" not in quotes, quotes


@pytest.mark.e2e
async def test_a_follow_up_as_a_reply_keeps_to_the_first_story(harness: Harness) -> None:
    h = harness
    asked = await h.fake.message(h.fake.member, FIRST, mentions_bot=True)
    answer = await h.fake.wait_for(lambda: h.fake.replies.get(asked["id"]))
    follow_up = await h.fake.message(h.fake.member, HOW_MUCH, reply_to=answer)
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(follow_up["id"]))
    quotes = _quotes_part(_description(reply))
    assert reply["embeds"][0]["title"] != "Not found in the archive", quotes
    assert "$40 million" in quotes.split("\n")[0] and "$55 million" not in quotes, quotes
    again = await h.fake.message(h.fake.member, WHEN, reply_to=reply)
    when = await h.fake.wait_for(lambda: h.fake.replies.get(again["id"]))
    quotes = _quotes_part(_description(when))
    assert "Monday" in quotes.split("\n")[0] and "Tuesday" not in quotes, quotes


async def test_the_engine_declines_a_near_miss_with_its_reason_and_answers_the_paraphrase(
    archive: Any, tmp_path: Path
) -> None:
    """On the two stories: the wrong year or place is declined with what the archive has instead; a
    paraphrase of what it says (the year in the article's date, "US" for "American") is answered."""
    root = write_stories(tmp_path / "stories")
    (root / "bay.md").write_text(
        "---\ntitle: Harbor Foods buys Bay Bakery\nsource: Test Wire\ndate: 2005-01-10\n---\n\n"
        "American food group Harbor Foods has bought Bay Bakery for $40 million, it said in January 2005.\n"
    )
    await archive.reindex([root])
    wrong_year = await archive.ask("How much did Harbor Foods pay for Bay Bakery in 2007?")
    assert not wrong_year.answered and wrong_year.quotes == ()
    assert (
        wrong_year.not_found_reason and "2007" in wrong_year.not_found_reason and "2005" in wrong_year.not_found_reason
    )
    wrong_place = await archive.ask("How much did the French food group Harbor Foods pay for Bay Bakery?")
    assert not wrong_place.answered
    assert "is about the US, not France" in (wrong_place.not_found_reason or ""), wrong_place
    right = await archive.ask("How much did the US group Harbor Foods pay for Bay Bakery in 2005?")
    assert right.answered and right.not_found_reason is None, right
    assert "$40 million" in right.quotes[0].text


@pytest.mark.e2e
async def test_discord_says_why_it_declined_and_answers_a_message_with_no_question_briefly(harness: Harness) -> None:
    h = harness
    asked = await h.fake.message(
        h.fake.member, "How much did Harbor Foods pay for Bay Bakery in 2007?", mentions_bot=True
    )
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(asked["id"]))
    assert reply["embeds"][0]["title"] == "Not found in the archive"
    assert "not 2007" in _description(reply) or "2007" in _description(reply), _description(reply)
    empty = await h.fake.message(h.fake.member, 'source:"bbc"', mentions_bot=True)
    short = await h.fake.wait_for(lambda: h.fake.replies.get(empty["id"]))
    assert "there is no question in that" in short["content"] and not short.get("embeds"), short


def test_eval_reports_near_misses_answerable_declines_and_no_question_messages(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model="hash:256", min_confidence=0.05)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        obj = {"settings": settings, "embedder": HashEmbedder(256)}
        return runner.invoke(cli, list(args), obj=obj, catch_exceptions=False)

    assert invoke("index", str(write_stories(tmp_path / "archive")), "--json").exit_code == 0
    questions = tmp_path / "questions.jsonl"
    lines = [
        {"q": "How much did Harbor Foods pay for Bay Bakery?", "answers": ["$40 million"], "article": "bay.md"},
        {
            "q": "How much did Harbor Foods pay for Bay Bakery in 2007?",
            "answers": [],
            "article": None,
            "near": "bay.md",
        },
        {"q": 'source:"bbc"'},
    ]
    questions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = invoke("eval", str(questions), "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["near_misses"] == 1 and figures["near_miss_declined"] == 1.0
    assert figures["answerable_declined"] == 0 and figures["answer_in_top_quote"] == 1.0
    assert figures["no_question"] == 1
