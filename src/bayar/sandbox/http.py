"""HTTP plumbing shared by the sandbox's routes: where it is mounted, JSON in and out, errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bayar.sandbox.engine import Reply, Urls
from bayar.sandbox.errors import ControlError
from bayar.sandbox.notify import Notifier

if TYPE_CHECKING:
    from bayar.sandbox.app import Sandbox

log = logging.getLogger("bayar.sandbox")

MIDTRANS_NOT_FOUND = "The requested resource is not found"
XENDIT_NOT_FOUND = "The requested resource was not found"
INTERNAL = "Sorry, we encountered internal server error. We will fix this soon."


Handler = Callable[[Request], Awaitable[Response]]
_LATE: set[asyncio.Task[Response]] = set()  # strong references to calls running on after a hang


async def _then_hang(seconds: float, handler: Handler, request: Request) -> Response:
    response = await handler(request)  # the gateway acts; its answer is what is late
    await asyncio.sleep(seconds)  # real seconds: a client's timeout is real
    return response


async def answer_late(seconds: float, handler: Handler, request: Request) -> Response:
    """The `api_hang` fault: the call takes effect, then its answer hangs. Shielded, so a client
    that gives up (cancelling an in-process call) does not undo it, as at the real gateway."""
    await request.body()  # read while the client is still there
    task = asyncio.create_task(_then_hang(seconds, handler, request))
    _LATE.add(task)
    task.add_done_callback(_LATE.discard)
    return await asyncio.shield(task)


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _root_path(request: Request) -> str:
    """Where the sandbox is mounted, e.g. /sandbox."""
    root: str = request.scope.get("root_path", "")
    # Inside /midtrans or /_control the root path carries that sub-mount too.
    for sub in ("/midtrans", "/xendit", "/_control"):
        if root.endswith(sub):
            root = root[: -len(sub)]
    return root


def base_url(request: Request) -> str:
    """The sandbox's own root URL for the URLs it hands out (redirect_url, Snap and simulator
    pages, QR links), e.g. http://127.0.0.1:8000/sandbox: under BAYAR_PUBLIC_URL when set (the
    address browsers reach, e.g. a fleet's nginx, whoever called), else as the client reached it."""
    root = _root_path(request)
    public = (sandbox_of(request).settings.bayar_public_url or "").rstrip("/")
    if public:
        return f"{public}{root}"
    return str(request.url.replace(path=root, query="", fragment="")).rstrip("/")


def urls_of(request: Request) -> Urls:
    base = base_url(request)
    return Urls(api=f"{base}/midtrans", simulator=base)


def reply(answer: Reply) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.http_status)


class BadJson(Exception):
    pass


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep is a bad body too
        raise BadJson from None


async def read_object(request: Request) -> dict[str, Any]:
    """A JSON object body for the sandbox's own endpoints; ControlError 400 otherwise."""
    try:
        body = await read_json(request)
    except BadJson:
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def syntax_error() -> JSONResponse:
    return JSONResponse(
        {
            "status_code": "413",
            "status_message": "The request cannot be processed due to syntax error in the request body",
        },
        status_code=400,
    )


def control_error(error: ControlError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.http_status)


def _sandbox_path(request: Request) -> str:
    """The path below the sandbox's root, e.g. /midtrans/v2/charge."""
    path: str = request.scope["path"]
    return path[len(_root_path(request)) :]


API_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def api_root(request: Request) -> Response:
    """`/midtrans` (`/xendit`) itself: the gateway's 404, not a redirect to `/midtrans/` with an
    empty body."""
    raise HTTPException(404)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = _sandbox_path(request)
    if path == "/xendit" or path.startswith("/xendit/"):  # the emulated Xendit API
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "API_ERROR")
        message = XENDIT_NOT_FOUND if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error_code": code, "message": message}, status_code=exc.status_code)
    if path == "/midtrans" or path.startswith("/midtrans/"):  # the emulated Midtrans API
        if path.startswith("/midtrans/snap/v1/"):
            return JSONResponse({"error_messages": [exc.detail]}, status_code=exc.status_code)
        message = MIDTRANS_NOT_FOUND if exc.status_code == 404 else exc.detail
        return JSONResponse(
            {"status_code": str(exc.status_code), "status_message": message},
            status_code=exc.status_code,
        )
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return control_error(exc)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("sandbox error on %s %s", request.method, request.url.path, exc_info=exc)
    if _sandbox_path(request).startswith("/xendit/"):
        return JSONResponse(
            {"error_code": "SERVER_ERROR", "message": "An unexpected error occurred"},
            status_code=500,
        )
    return JSONResponse({"status_code": "500", "status_message": INTERNAL}, status_code=500)


def error_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    return {HTTPException: _http_error, ControlError: _control_error, Exception: _crash}


# -- notifications after the answer ------------------------------------------------------------


class NotifyAfterAnswer:
    """The notifications a request causes leave the queue once its answer has gone out (the app
    has sent the last of it), and a moment later (`notify.QUEUE_LATENCY`), as Midtrans queues
    them: a merchant that stores a charge's answer as soon as it has it never meets a
    notification of a charge it does not know yet."""

    def __init__(self, app: ASGIApp, *, notifier: Notifier) -> None:
        self.app = app
        self.notifier = notifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.notifier.holding():
            await self.app(scope, receive, send)


# -- security headers (bayar.headers' rules; the sandbox imports nothing of bayar but config) --

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """nosniff and a Referrer-Policy on every answer; a CSP without inline script and no framing
    on every answer that sets no CSP of its own (the Snap payment page does: merchants frame it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_CSP
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, with_headers)
