"""The `archivebot` command line. Engine errors are translated here, once, into a message and exit code."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click

from index import Archive, ArchivebotError, QuestionError, Settings, Turn

from . import terminal
from .cli_feeds import feed_warnings, feeds
from .cli_gaps import gaps
from .cli_postgres import postgres
from .cli_support import Parameters, answer_json
from .cli_support import open_archive as _open
from .cli_support import run_command as _run
from .cli_support import settings_of as _settings
from .startup import quiet_libraries, set_offline_defaults
from .text import duration

logger = logging.getLogger("archivebot")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Index directory (default $ARCHIVEBOT_DATA_DIR or ./data)."
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.pass_context
def cli(context: click.Context, data_dir: Path | None, verbose: int) -> None:
    """Archivebot: answers about a news archive, in verbatim quotes with citations."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    quiet_libraries(level)
    notices = logging.getLogger("index.notice")  # one-line news about slow one-time steps, always shown
    if not notices.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        notices.addHandler(handler)
        notices.setLevel(logging.INFO)
        notices.propagate = False
    set_offline_defaults()
    context.ensure_object(dict)
    if "settings" not in context.obj:
        try:
            settings = Settings.from_env()
        except ArchivebotError as error:
            raise click.ClickException(str(error)) from error
        context.obj["settings"] = settings
    if data_dir is not None:
        context.obj["settings"] = replace(context.obj["settings"], data_dir=data_dir)


@cli.command("index")
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--allow-removal", is_flag=True, help="Let this run remove more than half of the indexed articles (or all)."
)
@click.pass_context
@_run
async def index_command(context: click.Context, roots: tuple[Path, ...], as_json: bool, allow_removal: bool) -> None:
    """Build or update the index from archive folders (default: the folders indexed last time, else seeds/).

    Incremental: unchanged articles are not embedded again; deleted files disappear from the index. A run
    that would remove more than half of the indexed articles stops, changing nothing, unless --allow-removal."""
    bar = terminal.ProgressBar(terminal=sys.stderr.isatty())
    async with await _open(context) as archive:
        try:
            summary = await archive.reindex(list(roots) or None, progress=bar, allow_removal=allow_removal)
        finally:
            bar.close()
    if as_json:
        data = summary.to_dict()
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(terminal.summary_text(summary))


