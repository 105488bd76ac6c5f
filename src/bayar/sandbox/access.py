"""Who may use the sandbox's control API and simulator pages (issue 8, problem 1).

They settle any transaction by hand, so an order paid through them is goods for free. On loopback
(a developer's machine, the tests) they are open, as before. When bayar listens beyond loopback
(or a reverse proxy forwarded the request) they need `BAYAR_SANDBOX_TOKEN`: `Authorization: Bearer <token>`, or `?token=<token>` on a page,
which also sets a cookie so the page's own links and buttons keep working. Without a token
configured they answer 403 there (bayar still starts: its shop, kiosks and the emulated gateway
API work; only the hand controls are closed). The emulated gateway API under `/midtrans`
(server key, Snap token) and `/xendit` (secret key, invoice page) are the gateways themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "bayar_sandbox"
# The emulated gateways (and their payment pages): authenticated as the gateway authenticates.
OPEN_PREFIXES = ("/midtrans", "/xendit")
FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(host: str) -> bool:
    """True for 127.x, ::1 and localhost: only this machine can connect."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _cookie_value(token: str) -> str:
    """What the cookie carries: derived from the token, so the cookie is not the token itself."""
    return hashlib.sha256(f"bayar-sandbox-page:{token}".encode()).hexdigest()


class SandboxAccess:
    """ASGI middleware of the sandbox app. `exposed`: bayar listens beyond loopback."""

    def __init__(self, app: ASGIApp, *, exposed: bool, token: str | None) -> None:
        self.app = app
        self.exposed = exposed
        self.token = token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # A request a reverse proxy forwarded came from beyond loopback whatever bayar listens on
        # (a header that claims it can only close the controls, never open them).
        if not (self.exposed or any(name in headers for name in FORWARDED)):
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        inner = path[len(root) :] if path.startswith(root) else path
        if any(inner == p or inner.startswith(f"{p}/") for p in OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.token is None:
            await _refuse(
                send,
                403,
                "bayar listens beyond loopback, so the sandbox's control API and simulator"
                " need BAYAR_SANDBOX_TOKEN, which is not set",
            )
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [""])[0]
        if self._bearer(headers.get("authorization", "")) or self._cookie(headers):
            await self.app(scope, receive, send)
        elif given and hmac.compare_digest(given.encode(), self.token.encode()):
            await self.app(scope, receive, self._with_cookie(send, root or "/"))
        else:
            await _refuse(send, 401, "the sandbox's control API needs BAYAR_SANDBOX_TOKEN")

    def _bearer(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        )

    def _cookie(self, headers: dict[str, str]) -> bool:
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:
            return False
        morsel = cookies.get(COOKIE)
        assert self.token is not None
        return morsel is not None and hmac.compare_digest(
            morsel.value.encode(), _cookie_value(self.token).encode()
        )

    def _with_cookie(self, send: Send, path: str) -> Send:
        assert self.token is not None
        cookie = (
            f"{COOKIE}={_cookie_value(self.token)}; Path={path}; HttpOnly; SameSite=Strict"
        ).encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
            await send(message)

        return sending


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="bayar sandbox"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
