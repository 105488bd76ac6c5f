"""`StatusLane`: the emulated Midtrans status call, straight to the gateway.

A merchant confirms every notification that moves an order with `GET /v2/{id}/status`, so it is
the sandbox's busiest call. Through Starlette's stack (its error and exception middleware, the
mount, the sandbox's four middlewares, the routers) it took more than half of the sandbox's CPU
per call (bench/sandbox_status.py). The lane answers the plain case itself: a GET with no query,
the right server key, no API fault armed. Its answer is the route's, byte for byte, headers
included (tests/sandbox/test_status_lane.py compares them). Anything else goes on to the routes,
which stay the one home of the call's refusals and faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from bayar.i18n.middleware import VARY
from bayar.sandbox.faults import API_FAULTS
from bayar.sandbox.http import PAGE_CSP, reply

if TYPE_CHECKING:
    from bayar.sandbox.app import Sandbox

SUFFIX = "/status"
# What the sandbox's middlewares add to a JSON answer (SecurityHeaders, then the language's Vary).
ADDED = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", PAGE_CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"vary", VARY.encode()),
]


class StatusLane:
    """ASGI middleware outside the sandbox's app; `prefix`: where the Core API's `/v2/` is."""

    def __init__(self, app: ASGIApp, *, sandbox: Sandbox, prefix: str) -> None:
        self.app = app
        self.sandbox = sandbox
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        id_ = self._plain_status(scope)
        if id_ is None:
            await self.app(scope, receive, send)
            return
        answer = reply(self.sandbox.gateway.status(id_))  # as the route renders it
        headers = [*answer.raw_headers, *ADDED]
        await send(
            {"type": "http.response.start", "status": answer.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": answer.body})

    def _plain_status(self, scope: Scope) -> str | None:
        """The id of a status call the lane may answer, else None."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
            return None
        path: str = scope["path"]
        if not (path.startswith(self.prefix) and path.endswith(SUFFIX)):
            return None
        id_ = path[len(self.prefix) : -len(SUFFIX)]
        if not id_ or "/" in id_ or self.sandbox.faults.armed(API_FAULTS):
            return None
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        if not self.sandbox.gateway.server_key_ok(authorization):
            return None
        return id_
