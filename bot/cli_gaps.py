"""`archivebot gaps`: the questions the archive could not answer or answered unhelpfully, grouped."""

from __future__ import annotations

import json

import click

from . import terminal
from .cli_support import open_archive, run_command


@click.command()
@click.option("--since", metavar="YYYY-MM-DD", help="Only questions asked on or after this day (UTC).")
@click.option("--json", "as_json", is_flag=True, help='{"groups": [{"questions", "count", "last_asked", ...}]}.')
@click.pass_context
@run_command
async def gaps(context: click.Context, since: str | None, as_json: bool) -> None:
    """Questions the bot declined and answers that got 👎, grouped by similar question, most asked first."""
    async with await open_archive(context) as archive:
        report = await archive.gaps(since)
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False) if as_json else terminal.gaps_text(report))
