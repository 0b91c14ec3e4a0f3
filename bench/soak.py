"""`python -m bench.soak [--requests 2000] [--concurrency 16] [--corpus DIR] [--real-model]` (`make soak`).

A bounded soak test of the Discord bot: the unchanged bot against the fake Discord of `tests/fake_discord.py`
on 127.0.0.1, over a small real index, with a mix of mentions, /ask (public and private), /search with page
turns, /article with autocomplete, /stats and feedback clicks from many users, and an admin /reindex (with new
articles) in the middle. Prints one JSON document: requests by kind, failures (timeouts, Discord rejections,
errors the bot logged), reply latency, RSS before/after, and whether every message the bot sent was within
Discord's limits and allowed no mentions. Exit status 1 when anything failed.

The fake embedder is the default (the soak is about the bot, not the model); `--real-model` uses the
configured model (slower start-up, realistic latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from index._settings import use_offline_defaults

from ._common import REPO, log, percentiles, rss_mb

use_offline_defaults()

sys.path.insert(0, str(REPO / "tests"))  # the fake Discord and the bot test archive live with the tests

QUESTIONS = [
    "What did Obama propose to North Korea?",
    "Who should vote for the new harbour bridge on Tuesday?",
    "What did the committee on lighthouse maintenance report about paint?",
    "How many rusty bolts did engineers find on the harbour bridge?",
    "What are the sanctions on North Korea aimed at?",
    "zebra xylophone quantum marmalade?",  # not found
    "@everyone what does the archive say about <@123> and @here?",
    "[click](https://evil.example) **bold** question about the bridge",
]
SEARCHES = ["harbour bridge", "North Korea", "lighthouse paint", "sanctions", "coastal survey station"]
MIX = [
    ("mention", 30),
    ("ask", 25),
    ("ask_private", 5),
    ("search", 12),
    ("page", 8),
    ("autocomplete", 8),
    ("article", 5),
    ("stats", 2),
    ("feedback", 5),
    ("context", 5),
]


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record)[:500])


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    import discord.gateway
    import discord.http

    errors = ErrorCounter()
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    logging.getLogger().addHandler(errors)
    try:
        return await _soak(args, errors)
    finally:
        logging.getLogger().removeHandler(errors)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


async def _soak(args: argparse.Namespace, errors: ErrorCounter) -> dict[str, Any]:
    from bot_fixtures import bot_config, write_bot_archive
    from fake_discord import FakeDiscord, message_problems

    from bot.app import ArchiveBot
    from bot.config import apply_endpoints
    from bot.ratelimit import RateLimit
    from bot.views import PagerView
    from index import Archive, HashEmbedder, Settings, make_embedder

    if args.view_timeout is not None:  # page buttons live this long (default 15 min): memory is bounded by it
        PagerView.timeout_seconds = args.view_timeout
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="archivebot-soak-"))
    archive_dir = write_bot_archive(workdir / "archive")
    if args.corpus:
        for number, path in enumerate(sorted(Path(args.corpus).rglob("*.txt"))[: args.corpus_limit]):
            (archive_dir / f"corpus_{number:05d}.txt").write_bytes(path.read_bytes())
    settings = Settings(
        data_dir=workdir / "data",
        model="hash:256" if not args.real_model else Settings.from_env().model,
        archive_roots=(archive_dir,),
        min_confidence=0.05 if not args.real_model else 0.5,
    )
    embedder = HashEmbedder(256) if not args.real_model else await asyncio.to_thread(make_embedder, settings)
    archive = await Archive.open(settings, embedder=embedder)
    started = time.monotonic()
    first_index = await archive.reindex([archive_dir])
    log(f"indexed {first_index.added} articles in {time.monotonic() - started:.1f}s")
    fake = await FakeDiscord().start()
    config = bot_config(
        fake, user_rate=RateLimit(args.user_rate, 60.0), guild_rate=RateLimit(0, 0.0), progress_interval=1.0
    )
    apply_endpoints(config)
    bot = ArchiveBot(archive, config, guild_ready_timeout=0.01)
    if args.answers_capacity is not None:  # answers remembered for 👍/👎 (default 10,000): bounded memory
        bot.answers.capacity = args.answers_capacity
    await bot.login(config.token)
    runner = asyncio.create_task(bot.connect(reconnect=False))
    await fake.wait_ready()
    await asyncio.wait_for(bot.wait_until_ready(), 30)

    users = [fake.user(f"user{n}") for n in range(args.users)]
    for user in users:
        fake.member_roles[user["id"]] = []
    answers: list[tuple[dict[str, Any], float]] = []  # (bot message with feedback buttons, when), for clicks
    pagers: list[tuple[dict[str, Any], dict[str, Any], float]] = []  # (message with page buttons, owner, when)
    fresh = PagerView.timeout_seconds / 2  # turn only pages well within their lifetime (👍/👎 are persistent)
    latencies: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    failures: list[str] = []
    limit_problems: list[str] = []
    checked = 0

    def check_sent() -> None:
        nonlocal checked
        for message in fake.sent[checked:]:
            problems = message_problems(message, edit=True)
            allowed = message.get("allowed_mentions") or {}
            if (
                allowed.get("parse") != []
                or allowed.get("users")
                or allowed.get("roles")
                or allowed.get("replied_user")
            ):
                problems.append("mentions allowed")
            if problems:
                limit_problems.append(f"{message['id']}: {problems}")
        checked = len(fake.sent)

    def buttons(message: dict[str, Any]) -> dict[str, str]:
        return {
            (c.get("label") or c["emoji"]["name"]): c["custom_id"]
            for row in message.get("components") or []
            for c in row["components"]
        }

    async def one(kind: str, user: dict[str, Any]) -> None:
        began = time.monotonic()
        if kind == "mention":
            asked = await fake.message(user, rng.choice(QUESTIONS), mentions_bot=True)
            reply = await fake.wait_for(lambda: fake.replies.get(asked["id"]), timeout=args.timeout)
            if "Helpful" in buttons(reply):
                answers.append((reply, time.monotonic()))
        elif kind in ("ask", "ask_private"):
            extra = {"private": True} if kind == "ask_private" else {}
            i = await fake.slash(user, "ask", question=rng.choice(QUESTIONS), **extra)
            await fake.wait_for(lambda: i.followups or i.response_type == 4, timeout=args.timeout)
            if i.followups and "Helpful" in buttons(i.followups[0]):
                answers.append((i.followups[0], time.monotonic()))
        elif kind == "search":
            i = await fake.slash(user, "search", query=rng.choice(SEARCHES))
            await fake.wait_for(lambda: i.followups or i.response_type == 4, timeout=args.timeout)
            if i.followups and "▶" in buttons(i.followups[0]):
                pagers.append((i.followups[0], user, time.monotonic()))
        elif kind == "page":
            live = [p for p in pagers if time.monotonic() - p[2] < fresh]
            if not live:
                return await one("search", user)
            message, owner, _ = rng.choice(live)
            i = await fake.click(owner, fake.messages[message["id"]], buttons(message)[rng.choice(["▶", "◀"])])
            await fake.answered(i, timeout=args.timeout)
        elif kind == "autocomplete":
            i = await fake.autocomplete(
                user, "article", "id_or_title", rng.choice(["", "Harbour", "Coastal", "Mayor", "x"])
            )
            await fake.answered(i, timeout=args.timeout)
        elif kind == "article":
            i = await fake.slash(
                user, "article", id_or_title=rng.choice(["Coastal survey", "Mayor calls bridge vote", "nope"])
            )
            await fake.wait_for(lambda: i.followups or i.response_type == 4, timeout=args.timeout)
            if i.followups and "▶" in buttons(i.followups[0]):
                pagers.append((i.followups[0], user, time.monotonic()))
        elif kind == "stats":
            i = await fake.slash(user, "stats")
            await fake.wait_for(lambda: i.followups or i.response_type == 4, timeout=args.timeout)
        elif kind == "feedback":
            if not answers:
                return await one("mention", user)
            message, _ = rng.choice(answers)
            i = await fake.click(user, message, buttons(message)[rng.choice(["Helpful", "Not helpful"])])
            await fake.answered(i, timeout=args.timeout)
        elif kind == "context":
            quoted = [item for item in answers if "Context 1" in buttons(item[0])]
            if not quoted:
                return await one("mention", user)
            message, _ = rng.choice(quoted)
            labels = [label for label in buttons(message) if label.startswith("Context")]
            i = await fake.click(user, message, buttons(message)[rng.choice(labels)])
            await fake.answered(i, timeout=args.timeout)
            shown = i.responses[0]["data"].get("embeds") or [{}]
            if "**" not in (shown[0].get("description") or ""):  # the quote in bold in its context
                raise AssertionError(f"a context button showed no quote: {i.responses[0]['data']}")
        counts[kind] = counts.get(kind, 0) + 1
        latencies.setdefault(kind, []).append((time.monotonic() - began) * 1000)

    async def guarded(kind: str, user: dict[str, Any]) -> None:
        try:
            await one(kind, user)
        except TimeoutError:
            failures.append(f"{kind}: no answer within {args.timeout}s")
        except Exception as error:
            failures.append(f"{kind}: {error!r}")

    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    plan = [rng.choice(kinds) for _ in range(args.requests)]
    rss: dict[str, float] = {"start": round(rss_mb(), 1)}
    reindex_interaction = None
    reindex_done: dict[str, Any] = {}
    soak_started = time.monotonic()
    for start in range(0, len(plan), args.concurrency):
        if start >= len(plan) // 2 and reindex_interaction is None:
            for number in range(args.new_articles):
                (archive_dir / f"soak_new_{number}.md").write_text(
                    f"---\ntitle: Soak article {number}\nsource: Soak Times\n"
                    f"date: 2020-01-{number % 28 + 1:02d}\n---\n\n"
                    f"The soak test added article {number} about the ferry timetable. The ferry runs {number} times.\n"
                )
            reindex_interaction = await fake.slash(fake.admin, "reindex")
            log("reindex started in the middle of the soak")
        batch = plan[start : start + args.concurrency]
        await asyncio.gather(*(guarded(kind, rng.choice(users)) for kind in batch))
        check_sent()
        # The fake keeps what tests inspect; drop what this run no longer needs so the RSS is the bot's.
        fake.requests.clear()
        fake.rejections and failures.extend(f"rejected {r.method} {r.path}: {body}" for r, body in fake.rejections)
        fake.rejections.clear()
        del fake.sent[:checked]
        checked = 0
        for key in [k for k, i in fake.interactions.items() if i.answered.is_set() and i is not reindex_interaction]:
            del fake.interactions[key]
        del answers[:-50]
        del pagers[:-50]
        keep = {m["id"] for m, _ in answers} | {m["id"] for m, _, _ in pagers}
        for key in [k for k in fake.messages if k not in keep]:
            del fake.messages[key]
        fake.replies.clear()
        done = start + len(batch)
        if done * 4 // len(plan) > (done - len(batch)) * 4 // len(plan):  # each quarter
            gc.collect()
            rss[f"after_{done}"] = round(rss_mb(), 1)
            log(f"{done}/{len(plan)} requests, {len(failures)} failures, RSS {rss_mb():.0f} MB")
    if reindex_interaction is not None:
        try:
            await fake.wait_for(
                lambda: any("Reindex finished" in (e.get("content") or "") for e in reindex_interaction.edits),
                timeout=args.timeout * 10,
            )
            reindex_done = {
                "edits": len(reindex_interaction.edits),
                "summary": reindex_interaction.edits[-1].get("content"),
            }
        except TimeoutError:
            failures.append("reindex: no summary")
    check_sent()
    elapsed = time.monotonic() - soak_started
    live_views = len(bot._connection._view_store._views)
    gc.collect()
    rss["end"] = round(rss_mb(), 1)
    await bot.close()
    with contextlib.suppress(Exception, asyncio.CancelledError):  # the bot stopped, however it ended
        await asyncio.wait_for(runner, 5)
    await fake.stop()
    await archive.close()
    shutil.rmtree(workdir, ignore_errors=True)
    checkpoints = [v for k, v in rss.items() if k.startswith("after_")]
    report = {
        "requests": sum(counts.values()),
        "by_kind": dict(sorted(counts.items())),
        "seconds": round(elapsed, 1),
        "requests_per_second": round(sum(counts.values()) / elapsed, 1) if elapsed else None,
        "concurrency": args.concurrency,
        "users": args.users,
        "model": settings.model,
        "articles": first_index.added,
        "latency_ms": {kind: percentiles(values) for kind, values in sorted(latencies.items())},
        "rss_mb": rss,
        "rss_growth_mb_after_warmup": round(rss["end"] - checkpoints[0], 1) if checkpoints else None,
        "live_button_views": live_views,
        "page_buttons_timeout_s": PagerView.timeout_seconds,
        "answers_remembered_for_feedback": len(bot.answers),
        "reindex": reindex_done,
        "failures": len(failures),
        "failure_examples": failures[:10],
        "errors_logged": len(errors.records),
        "error_examples": errors.records[:5],
        "messages_over_limits_or_pinging": len(limit_problems),
        "limit_examples": limit_problems[:5],
    }
    report["ok"] = not failures and not errors.records and not limit_problems and bool(reindex_done)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--user-rate", type=int, default=1000, help="per-user limit per minute during the soak")
    parser.add_argument("--new-articles", type=int, default=20, help="articles added before the mid-soak reindex")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    parser.add_argument("--corpus", help="also index up to --corpus-limit .txt files from this folder")
    parser.add_argument("--corpus-limit", type=int, default=300)
    parser.add_argument(
        "--real-model", action="store_true", help="use the configured model instead of the fake embedder"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--answers-capacity", type=int, help="answers remembered for feedback (default 10,000)")
    parser.add_argument("--view-timeout", type=float, help="seconds page buttons stay live (default: the bot's 15 min)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    report = asyncio.run(soak(args))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
