"""`archivebot serve`: the reading room alone, until Ctrl-C (also `python -m bot.web`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

import click

from index import Archive, ArchivebotError, Embedder, Settings

from .server import start_server
from .settings import WebSettings, parse_listen

logger = logging.getLogger("archivebot.web")


async def _serve(settings: Settings, web: WebSettings, embedder: Embedder | None) -> None:
    archive = await Archive.open(settings, embedder=embedder)
    try:
        if archive.built:
            await archive.warm_up()  # load the model now, not on the first reader's question
        try:
            server = await start_server(archive, web)
        except OSError as error:
            raise click.ClickException(f"cannot listen on {web.host}:{web.port}: {error.strerror or error}") from error
        click.echo(f"Reading room on {server.url}/ (Ctrl-C stops it)", err=True)
        if not archive.built:
            click.echo("The archive is not indexed yet: run `archivebot index`.", err=True)
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers off the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
        finally:
            await server.close()
    finally:
        await archive.close()


@click.command("serve")
@click.option("--host", help="Address to listen on (default: ARCHIVEBOT_WEB's host, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: ARCHIVEBOT_WEB's port, else 8080).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Index directory (default $ARCHIVEBOT_DATA_DIR).")
@click.pass_context
def serve(context: click.Context, host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Serve the reading room: read-only web pages with each quote highlighted in its article."""
    obj = context.ensure_object(dict)
    try:
        settings: Settings = obj.get("settings") or Settings.from_env()
        web: WebSettings = obj.get("web") or WebSettings.from_env()
        if host is not None:
            parse_listen(f"[{host}]:0" if ":" in host else f"{host}:0", "--host")  # same validation as the variable
    except ArchivebotError as error:
        raise click.ClickException(str(error)) from error
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir)
    web = replace(web, listen=(host or web.host, web.port if port is None else port))
    try:
        asyncio.run(_serve(settings, web, obj.get("embedder")))
    except ArchivebotError as error:
        raise click.ClickException(str(error)) from error
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        serve(prog_name="python -m bot.web")
