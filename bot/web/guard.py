"""Request guards of the reading room: allowed methods, request size, per-client rate, and the error pages.

Every refusal and every failure becomes a short HTML page with the right 4xx/5xx status; nothing from a
traceback, the file system or the database reaches the client.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from index import ArchivebotError, ArticleNotFoundError, IndexNotBuiltError, QuestionError

from ..ratelimit import SlidingWindow
from . import pages

logger = logging.getLogger("archivebot.web")

ALLOWED_METHODS = ("GET", "HEAD")
MAX_QUERY_BYTES = 4096  # a raw query string longer than this is refused with 414 (questions are <= 1,000 chars)
MAX_BODY_BYTES = 1024  # GET needs no body; anything bigger is refused before it is read
UNLIMITED_PATHS = ("/healthz", "/static/")  # monitoring and the style sheet are not rate limited

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

MESSAGES = {
    400: "The address is not one this site understands.",
    404: "There is no such page here.",
    405: "This site only reads: it answers GET requests.",
    413: "The request is too large.",
    414: f"The address is too long (the limit is {MAX_QUERY_BYTES:,} characters of query).",
    429: "Too many requests from your address: wait a little and try again.",
    500: "Something went wrong on our side. The error was logged.",
    503: "The archive is not available right now.",
}


class PageError(Exception):
    """A refusal with its status and a message meant for the reader (it is shown, escaped)."""

    def __init__(self, status: int, message: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or MESSAGES.get(status, "")
        self.headers = headers or {}


def guard_middleware(limit: SlidingWindow) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ALLOWED_METHODS:
            raise PageError(405, headers={"Allow": ", ".join(ALLOWED_METHODS)})
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise PageError(413)
        if len(request.rel_url.raw_query_string) > MAX_QUERY_BYTES:
            raise PageError(414)
        if not request.path.startswith(UNLIMITED_PATHS):
            wait = limit.take(request.remote or "unknown")
            if wait > 0:
                raise PageError(429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return await handler(request)

    return guard


def _error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=pages.error_page(status, _reason(status), message),
        content_type="text/html",
        charset="utf-8",
        headers=headers,
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every refusal and failure into an HTML error page; logs only what is our fault."""
    try:
        return await handler(request)
    except PageError as error:
        return _error_response(error.status, error.message, error.headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        kept = {name: value for name, value in error.headers.items() if name in {"Allow", "Retry-After"}}
        return _error_response(error.status, MESSAGES.get(error.status, error.reason), kept)
    except QuestionError as error:
        return _error_response(400, str(error))
    except ArticleNotFoundError:
        return _error_response(404, "There is no article with that id in the archive.")
    except IndexNotBuiltError:
        return _error_response(503, "The archive has not been indexed yet.")
    except ArchivebotError as error:
        logger.warning("%s %s: %s", request.method, request.path, error)
        return _error_response(503, MESSAGES[503])
    except Exception:
        logger.exception("error serving %s %s", request.method, request.path)
        return _error_response(500, MESSAGES[500])


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Sent with every response, error pages included (an `on_response_prepare` signal)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
