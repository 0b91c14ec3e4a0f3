"""The `archivebot` CLI through click's CliRunner, with the fake embedder injected and a data directory per test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import PROJECT, SEED_FILE, SEEDS

from bot.cli import cli
from index import HashEmbedder, Settings

QUESTION = "What did Obama propose to North Korea?"
QUOTE_KEYS = {"text", "article_id", "title", "source", "date", "start", "end", "score"}
ANSWER_KEYS = {"question", "answered", "confidence", "quotes", "closest", "latency_ms"}
SUMMARY_KEYS = {"added", "updated", "removed", "unchanged", "skipped", "passages_embedded", "seconds"}

EXTRA = {
    "business/rates.txt": (
        "Bank holds interest rates\n\nThe Bank of England kept interest rates at 4.75% on Thursday. "
        "Economists had expected the decision.\n"
    ),
    "sport/marathon.txt": (
        "Runner wins city marathon\n\nKenyan runner Paul Tergat won the city marathon in two hours and five "
        "minutes. He broke the course record.\n"
    ),
}


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    (root / "seeds").mkdir(parents=True)
    shutil.copy(SEED_FILE, root / "seeds" / SEED_FILE.name)
    for relative, text in EXTRA.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


class Cli:
    """Invokes the CLI with a fresh object per call, the way separate processes would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, embedder: object | None = None) -> Result:
        obj = {"settings": self.settings, "embedder": embedder or HashEmbedder(256)}
        return self.runner.invoke(cli, list(args), obj=obj, input=input, catch_exceptions=False)

    def json(self, *args: str, input: str | None = None) -> object:
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def run(backend_settings: Settings) -> Cli:
    """The CLI on each storage backend in turn (embedded, then PostgreSQL)."""
    return Cli(backend_settings)


