"""The HTTP client both gateway adapters talk through: httpx's API over aiohttp's connections.

httpx's own transport (httpcore and h11, in pure Python) was the largest part of a confirmed
settlement's cost after the database: `bench/webhooks.py --callgrind` counted 6.61 M
instructions of bayar per settlement with it and 5.39 M with aiohttp's (its C parser and pool)
under httpx, through `httpx-aiohttp`. Requests, answers, timeouts and errors stay httpx's, so the
adapters and their tests (which hand in their own transports) see no difference.
"""

from __future__ import annotations

import functools
import ssl
from urllib.request import getproxies

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

LIMITS = httpx.Limits(max_connections=128, keepalive_expiry=30)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One context for every client: each new one reads the CA bundle again (some 20 ms)."""
    return httpx.create_ssl_context()


class GatewayTransport(AiohttpTransport):
    """aiohttp under httpx. Every aiohttp error, also those `httpx-aiohttp` leaves as they are
    (an answer that is not HTTP, say), comes out as an httpx transport error. The answer is read
    whole here, by aiohttp: the adapters read every answer whole anyway, and httpx's streaming of
    it cost as much as aiohttp's request (bench/webhooks.py --callgrind)."""

    def __init__(self) -> None:
        super().__init__(verify=_tls(), limits=LIMITS)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            with map_aiohttp_exceptions():
                return await self._exchange(request)
        except httpx.TransportError as error:
            raise _named(error) from error.__cause__
        except aiohttp.ClientError as error:
            raise httpx.TransportError(f"{type(error).__name__}: {error}") from error

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        async with self.client.request(
            request.method,
            str(request.url),
            headers=request.headers,
            data=await request.aread() or None,
            allow_redirects=False,
            auto_decompress=False,  # httpx decodes, as it would its own transport's answer
            compress=False,
            timeout=aiohttp.ClientTimeout(
                sock_connect=timeout.get("connect"),
                sock_read=timeout.get("read"),
                connect=timeout.get("pool"),
            ),
            server_hostname=request.extensions.get("sni_hostname"),
        ) as answer:
            content = await answer.read()
        extensions = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            content=content,
            request=request,
            extensions=extensions,
        )


def _named(error: httpx.TransportError) -> httpx.TransportError:
    """`httpx-aiohttp` calls every lost connection a connect timeout (a refused connection, a
    server that hung up): the logs say what it was."""
    cause = error.__cause__
    if not isinstance(error, httpx.ConnectTimeout) or isinstance(cause, aiohttp.ServerTimeoutError):
        return error
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(error))
    return httpx.ReadError(str(error))


class _NoCookies(httpx.Cookies):
    """Always empty: what an answer sets is not kept."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return


class _Client(httpx.AsyncClient):
    """httpx's client without its cookie jar. The gateways' APIs keep no state in cookies (a
    balancer's sticky cookie is not needed either), and reading each answer's `Set-Cookie`
    through `http.cookiejar` cost 4% of a confirmed settlement's CPU (py-spy,
    bench/webhooks.py)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        if cookies:
            raise ValueError("a gateway client keeps no cookies")


_NO_COOKIES = _NoCookies()


def client(
    secret: str,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """Basic auth with the secret key as the user name, no redirects followed. Behind a proxy
    named in the environment (HTTPS_PROXY and the like), httpx's own pool, which honours it."""
    if transport is None and not _proxied():
        transport = GatewayTransport()
    return _Client(
        auth=httpx.BasicAuth(secret, ""),
        headers=headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
    )


def _proxied() -> bool:
    return any(scheme in getproxies() for scheme in ("http", "https", "all"))
