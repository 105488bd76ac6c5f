"""The HTTP client both gateway adapters talk through."""

from __future__ import annotations

import functools
import itertools
import ssl
from collections.abc import Callable
from urllib.request import getproxies

import httpx

# httpcore's pool checks every connection it holds on every request (a poll() and a dict of
# socket facts each): with the 30 connections of a settlement wave that was a quarter of the
# status call's CPU. So connections are spread over small pools taken in turn.
POOLS = 8
PER_POOL = httpx.Limits(max_connections=16, max_keepalive_connections=4, keepalive_expiry=30)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One context for every pool: each new one reads the CA bundle again (some 20 ms)."""
    return httpx.create_ssl_context()


def _pool() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=_tls(), limits=PER_POOL)


class Pools(httpx.AsyncBaseTransport):
    """Small connection pools, each request on the next one."""

    def __init__(
        self, pools: int = POOLS, make: Callable[[], httpx.AsyncBaseTransport] = _pool
    ) -> None:
        self._pools = [make() for _ in range(pools)]
        self._next = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def client(
    secret: str,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """Basic auth with the secret key as the user name, no redirects followed. Behind a proxy
    named in the environment (HTTPS_PROXY and the like), httpx's own pool, which honours it."""
    if transport is None and not _proxied():
        transport = Pools()
    return httpx.AsyncClient(
        auth=httpx.BasicAuth(secret, ""),
        headers=headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
    )


def _proxied() -> bool:
    return any(scheme in getproxies() for scheme in ("http", "https", "all"))
