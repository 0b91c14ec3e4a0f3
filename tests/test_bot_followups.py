"""Follow-up questions in Discord: in a thread the bot started, and in a reply to one of its answers.

The archive adds two stories that both talk about cutting jobs to the bot tests' archive: asked alone, "How
many jobs will be cut?" quotes the bank (tests/test_conversation.py checks that on the engine); after "Who
bought Widget Works?" it must quote the toy maker's buyer, and the embed must say it followed up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bot_fixtures import Harness, write_bot_archive

from bot.conversations import Conversations, turn_from_embed
from index import Turn

pytestmark = pytest.mark.e2e
pytest_plugins = ["bot_fixtures"]

FIRST = "Who bought Widget Works?"
FOLLOW_UP = "How many jobs will be cut?"
STORIES = {
    "acme.md": (
        "Acme buys Widget Works",
        "Acme Corporation has bought the toy maker Widget Works for $40m, the companies said on Monday.\n\n"
        "The company also said it would cut 300 jobs at its Leeds factory by the end of the year.",
    ),
    "zeta.md": (
        "Zeta Bank to cut jobs",
        "Zeta Bank will cut 900 jobs in a cost-cutting drive, its chief executive said.\n\n"
        "The jobs will go over two years, mostly in back-office roles, the bank said.",
    ),
}


@pytest.fixture
def bot_archive_dir(tmp_path: Path) -> Path:
    root = write_bot_archive(tmp_path / "archive")
    for name, (title, body) in STORIES.items():
        (root / name).write_text(f"---\ntitle: {title}\nsource: Test Wire\ndate: 2005-01-10\n---\n\n{body}\n")
    return root


def _description(message: dict) -> str:
    return str(message["embeds"][0].get("description", ""))


async def _new_bot_message(h: Harness, channel_id: str, seen: int) -> dict:
    messages = await h.fake.wait_for(
        lambda: len(h.fake.bot_messages(channel_id)) > seen and h.fake.bot_messages(channel_id)
    )
    return messages[-1]


@pytest.mark.parametrize("bot_overrides", [{"threads": True, "channels": frozenset()}])
async def test_a_follow_up_in_the_bots_thread_is_answered_from_the_earlier_article(harness: Harness) -> None:
    h = harness
    await h.fake.message(h.fake.member, FIRST, mentions_bot=True)
    thread = await h.fake.wait_for(lambda: h.fake.threads and h.fake.threads[0])
    first = await _new_bot_message(h, thread["id"], 0)
    assert "Acme" in _description(first) and "Following up on" not in _description(first)
    await h.fake.message(h.fake.member, FOLLOW_UP, channel_id=thread["id"])  # no mention needed in its thread
    answer = await _new_bot_message(h, thread["id"], 1)
    assert "300 jobs" in _description(answer) or "Acme" in _description(answer), _description(answer)
    assert "Zeta Bank" not in _description(answer).split("\n\n")[1]  # the first quote is not the bank's
    assert f"Following up on: “{FIRST}”" in _description(answer)


async def test_a_reply_to_an_answer_is_answered_in_its_context(harness: Harness) -> None:
    h = harness
    asked = await h.fake.message(h.fake.member, FIRST, mentions_bot=True)
    answer = await h.fake.wait_for(lambda: h.fake.replies.get(asked["id"]))
    follow_up = await h.fake.message(h.fake.member, FOLLOW_UP, reply_to=answer)
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(follow_up["id"]))
    assert f"Following up on: “{FIRST}”" in _description(reply)
    assert "Zeta Bank" not in _description(reply).split("\n\n")[1]
    # A reply to an answer the bot no longer remembers (a restart) still follows up: the embed says enough.
    h.bot.get_cog("Archive").conversations = Conversations()  # type: ignore[union-attr]
    again = await h.fake.message(h.fake.member, FOLLOW_UP, reply_to=answer)
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(again["id"]))
    assert f"Following up on: “{FIRST}”" in _description(reply)
    # The same question asked afresh in the channel is answered alone.
    alone = await h.fake.message(h.fake.member, FOLLOW_UP, mentions_bot=True)
    reply = await h.fake.wait_for(lambda: h.fake.replies.get(alone["id"]))
    assert "Following up on" not in _description(reply)


def test_conversations_are_bounded_and_keep_the_last_turns() -> None:
    memory = Conversations(capacity=2, turns_kept=2)
    memory.record(1, [Turn("a"), Turn("b"), Turn("c")])
    assert [t.question for t in memory.turns(1)] == ["b", "c"]
    memory.record(2, [Turn("d")])
    memory.turns(1)  # used: kept over 2
    memory.record(3, [Turn("e")])
    assert 2 not in memory and 1 in memory and 3 in memory and len(memory) == 2


def test_a_turn_is_read_back_from_an_answer_embed() -> None:
    description = "“Acme Corporation has bought…”\n— Acme buys Widget Works · id `abc123`\n\n“…”\n— Other · id `def`"
    turn = turn_from_embed("Who bought Widget Works?", description)
    assert turn == Turn("Who bought Widget Works?", ("abc123", "def"))
    assert turn_from_embed(None, description) is None
