"""The HTTP headers bayar handles once, for the whole app.

- **Who the client is.** `X-Forwarded-For` (and `-Proto`) are believed only from the reverse
  proxies listed in BAYAR_TRUSTED_PROXIES (addresses or CIDR networks; empty: nobody), by
  uvicorn's ProxyHeadersMiddleware installed here, outermost. uvicorn's own handling, which
  trusts 127.0.0.1 by default, is switched off where the CLI starts it. Everything else reads
  `request.client.host` (the login throttle, the create rate limit, logs).
- **What a browser may do with a response.** Every response gets `nosniff` and a
  Referrer-Policy; one that sets no Content-Security-Policy of its own gets the policy of its
  area below (no inline script anywhere; JSON data blocks are not scripts) and
  `X-Frame-Options: DENY`. A response that sets its own CSP (the sandbox's Snap page, which
  merchants' pages frame) is left to it. API answers are `Cache-Control: no-store` unless they
  say otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bayar.config import ConfigError, Settings

# Real Midtrans' snap.js loads its popup and assets from these (reference 3.10, CSP allow-list).
MIDTRANS_SNAP_SOURCES = ("https://*.midtrans.com", "https://*.veritrans.co.id")
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")


def trusted_proxies(text: str) -> list[str]:
    """BAYAR_TRUSTED_PROXIES as a list of networks; ConfigError names a bad entry."""
    networks: list[str] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ConfigError(
                f"BAYAR_TRUSTED_PROXIES: {entry[:60]!r} is not an IP address or CIDR network"
            ) from None
    return networks


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def csp(**directives: Iterable[str]) -> str:
    """A policy from the base one, with the given directives (underscores for dashes) replaced."""
    policy = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    for name, sources in directives.items():
        policy[name.replace("_", "-")] = list(sources)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


class Policies:
    """Each area's Content-Security-Policy. `snap_js_url` is where the shop loads snap.js from
    (bayar's sandbox, or Midtrans): the shop's pages may run it and show its popup frame."""

    def __init__(self, snap_js_url: str) -> None:
        snap = [origin_of(snap_js_url)] if origin_of(snap_js_url) else []
        if snap and not snap[0].startswith("http://"):
            snap += MIDTRANS_SNAP_SOURCES
        # snap.js adds a <style> element to the merchant's page (bayar's sandbox and Midtrans'
        # alike): the shop's pages allow inline style, never inline script.
        self.shop = csp(
            script_src=["'self'", *snap],
            style_src=["'self'", "'unsafe-inline'", *snap],
            img_src=["'self'", "data:", "https:", *snap],
            connect_src=["'self'", *snap],
            frame_src=["'self'", *snap],
        )
        self.admin = csp(script_src=["'none'"], img_src=["'self'", "data:", "https:"])
        self.default = csp()

    def for_request(self, path: str, host: str) -> tuple[str, str]:
        """The CSP and the Referrer-Policy of a path."""
        if is_shop(path):
            # The gateway's payment frame may learn which shop (origin only) opened it.
            return self.shop, "strict-origin-when-cross-origin"
        if path == "/admin" or path.startswith("/admin/"):
            return self.admin, "same-origin"
        if path.startswith("/kiosk/"):
            # The kiosk's socket: 'self' covers ws: and wss: in CSP 3, the host spelled out for
            # browsers that read CSP 2.
            same = [f"ws://{host}", f"wss://{host}"] if HOST.fullmatch(host) else []
            return csp(connect_src=["'self'", *same]), "same-origin"
        return self.default, "same-origin"


def is_shop(path: str) -> bool:
    return path == "/" or path.startswith(("/orders/", "/shop/"))


class SecurityHeaders:
    """The headers above on every HTTP response, unless the route set them itself."""

    def __init__(self, app: ASGIApp, *, snap_js_url: str = "") -> None:
        self.app = app
        self.policies = Policies(snap_js_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._added(scope, path, list(message.get("headers", ())))
            await send(message)

        await self.app(scope, receive, with_headers)

    def _added(self, scope: Scope, path: str, raw: list[tuple[bytes, bytes]]) -> list[Any]:
        """`raw` (an answer's headers) with those above it does not set itself. Plain lists, not
        Starlette's MutableHeaders: its lookups cost a webhook's answer 5% of its CPU."""
        present = {name.lower() for name, _ in raw}
        policy, referrer = self.policies.for_request(path, _host(scope))
        if b"x-content-type-options" not in present:
            raw.append((b"x-content-type-options", b"nosniff"))
        if b"referrer-policy" not in present:
            raw.append((b"referrer-policy", referrer.encode()))
        if b"content-security-policy" not in present:
            raw.append((b"content-security-policy", policy.encode()))
            if b"x-frame-options" not in present:
                raw.append((b"x-frame-options", b"DENY"))
        if path.startswith("/api/") and b"cache-control" not in present:
            raw.append((b"cache-control", b"no-store"))
        return raw


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def install(app: Starlette, settings: Settings, *, snap_js_url: str) -> None:
    """Both middlewares, outermost (call it after every other `add_middleware`): the proxy's
    client address is known before anything else runs, and every answer gets the headers."""
    app.add_middleware(SecurityHeaders, snap_js_url=snap_js_url)
    app.add_middleware(
        ProxyHeadersMiddleware,
        trusted_hosts=trusted_proxies(settings.bayar_trusted_proxies),
    )
