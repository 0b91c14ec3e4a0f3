"""Warm answer latency in-process: `Archive.ask` over the dev questions (encode / retrieve / select), and the
same questions through the bot's /ask handler (`ArchiveCog.ask`) with a stub interaction (no network)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ._common import CORPUS, DEV_QUESTIONS, PREBUILT, PREBUILT_FP32, log, percentiles, questions, rss_mb

ENCODERS: dict[str, dict[str, Any]] = {
    "default": {},  # the shipped settings: ONNX Runtime int8
    "torch": {"embed_backend": "torch", "precision": "fp32"},
    "onnx_fp32": {"embed_backend": "onnx", "precision": "fp32"},
}


async def _measure(data_dir: Path, backend: str, rounds: int) -> dict[str, Any]:
    from index import Archive, Settings

    settings = Settings(data_dir=data_dir, archive_roots=(CORPUS,), **ENCODERS[backend])
    archive = await Archive.open(settings)
    try:  # closed however it ends: an archive left open kept this worker process from exiting
        return await _measure_open(archive, backend, rounds)
    finally:
        await archive.close()


async def _measure_open(archive: Any, backend: str, rounds: int) -> dict[str, Any]:
    from index import IndexMismatchError

    started = time.perf_counter()
    try:
        await archive.warm_up()
    except IndexMismatchError as error:  # an int8 index answers int8 questions only, and fp32 fp32
        return {"skipped": str(error)}
    warm_s = time.perf_counter() - started
    asked = questions()
    for question in asked[:3]:  # first queries touch cold pages
        await archive.ask(question)
    parts: dict[str, list[float]] = {"encode": [], "retrieve": [], "select": [], "total": []}
    wall: list[float] = []
    for _ in range(rounds):
        for question in asked:
            started = time.perf_counter()
            answer = await archive.ask(question)
            wall.append((time.perf_counter() - started) * 1000)
            for key in parts:
                parts[key].append(answer.timings_ms.get(key, 0.0))
    result: dict[str, Any] = {
        "backend": backend,
        "warm_up_s": round(warm_s, 2),
        "ask_wall_ms": percentiles(wall),
        **{k: percentiles(v) for k, v in parts.items()},
    }
    result["followup_ask_wall_ms"] = await _follow_ups(archive, rounds)
    result["bot_handler_ms"] = await _through_bot(archive, asked, rounds)
    result["rss_mb"] = rss_mb()
    if backend == "default":  # the same archive again, nothing changed: what `make run` pays at every start
        started = time.perf_counter()
        summary = await archive.reindex()
        result["unchanged_reindex"] = {
            "seconds": round(time.perf_counter() - started, 3),
            "articles": summary.unchanged,
            "embedded": summary.sentences_embedded,
        }
    return result


def conversations() -> list[list[str]]:
    path = DEV_QUESTIONS.parent / "followup_questions.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [[turn["q"] for turn in line["turns"]] for line in lines]


async def _follow_ups(archive: Any, rounds: int) -> Any:
    """Wall time of the follow-up turns of the dev conversations, each asked with its history (the earlier
    questions and the articles their answers cited, as the bot passes them)."""
    from index import Turn

    wall: list[float] = []
    for _ in range(rounds):
        for conversation in conversations():
            history: list[Turn] = []
            for number, question in enumerate(conversation):
                started = time.perf_counter()
                answer = await archive.ask(question, history=list(history))
                if number:
                    wall.append((time.perf_counter() - started) * 1000)
                history.append(Turn(question, tuple(dict.fromkeys(q.article_id for q in answer.quotes))))
    return percentiles(wall) if wall else None


async def _through_bot(archive: Any, asked: list[str], rounds: int) -> Any:
    """Per-request latency of the bot's /ask slash-command handler with a stub interaction."""
    try:
        from bot.cog import ArchiveCog
        from bot.config import BotConfig
        from bot.ratelimit import RateLimit
    except Exception as error:
        return {"skipped": f"bot handler not importable: {error}"}

    class Response:
        def __init__(self) -> None:
            self.done = False

        async def defer(self, **_: Any) -> None:
            self.done = True

        async def send_message(self, *_: Any, **__: Any) -> None:
            self.done = True

        def is_done(self) -> bool:
            return self.done

    sent: list[Any] = []

    class Followup:
        async def send(self, *args: Any, **kwargs: Any) -> None:
            sent.append(kwargs.get("embed") or (args[0] if args else None))

    try:
        from bot.answers import AnswerRegistry  # recent answers, for the feedback buttons

        config = BotConfig(user_rate=RateLimit(10**9, 60.0), guild_rate=RateLimit(10**9, 60.0))
        stub_bot: Any = SimpleNamespace(user=SimpleNamespace(id=2))
        cog = ArchiveCog(stub_bot, archive, config, AnswerRegistry())
        handler = ArchiveCog.ask.callback
        latencies = []
        for _ in range(rounds):
            for question in asked:
                interaction = SimpleNamespace(
                    user=SimpleNamespace(id=1), guild_id=1, response=Response(), followup=Followup()
                )
                started = time.perf_counter()
                await handler(cog, interaction, question)
                latencies.append((time.perf_counter() - started) * 1000)
        if len(sent) != len(latencies) or any(item is None for item in sent):
            return {"skipped": "the handler did not send one embed per question", **percentiles(latencies)}
        return percentiles(latencies)
    except Exception as error:
        return {"skipped": f"{type(error).__name__}: {error}"}


def _measure_in_process(data_dir: str, backend: str, rounds: int) -> dict[str, Any]:
    return asyncio.run(_measure(Path(data_dir), backend, rounds))


def run(rounds: int = 3, backends: tuple[str, ...] = ("default", "torch", "onnx_fp32")) -> dict[str, Any]:
    from index.embedding.onnx_runtime import onnx_available

    if not (PREBUILT / "archive.sqlite3").exists():
        return {"skipped": f"no prebuilt index at {PREBUILT} (set ARCHIVEBOT_BENCH_INDEX or run `archivebot index`)"}
    work = Path(tempfile.mkdtemp(prefix="archivebot-bench-ask-"))
    try:
        out: dict[str, Any] = {
            "index": str(PREBUILT),
            "index_fp32": str(PREBUILT_FP32),
            "questions": len(questions()),
            "rounds": rounds,
        }
        copies: dict[Path, Path] = {}
        for backend in backends:
            if backend != "torch" and not onnx_available():
                log(f"onnxruntime not installed: skipping {backend}")
                continue
            source = PREBUILT if backend == "default" else PREBUILT_FP32
            if not (source / "archive.sqlite3").exists():
                out[backend] = {"skipped": f"no index at {source}"}
                continue
            if source not in copies:  # only ever a copy: the bench reindexes it
                copies[source] = work / f"data-{len(copies)}"
                shutil.copytree(source, copies[source], ignore=shutil.ignore_patterns("index.lock", "*.tmp"))
            log(f"answering: {backend} query encoder, {rounds} x {len(questions())} questions")
            # A fresh process per backend: RSS is that backend's alone, nothing warm is shared.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                out[backend] = pool.submit(_measure_in_process, str(copies[source]), backend, rounds).result()
            if "skipped" in out[backend]:
                log(f"answering: {backend}: skipped ({out[backend]['skipped']})")
            else:
                total = out[backend]["total"]
                log(f"answering: {backend}: total p50 {total['p50']} ms, p95 {total['p95']} ms")
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