@pytest.fixture
def built(run: Cli, archive_dir: Path) -> Cli:
    result = run("index", str(archive_dir), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    return run


def body_of(run: Cli, article_id: str) -> str:
    return run.json("article", article_id, "--json")["body"]


# ---- index -------------------------------------------------------------------------------------------------


def test_index_json_summary_then_incremental(run: Cli, archive_dir: Path) -> None:
    first = run.json("index", str(archive_dir), "--json")
    assert set(first) >= SUMMARY_KEYS
    assert (first["added"], first["unchanged"], first["removed"]) == (3, 0, 0)
    assert first["passages_embedded"] > 0
    assert isinstance(first["seconds"], (int, float))
    second = run.json("index", str(archive_dir), "--json")
    assert (second["added"], second["unchanged"], second["passages_embedded"]) == (0, 3, 0)
    # Without roots it reuses the folders indexed last time.
    (archive_dir / "business" / "rates.txt").unlink()
    third = run.json("index", "--json")
    assert (third["removed"], third["unchanged"]) == (1, 2)


def test_index_text_summary(run: Cli, archive_dir: Path) -> None:
    result = run("index", str(archive_dir))
    assert result.exit_code == 0
    assert "3 added" in result.stdout and "0 removed" in result.stdout


def test_index_of_a_missing_folder_fails_clearly(run: Cli, tmp_path: Path) -> None:
    result = run("index", str(tmp_path / "no-such-folder"))
    assert result.exit_code != 0
    assert "error:" in result.stderr and "no-such-folder" in result.stderr
    assert "Traceback" not in result.output + result.stderr


# ---- ask ---------------------------------------------------------------------------------------------------


class SlowQuestionEmbedder(HashEmbedder):
    """The fake embedder, taking `delay` seconds for any batch that holds `question` (answering it)."""

    def __init__(self, question: str, delay: float) -> None:
        super().__init__(256)
        self.question, self.delay = question, delay

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if any(self.question in text for text in texts):
            time.sleep(self.delay)
        return super().embed(texts)


def test_ask_json_latency_is_the_time_spent_answering(built: Cli) -> None:
    started = time.perf_counter()
    result = built("ask", QUESTION, "--json", embedder=SlowQuestionEmbedder(QUESTION, 0.2))
    wall_ms = (time.perf_counter() - started) * 1000
    assert result.exit_code == 0, result.output + result.stderr
    latency_ms = json.loads(result.stdout)["latency_ms"]
    # It includes encoding the question (0.2 s here) and is part of the command's own wall time.
    assert isinstance(latency_ms, float) and 200 <= latency_ms < wall_ms


def test_ask_json_structure_and_verbatim_quotes(built: Cli) -> None:
    answer = built.json("ask", QUESTION, "--json")
    assert set(answer) >= ANSWER_KEYS
    assert answer["question"] == QUESTION
    assert answer["answered"] is True
    assert 0 < answer["confidence"] <= 1
    assert 1 <= len(answer["quotes"]) <= 3
    for quote in answer["quotes"]:
        assert set(quote) >= QUOTE_KEYS
        assert isinstance(quote["start"], int) and isinstance(quote["end"], int)
        assert body_of(built, quote["article_id"])[quote["start"] : quote["end"]] == quote["text"]
    top = answer["quotes"][0]
    assert top["source"] == "The Washington Times"
    assert top["date"] == "2009-12-19"
    assert "liaison office" in " ".join(q["text"] for q in answer["quotes"])
    for hit in answer["closest"]:
        assert {"id", "title", "source", "date", "score"} <= set(hit)


def test_ask_json_prints_exactly_one_line(built: Cli) -> None:
    result = built("ask", QUESTION, "--json")
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == 1


def test_ask_text_output_cites_the_quote(built: Cli) -> None:
    result = built("ask", QUESTION)
    assert result.exit_code == 0
    assert "The Washington Times" in result.stdout
    assert "liaison office" in result.stdout


def test_ask_unanswerable_question_is_not_answered(built: Cli) -> None:
    answer = built.json("ask", "zyxwv qwertyuiop asdfghjkl", "--json")
    assert answer["answered"] is False
    assert answer["quotes"] == []


def test_ask_batch_from_stdin(built: Cli) -> None:
    questions = [QUESTION, "Who won the city marathon?", "", "What did the Bank of England do with interest rates?"]
    result = built("ask", "--json", "-", input="\n".join(questions) + "\n")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3  # the blank line is not a question
    answers = [json.loads(line) for line in lines]
    assert [a["question"] for a in answers] == [q for q in questions if q]
    bodies: dict[str, str] = {}
    for answer in answers:
        assert set(answer) >= ANSWER_KEYS
        for quote in answer["quotes"]:
            body = bodies.setdefault(quote["article_id"], body_of(built, quote["article_id"]))
            assert body[quote["start"] : quote["end"]] == quote["text"]
    assert any("Tergat" in q["text"] for q in answers[1]["quotes"])
    assert any("4.75%" in q["text"] for q in answers[2]["quotes"])


def test_ask_batch_reports_a_bad_line_and_keeps_going(built: Cli) -> None:
    result = built("ask", "--json", "-", input="x" * 10_000 + "\n" + QUESTION + "\n")
    assert result.exit_code != 0
    first, second = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert "error" in first and "long" in first["error"]
    assert second["answered"] is True


def test_ask_batch_line_with_history_is_a_follow_up(built: Cli) -> None:
    lines = [
        json.dumps({"q": "What did he break?", "history": ["Who won the city marathon?"]}),
        "What did he break?",
        json.dumps({"q": "What did he break?", "history": "not a list"}),
    ]
    result = built("ask", "--json", "-", input="\n".join(lines) + "\n")
    assert result.exit_code == 2  # the third line is refused, the others answered
    follow_up, alone, bad = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert follow_up["following_up_on"] == ["Who won the city marathon?"]
    assert any("course record" in q["text"] for q in follow_up["quotes"])
    assert "following_up_on" not in alone
    assert "error" in bad and "history" in bad["error"]


@pytest.mark.parametrize(
    "question", ["", "   ", "?!", "🙂 👍", 'source:"bbc"', "after:2009-01-01 before:2009-12-31", "what is the"]
)
def test_a_message_with_no_question_gets_the_short_ask_a_question_reply(built: Cli, question: str) -> None:
    """Empty, only options, only emoji, punctuation or stop words: no answer, the same short reply."""
    result = built("ask", question, "--json")
    assert result.exit_code == 2
    assert "error: there is no question in that: ask one, e.g." in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output + result.stderr


def test_ask_too_long_question_fails_clearly(built: Cli) -> None:
    result = built("ask", "why " * 2_500)
    assert result.exit_code != 0
    assert "too long" in result.stderr


@pytest.mark.parametrize("command", [["ask", QUESTION], ["ask", QUESTION, "--json"], ["search", "north korea"]])
def test_never_built_index_fails_clearly(run: Cli, command: list[str]) -> None:
    result = run(*command)
    assert result.exit_code != 0
    assert "error:" in result.stderr and "archivebot index" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_ask_and_search_filters(built: Cli) -> None:
    seed_only = built.json("ask", QUESTION, "--json", "--source", "washington times")
    assert seed_only["quotes"] and {q["source"] for q in seed_only["quotes"]} == {"The Washington Times"}
    assert seed_only["filters"] == {"source": "washington times"}
    others = built.json("ask", QUESTION, "--json", "--source", "archive")
    assert all(q["source"] == "archive" for q in others["quotes"])
    later = built.json("ask", QUESTION, "--json", "--after", "2010-01-01")
    assert all(q["date"] and q["date"] >= "2010-01-01" for q in later["quotes"])
    assert all(hit["date"] != "2009-12-19" for hit in later["closest"])
    earlier = built.json("ask", QUESTION, "--json", "--before", "2009-12-31", "--after", "2009-12-01")
    assert earlier["quotes"] and all(q["date"] == "2009-12-19" for q in earlier["quotes"])
    hits = built.json("search", "north korea", "--json", "--after", "2010-01-01")
    assert all(hit["date"] != "2009-12-19" for hit in hits)


def test_a_bad_date_filter_fails_clearly(built: Cli) -> None:
    result = built("ask", QUESTION, "--after", "last tuesday")
    assert result.exit_code != 0
    assert "error:" in result.stderr and "last tuesday" in result.stderr


# ---- search, article, stats ---------------------------------------------------------------------------------


def test_search_json(built: Cli) -> None:
    hits = built.json("search", "north korea liaison office", "--json")
    assert isinstance(hits, list) and hits
    for hit in hits:
        assert {"id", "title", "source", "date", "score"} <= set(hit)
    assert hits[0]["source"] == "The Washington Times"
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert len({h["id"] for h in hits}) == len(hits)
    limited = built.json("search", "north korea liaison office", "--json", "--limit", "1")
    assert len(limited) == 1 and limited[0]["id"] == hits[0]["id"]


def test_search_text(built: Cli) -> None:
    result = built("search", "city marathon")
    assert result.exit_code == 0
    assert "Runner wins city marathon" in result.stdout.splitlines()[0]


def test_article_json_and_text(built: Cli) -> None:
    hit = built.json("search", "north korea liaison office", "--json")[0]
    article = built.json("article", hit["id"], "--json")
    assert {"id", "title", "source", "date", "path", "body", "location", "dateline", "title_derived"} <= set(article)
    assert article["id"] == hit["id"]
    assert (article["source"], article["date"], article["dateline"]) == ("The Washington Times", "2009-12-19", "SEOUL")
    assert article["title_derived"] is True
    assert article["path"].endswith(SEED_FILE.name)
    assert article["body"].startswith("President Obama has proposed")
    assert "Copyright" not in article["body"]
    text = built("article", hit["id"])
    assert text.exit_code == 0
    assert "The Washington Times" in text.stdout and "derived" in text.stdout
    by_title = built.json("article", "Runner wins city marathon", "--json")
    assert by_title["title"] == "Runner wins city marathon"


def test_unknown_article_fails_clearly(built: Cli) -> None:
    result = built("article", "ffffffffffffffff")
    assert result.exit_code != 0
    assert "error:" in result.stderr and "ffffffffffffffff" in result.stderr


def test_stats(built: Cli, archive_dir: Path) -> None:
    result = built("stats")
    assert result.exit_code == 0
    assert "articles" in result.stdout and "hash:256" in result.stdout
    figures = built.json("stats", "--json")
    assert figures["articles"] == 3
    assert figures["passages"] >= 3 and figures["sentences"] >= figures["passages"]
    assert figures["model"] == "hash:256" and figures["dimension"] == 256
    assert figures["index_type"] and figures["last_indexed"]
    assert figures["database_bytes"] > 0 and figures["vector_bytes"] > 0
    assert (figures["search_index_bytes"] > 0) == (not built.settings.database_url)  # embedded: tantivy's files
    assert str(archive_dir.resolve()) in figures["roots"]


def test_stats_before_indexing_says_so(run: Cli) -> None:
    result = run("stats", "--json")
    assert result.exit_code == 0
    figures = json.loads(result.stdout)
    assert figures["articles"] == 0 and figures["last_indexed"] is None


# ---- where the data lives -------------------------------------------------------------------------------------


def test_data_dir_option_and_environment_variable(settings: Settings, archive_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    option_dir = tmp_path / "by-option"
    env_dir = tmp_path / "by-env"
    env = {"ARCHIVEBOT_DATA_DIR": str(env_dir), "ARCHIVEBOT_MODEL": "hash:256", "ARCHIVEBOT_MIN_CONFIDENCE": "0.05"}

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), obj={"embedder": HashEmbedder(256)}, env=env, catch_exceptions=False)

    assert invoke("--data-dir", str(option_dir), "index", str(archive_dir), "--json").exit_code == 0
    assert (option_dir / "archive.sqlite3").exists() and not env_dir.exists()
    assert invoke("index", str(archive_dir / "seeds"), "--json").exit_code == 0
    assert (env_dir / "archive.sqlite3").exists()
    from_env = json.loads(invoke("stats", "--json").stdout)
    from_option = json.loads(invoke("--data-dir", str(option_dir), "stats", "--json").stdout)
    assert (from_env["articles"], from_option["articles"]) == (1, 3)


# ---- make run: the console front end as a subprocess ----------------------------------------------------------


def _archivebot() -> list[str]:
    script = Path(sys.executable).parent / "archivebot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def test_make_run_smoke(tmp_path: Path) -> None:
    """`archivebot index seeds/` then `archivebot run` (no DISCORD_TOKEN: the console) answers a typed question."""
    env = {
        **os.environ,
        "ARCHIVEBOT_MODEL": "hash",
        "ARCHIVEBOT_DATA_DIR": str(tmp_path / "data"),
        "ARCHIVEBOT_MIN_CONFIDENCE": "0.05",
        "DISCORD_TOKEN": "",
        "PYTHONPATH": str(PROJECT),
    }
    index = subprocess.run(
        [*_archivebot(), "index", str(SEEDS)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert index.returncode == 0, index.stderr
    assert "1 added" in index.stdout
    console = subprocess.run(
        [*_archivebot(), "run"],
        cwd=tmp_path,
        env=env,
        input=QUESTION + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert console.returncode == 0, console.stderr
    assert "1 article(s) indexed" in console.stdout
    assert "liaison office" in console.stdout
    assert "The Washington Times" in console.stdout
    assert "Traceback" not in console.stderr
