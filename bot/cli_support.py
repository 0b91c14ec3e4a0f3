"""What every `archivebot` command shares: the settings, running an async command, opening the archive, and the
JSON of an answer (`ask --json`, the MCP server's `ask` tool)."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

import click

from index import Answer, Archive, ArchivebotError, QuestionError, RemovalRefusedError, Settings

Parameters = ParamSpec("Parameters")


def settings_of(context: click.Context) -> Settings:
    settings = context.obj["settings"]
    if not isinstance(settings, Settings):  # set by `bot.cli.cli`, or by a caller's obj (tests)
        raise TypeError(f"context.obj['settings'] must be Settings, not {type(settings).__name__}")
    return settings


def run_command(
    coroutine_function: Callable[Parameters, Coroutine[Any, Any, None]],
) -> Callable[Parameters, None]:
    """Run an async command; translate engine errors into `error: …` and exit code 1 (2 for bad questions)."""

    @functools.wraps(coroutine_function)
    def wrapper(*args: Parameters.args, **kwargs: Parameters.kwargs) -> None:
        try:
            return asyncio.run(coroutine_function(*args, **kwargs))
        except QuestionError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except RemovalRefusedError as error:
            click.echo(f"error: {error}; check the folders, or run again with --allow-removal", err=True)
            sys.exit(1)
        except ArchivebotError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


async def open_archive(context: click.Context) -> Archive:
    return await Archive.open(settings_of(context), embedder=context.obj.get("embedder"))


def answer_json(answer: Answer, latency_ms: float) -> str:
    """One answer as `archivebot ask --json` prints it (the MCP `ask` tool returns the same text)."""
    data = answer.to_dict()
    data["latency_ms"] = round(latency_ms, 2)
    return json.dumps(data, ensure_ascii=False)
