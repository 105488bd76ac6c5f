"""Errors as HTTP answers: the right status and one shape, `{"detail": "<plain message>"}` (the
`Problem` model), for every 4xx/5xx of the API; never a stack trace, never a 500 for bad input."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from bayar import i18n
from bayar.gateways.base import GatewayRejected, GatewayUnavailable
from bayar.i18n.middleware import asked
from bayar.payments.errors import PaymentError
from bayar.storage.db import DatabaseError, lost_connection

log = logging.getLogger("bayar.api")
SOURCES = ("body", "query", "path", "header", "cookie")
SHOWN = 3  # problems named in one answer; a client fixes those and learns of the next


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _field(loc: Sequence[Any]) -> str:
    """("body", "items", 0, "quantity") -> "items[0].quantity"; the body itself is "the body"."""
    parts = list(loc[1:] if loc and loc[0] in SOURCES else loc)
    if not parts:
        return "the body"
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _sentence(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'malformed')})"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return f"{_field(error.get('loc', ()))}: {message[:1].lower()}{message[1:]}"


def validation_detail(errors: Sequence[Any]) -> str:
    """FastAPI's list of validation errors as one readable sentence that names the fields."""
    sentences = [_sentence(e) for e in errors[:SHOWN]]
    more = len(errors) - SHOWN
    text = "; ".join(sentences) or "the request is invalid"
    return f"{text} (and {more} more)" if more > 0 else text


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(422, validation_detail(exc.errors()))


def _wants_a_page(request: Request) -> bool:
    """A browser asking for a page (Accept: text/html…), not an API client (JSON, */*)."""
    if request.url.path == "/api" or request.url.path.startswith("/api/"):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or "application/xhtml+xml" in accept


def _http_error_for(
    browser_page: Callable[[Request], Response] | None,
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # No route matched (Starlette sets "endpoint" only on a match): a person in a browser gets
        # a page, a program its JSON. A route's own 404 ("no such order") stays JSON.
        unknown = exc.status_code == 404 and "endpoint" not in request.scope
        if unknown and browser_page is not None and _wants_a_page(request):
            return browser_page(request)
        detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
        return problem(exc.status_code, detail, exc.headers)

    return _http_error


async def _payment_error(request: Request, exc: Exception) -> JSONResponse:
    """The core's sentence, in the language the request asks for: a page's script (the shop)
    shows it to a person, whose browser names the page's language; a program that names none
    gets English."""
    assert isinstance(exc, PaymentError)
    with i18n.use(asked(request) or "en"):
        return problem(exc.http_status, exc.text())


async def _gateway_refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayRejected)
    return problem(502, f"the payment gateway refused: {exc.message}")


async def _gateway_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # Its message names the transport's failure, for the log; the client learns what to do.
    return problem(503, "the gateway did not answer; try again", {"Retry-After": "5"})


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatabaseError)
    return database_problem(exc)


def database_problem(exc: DatabaseError) -> JSONResponse:
    """A lost connection's answer (503: retry); any other database error is raised again."""
    if not lost_connection(exc):
        raise exc  # a bug, not an outage: the server logs its trace, the client gets `_crash`
    # The database dropped the pool's connections (it restarted). The pool is renewed, so the
    # same request again (with its Idempotency-Key, which makes a retry safe) will work.
    log.warning("database connection lost; the request may be retried")
    return problem(503, "the database connection was lost; retry the request", {"Retry-After": "1"})


async def _crash(_: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected, in the API's shape (the server logs the trace: Starlette re-raises)."""
    return problem(500, "internal error; the request may be retried")


def install(app: FastAPI, browser_page: Callable[[Request], Response] | None = None) -> None:
    """`browser_page`: what a browser gets for an unknown address (JSON when None)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error_for(browser_page))
    app.add_exception_handler(PaymentError, _payment_error)
    app.add_exception_handler(GatewayRejected, _gateway_refused)
    app.add_exception_handler(GatewayUnavailable, _gateway_unavailable)
    app.add_exception_handler(DatabaseError, _database_error)
    app.add_exception_handler(Exception, _crash)
