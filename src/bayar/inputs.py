"""Limits on what a request may carry, checked before any route does work (issue 8, problem 9).

Pure checks (`check_json`, `check_text`, `check_form`) that any edge may use, and `InputGuard`, the ASGI
middleware that applies them to every HTTP request of the app:

- the body: at most `max_body` bytes (413), told by Content-Length or counted as it streams in;
  multipart uploads (admin pictures) get their own, larger cap and are left to their route;
- a JSON body is parsed once here: nested deeper than `MAX_DEPTH` is a 400 (a deep body makes
  Python's parser raise RecursionError, a 500 wherever it is parsed again);
- NUL characters (PostgreSQL cannot store them) and strings over `MAX_STRING` characters, in the
  JSON body, a form body, the path or the query: 422.

Every refusal has the API's error shape, `{"detail": "<plain message>"}`. Imports nothing of bayar,
so the kiosk's frames can be checked with the same functions.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_DEPTH = 32  # arrays and objects inside each other; no bayar message needs more than 5
MAX_STRING = 4096  # characters of any one JSON string, path or query value
MAX_PATH = 2048  # characters of a URL path
MAX_UPLOAD = 2 * 1024 * 1024  # multipart bodies: a 1 MB picture and its form, checked by its route
# NUL, and lone surrogates ("\ud800" in JSON): text no database column or UTF-8 encoder takes.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
BOM = codecs.BOM_UTF8


class InputError(ValueError):
    """Why the input is refused: an HTTP status and a plain message (never the input itself)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_text(value: str, where: str, *, limit: int = MAX_STRING) -> None:
    """A string from outside: no NUL (nor a lone surrogate), at most `limit` characters."""
    if UNSTORABLE.search(value):
        raise InputError(422, f"{where} contains a NUL character or an invalid one")
    if len(value) > limit:
        raise InputError(422, f"{where} is longer than {limit} characters")


def check_value(value: Any, *, max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING) -> None:
    """A parsed JSON value: depth, and every key and string (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, "a string in the body", limit=max_string)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise InputError(400, f"the JSON body is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    check_text(key, "a key in the body", limit=max_string)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def check_json(raw: bytes, *, max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING) -> Any:
    """The JSON value of `raw` if it is within the limits; None if it is not JSON at all (the route
    gives its own answer to a malformed body); InputError if it breaks a limit."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InputError(400, f"the JSON body is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError):
        return None
    # The common case needs no walk: no escape can hide a NUL, no string can be longer than the
    # body, and there are fewer brackets than the depth limit.
    if b"\\u" in raw or len(raw) > max_string or raw.count(b"[") + raw.count(b"{") > max_depth:
        check_value(value, max_depth=max_depth, max_string=max_string)
    return value


def check_form(raw: bytes, *, max_string: int = MAX_STRING) -> None:
    """An application/x-www-form-urlencoded body: no NUL, no over-long value."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return  # the route's form parser answers this
    for pair in text.split("&"):
        check_text(unquote_plus(pair), "a form field", limit=max_string)


def check_target(path: str, query: bytes) -> None:
    """The request's path and query string."""
    check_text(path, "the path", limit=MAX_PATH)
    if query:
        for pair in query.decode("latin-1").split("&"):
            check_text(unquote_plus(pair), "a query parameter")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


# `_checks_body` did not parse the body as JSON.
_UNPARSED: Any = object()


def _checks_body(content_type: str, raw: bytes) -> Any:
    """Bodies that something in bayar may parse as JSON are checked whatever their content type
    (the webhook reads its body as JSON without asking). The JSON value, where it parsed one."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        check_form(raw)
        return _UNPARSED
    if b"\x00" in raw and not content_type.startswith(("application/octet", "image/")):
        raise InputError(422, "the body contains a NUL character")
    # What Python's JSON parser reads as JSON: white space, and a UTF-8 byte-order mark, may lead.
    if raw.removeprefix(BOM).lstrip()[:1] in (b"{", b"["):
        return check_json(raw)
    return _UNPARSED


class _TooLarge(Exception):
    pass


class InputGuard:
    """ASGI middleware: the limits above on every HTTP request; WebSocket paths checked for NUL."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_upload: int = MAX_UPLOAD,
        own_targets: tuple[str, ...] = (),
    ) -> None:
        """`own_targets`: path prefixes whose routes validate their own path, query and forms and
        answer in their own pages (the admin's 400s); only the size of their bodies is checked here."""
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.own_targets = own_targets

    def _checks_target(self, path: str) -> bool:
        return not any(path == p or path.startswith(f"{p}/") for p in self.own_targets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        checked = self._checks_target(path)
        try:
            if checked:
                check_target(path, scope.get("query_string", b""))
        except InputError as error:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _refuse(send, error)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        # Uploads stream through to the routes that take them (the admin's, which check them);
        # anywhere else a multipart body is read and checked like any other.
        if not checked and _header(scope, b"content-type").lower().startswith("multipart/"):
            if _declared(scope) > self.max_upload:
                await _refuse(send, _too_large(self.max_upload))
                return
            await self._stream(scope, receive, send, self.max_upload)
            return
        try:
            raw = await read_body(scope, receive, self.max_body, checked=checked)
        except InputError as error:
            await _refuse(send, error)
            return
        await self.app(scope, _replay(raw, receive), send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A multipart body passes through as it comes, counted; past the limit, a 413."""
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await _refuse(send, _too_large(limit))


async def read_body(scope: Scope, receive: Receive, limit: int, *, checked: bool = True) -> bytes:
    """An HTTP request's whole body, at most `limit` bytes (413) and, when `checked`, within the
    limits above (InputError). `InputGuard`'s, and with `read_json` that of an edge that reads
    bodies before the guard would (the gateways' notifications: `api.payments.NotificationLane`),
    whose path is checked apart (`check_target`)."""
    return (await _read_checked(scope, receive, limit, checked=checked))[0]


async def read_json(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, Any]:
    """`read_body`, checked, and the body's JSON value (`json_value`): parsed once, by the checks
    where they parse it."""
    raw, value = await _read_checked(scope, receive, limit, checked=True)
    return raw, json_value(raw) if value is _UNPARSED else value


def json_value(raw: bytes) -> Any:
    """`raw` as JSON, or None when it is not JSON (a route gives its own answer to that)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


async def _read_checked(
    scope: Scope, receive: Receive, limit: int, *, checked: bool
) -> tuple[bytes, Any]:
    if _declared(scope) > limit:
        raise _too_large(limit)
    try:
        raw = await _read(receive, limit)
    except _TooLarge:
        raise _too_large(limit) from None
    if not checked:
        return raw, _UNPARSED
    return raw, _checks_body(_header(scope, b"content-type").lower(), raw)


def _declared(scope: Scope) -> int:
    """The body's Content-Length (0 when none is told)."""
    declared = _header(scope, b"content-length")
    return int(declared) if declared.isdigit() else 0


def _too_large(limit: int) -> InputError:
    return InputError(413, f"the body is larger than {limit} bytes")


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to check
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """The body read here, given to the app as if it came now; then the client's own messages."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replay


async def _refuse(send: Send, error: InputError) -> None:
    body = json.dumps({"detail": error.message}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