def _filter_options(command: Callable[Parameters, None]) -> Callable[Parameters, None]:
    """--source, --after and --before, as `ask` and `search` take them."""
    options = [
        click.option("--source", help="Only articles whose source contains this text."),
        click.option("--after", help="Only articles published on or after this date (YYYY-MM-DD)."),
        click.option("--before", help="Only articles published on or before this date (YYYY-MM-DD)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _question_line(line: str) -> tuple[str, list[str]]:
    """A stdin line: a plain question, or {"q": ..., "history": [...]}."""
    if not line.startswith("{"):
        return line, []
    try:
        record = json.loads(line)
        history = record.get("history") or []
        if not isinstance(record["q"], str) or not isinstance(history, list):
            raise TypeError("q must be text and history a list of questions")
        if not all(isinstance(h, str) for h in history):
            raise TypeError("each earlier question must be text")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise QuestionError(f'not a question line or {{"q": ..., "history": [...]}} ({error})') from error
    return record["q"], list(history)


async def _turns(
    archive: Archive, history: list[str], *, source: str | None, after: str | None, before: str | None
) -> list[Turn]:
    """The earlier questions with the articles their answers cite (each asked in its own context)."""
    turns: list[Turn] = []
    for earlier in history:
        answer = await archive.ask(earlier, history=turns, source=source, after=after, before=before)
        turns.append(Turn(earlier, tuple(dict.fromkeys(quote.article_id for quote in answer.quotes))))
    return turns


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per answer.")
@_filter_options
@click.pass_context
@_run
async def ask(
    context: click.Context, question: str, as_json: bool, source: str | None, after: str | None, before: str | None
) -> None:
    """Answer QUESTION with quotes from the archive. QUESTION '-' reads one question a line from stdin; a line
    may also be JSON, {"q": "...", "history": ["earlier question", ...]} (oldest first), to answer a follow-up
    in the context of those questions."""
    async with await _open(context) as archive:
        questions = [line.strip() for line in sys.stdin if line.strip()] if question == "-" else [question]
        await archive.warm_up()  # latency_ms measures answering, not loading the model
        failed = False
        for line in questions:
            item = line
            try:
                item, history = _question_line(line) if question == "-" else (line, [])
                turns = await _turns(archive, history, source=source, after=after, before=before)
                started = time.perf_counter()
                answer = await archive.ask(item, source=source, after=after, before=before, history=turns)
            except QuestionError as error:
                if question != "-":
                    raise
                failed = True
                click.echo(json.dumps({"question": item, "error": str(error)}) if as_json else f"error: {error}")
                continue
            latency = (time.perf_counter() - started) * 1000
            click.echo(answer_json(answer, latency) if as_json else terminal.answer_text(answer))
        if failed:
            sys.exit(2)


@cli.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
@_filter_options
@click.option("--limit", default=10, show_default=True)
@click.pass_context
@_run
async def search(
    context: click.Context,
    query: str,
    as_json: bool,
    source: str | None,
    after: str | None,
    before: str | None,
    limit: int,
) -> None:
    """Rank articles for QUERY."""
    async with await _open(context) as archive:
        hits = await archive.search(query, source=source, after=after, before=before, limit=limit)
    if as_json:
        click.echo(json.dumps([hit.to_dict() for hit in hits], ensure_ascii=False))
    else:
        click.echo(terminal.hits_text(hits))


@cli.command()
@click.argument("id_or_title")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_run
async def article(context: click.Context, id_or_title: str, as_json: bool) -> None:
    """Show one article: metadata and clean text."""
    async with await _open(context) as archive:
        found = await archive.article(id_or_title)
    click.echo(json.dumps(found.to_dict(), ensure_ascii=False) if as_json else terminal.article_text(found))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_run
async def stats(context: click.Context, as_json: bool) -> None:
    """Articles, passages, model, index type, last indexed, sizes."""
    async with await _open(context) as archive:
        figures = await archive.stats()
        running = await archive.reindex_status()  # e.g. a bot process's /reindex
        location = archive.location  # the data directory, or the database URL without its password
    if as_json:
        click.echo(json.dumps({**figures.to_dict(), "location": location}))
    else:
        click.echo(terminal.stats_text(figures, running, location))


@cli.command("eval")
@click.argument("questions_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--failures/--no-failures", default=False, help="Include the failed questions in the output.")
@click.pass_context
@_run
async def eval_command(context: click.Context, questions_file: Path, as_json: bool, failures: bool) -> None:
    """Quality figures over a {"q","answers","article"} JSONL file."""
    from index import evaluate, load_questions

    async with await _open(context) as archive:
        await archive.warm_up()
        result = await evaluate(archive, load_questions(questions_file))
    if not failures:
        result.pop("failures")
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            click.echo(f"{key:20} {json.dumps(value, ensure_ascii=False) if key == 'failures' else value}")


@cli.command("eval-sentences")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_run
async def eval_sentences_command(context: click.Context, csv_file: Path, as_json: bool) -> None:
    """MAP/MRR of the sentence scorer on a qtext,label,atext CSV."""
    from index import evaluate_sentences, load_sentence_pairs, make_embedder

    embedder = context.obj.get("embedder") or make_embedder(_settings(context))
    result = await asyncio.to_thread(evaluate_sentences, load_sentence_pairs(csv_file), embedder)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(
            f"questions {result['questions']}  MAP {result['map']}  MRR {result['mrr']}"
            f"  (plain cosine: MAP {result['cosine_map']}  MRR {result['cosine_mrr']})"
        )


@cli.command("eval-headlines")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, help="Only the first N files.")
@click.pass_context
@_run
async def eval_headlines_command(context: click.Context, directory: Path, as_json: bool, limit: int | None) -> None:
    """Search each article's headline (first line): is the article ranked first?"""
    from index import evaluate_headlines

    async with await _open(context) as archive:
        await archive.warm_up()
        result = await evaluate_headlines(archive, directory, limit)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"articles {result['articles']}  hit@1 {result['hit_at_1']}  hit@10 {result['hit_at_10']}")


