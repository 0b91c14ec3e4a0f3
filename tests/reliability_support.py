"""Helpers shared by the reliability tests (hostile files, crash safety, doctor, concurrency)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from index import Settings, check_index

PROJECT = Path(__file__).resolve().parent.parent
TOPICS = [
    ("harbour", "The harbour authority approved a new ferry terminal for the island routes."),
    ("orchard", "Apple growers in the valley reported a record orchard harvest this autumn."),
    ("glacier", "Scientists measured the glacier retreating faster than any year on record."),
    ("railway", "The railway company ordered forty electric trains for the northern lines."),
    ("festival", "The jazz festival drew crowds of visitors to the old town squares."),
    ("vaccine", "Health officials began a vaccine campaign in rural clinics on Monday."),
    ("election", "The mayoral election produced the highest turnout in two decades."),
    ("telescope", "Astronomers used the new telescope to photograph a distant comet."),
]


def article_text(topic: str, lede: str, marker: str = "", sentences: int = 6) -> str:
    """A small BBC-shaped article (headline line, blank line, paragraphs)."""
    body = [lede[:-1] + f" in the {marker} edition." if marker else lede]
    for number in range(sentences):
        body.append(f"Officials said the {topic} plan number {number} {marker} would be reviewed again next week.")
    return (
        f"{topic.title()} news {marker}".strip()
        + "\n\n"
        + "\n\n".join(" ".join(body[i : i + 2]) for i in range(0, len(body), 2))
        + "\n"
    )


def write_archive(root: Path, count: int = len(TOPICS), marker: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for topic, lede in TOPICS[:count]:
        (root / f"{topic}.txt").write_text(article_text(topic, lede, marker), encoding="utf-8")
    return root


async def assert_consistent(data_dir: Path | Settings, model: str | None = "hash:256") -> None:
    report = await check_index(data_dir, expected_model=model)
    assert report.ok, report.text()


def sql(data_dir: Path, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement on the archive database, outside the engine (to damage it on purpose)."""
    connection = sqlite3.connect(data_dir / "archive.sqlite3")
    try:
        connection.execute("PRAGMA foreign_keys = OFF")
        rows = connection.execute(statement, params).fetchall()
        connection.commit()
        return rows
    finally:
        connection.close()


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVEBOT_")}
    env.update(ARCHIVEBOT_DATA_DIR=str(data_dir), ARCHIVEBOT_MODEL="hash", HF_HUB_OFFLINE="1", **extra)
    return env


def backend_env(settings: Settings, **extra: str) -> dict[str, str]:
    """`cli_env` for the archive `settings` name: its data directory, and its database URL on PostgreSQL."""
    url = settings.database_url
    return cli_env(settings.data_dir, **({"ARCHIVEBOT_DATABASE_URL": url} if url else {}), **extra)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=timeout
    )


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
