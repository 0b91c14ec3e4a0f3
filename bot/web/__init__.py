"""The reading room: a read-only web front end on the engine (quotes highlighted in their articles)."""

from .links import article_path, article_url, original_url, text_fragment
from .server import RunningServer, create_app, serve_forever, start_server
from .settings import WebSettings, parse_listen, parse_public_url

__all__ = [
    "RunningServer",
    "WebSettings",
    "article_path",
    "article_url",
    "create_app",
    "original_url",
    "parse_listen",
    "parse_public_url",
    "serve_forever",
    "start_server",
    "text_fragment",
]