@cli.command()
@click.option("--repair", is_flag=True, help="Fix what is repairable (FTS rows, vectors from stored sentence vectors).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@_run
async def doctor(context: click.Context, repair: bool, as_json: bool) -> None:
    """Check that rows, vectors and full text agree (exit 1 when they don't); --repair fixes what it can."""
    from index import check_index, expected_model_name, make_embedder, recorded_model, repair_index

    settings = _settings(context)
    model = await expected_model_name(settings)
    if repair:
        indexed_with = await recorded_model(settings)
        # loaded only if needed, in the index's own vector space (fp32 or int8)
        embedder = context.obj.get("embedder") or (lambda: make_embedder(settings, indexed_with))
        report = await repair_index(
            settings, expected_model=model, embedder=embedder, passage_sentences=settings.passage_sentences
        )
    else:
        report = await check_index(settings, expected_model=model)
    report.warnings.extend(await feed_warnings(settings))  # failing feeds: a warning, not exit 1
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False) if as_json else report.text())
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.option(
    "--from-data-dir",
    "source",
    type=click.Path(path_type=Path),
    required=True,
    help="The embedded archive (a data directory) to copy.",
)
@click.option("--replace", is_flag=True, help="Overwrite the articles the database already holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
@_run
async def migrate(context: click.Context, source: Path, replace: bool, as_json: bool) -> None:
    """Copy an embedded archive (articles, vectors, feedback) into the PostgreSQL database named by
    ARCHIVEBOT_DATABASE_URL, without embedding anything again."""
    from index import migrate_archive

    terminal_progress = sys.stderr.isatty() and not as_json

    def progress(done: int, total: int) -> None:
        if terminal_progress:
            click.echo(f"\rcopying articles: {done:,}/{total:,}", err=True, nl=done >= total)

    summary = await migrate_archive(_settings(context), source, replace=replace, progress=progress)
    if as_json:
        click.echo(json.dumps(summary.to_dict()))
    else:
        click.echo(
            f"copied {summary.articles:,} articles, {summary.passages:,} passages, {summary.sentences:,} sentences"
            f" and {summary.feedback:,} votes in {duration(summary.seconds)}; run `archivebot doctor` to check"
        )


@cli.command()
@click.pass_context
@_run
async def console(context: click.Context) -> None:
    """The local console: questions and follow-ups, with line editing and history on a terminal (questions
    may also be piped in, one a line)."""
    from .console import ConsoleSettings, run_console

    settings = ConsoleSettings.from_env()  # a bad ARCHIVEBOT_MAX_QUOTES stops it before the archive is opened
    async with await _open(context) as archive:
        await run_console(archive, settings=settings, data_dir=_settings(context).data_dir)


@cli.command()
@click.pass_context
def run(context: click.Context) -> None:
    """Start the Discord bot when DISCORD_TOKEN is set, else the local console."""
    if os.environ.get("DISCORD_TOKEN", "").strip():
        from .app import main as discord_main

        sys.exit(discord_main())
    context.invoke(console)


@cli.command()
@click.option("--host", help="Address to listen on (default: ARCHIVEBOT_WEB's host, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: ARCHIVEBOT_WEB's port, else 8080).")
@click.pass_context
def serve(context: click.Context, host: str | None, port: int | None) -> None:
    """Serve the reading room: read-only web pages, each quote highlighted in its article (docs/reading-room.md)."""
    from .web.command import serve as serve_reading_room  # aiohttp is imported only by this command

    context.invoke(serve_reading_room, host=host, port=port, data_dir=None)


@cli.command("mcp")
@click.option(
    "--http",
    "listen",
    metavar="HOST:PORT",
    help="Serve streamable HTTP at http://HOST:PORT/mcp (HOST defaults to 127.0.0.1) instead of stdio.",
)
@click.pass_context
@_run
async def mcp_command(context: click.Context, listen: str | None) -> None:
    """Serve the archive to AI assistants over the Model Context Protocol (docs/mcp.md): read-only tools ask,
    search, article and stats. Stdio by default (stdout carries only the protocol; logs go to stderr)."""
    from .mcp_server import McpSettings, serve  # the MCP SDK is imported only by this command
    from .web.settings import parse_listen

    address = parse_listen(listen, "--http") if listen is not None else None
    mcp = context.obj.get("mcp") or McpSettings.from_env()
    await serve(_settings(context), mcp, context.obj.get("embedder"), address)


for command in (gaps, postgres, feeds):
    cli.add_command(command)


def main() -> None:
    cli(obj={})


if __name__ == "__main__":  # pragma: no cover
    main()
