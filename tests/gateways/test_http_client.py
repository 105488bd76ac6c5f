"""The gateways' HTTP client: straight to the gateway on kept connections (or through the proxy
the environment names), its transport's errors httpx's."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bayar.gateways.http import client

PROXY_VARIABLES = [
    f"{scheme}_{case}" for scheme in ("http", "https", "all", "no") for case in ("proxy", "PROXY")
]


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


class FakeGateway:
    """An HTTP/1.1 server on loopback that keeps its connections (or `hangs_up` after its first
    answer): keeps each request line, counts connections, and answers each request with
    `answer`."""

    def __init__(self, answer: bytes = OK, *, hangs_up: bool = False) -> None:
        self.answer = answer
        self.hangs_up = hangs_up
        self.lines: list[str] = []
        self.heads: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.lines.append(head.split(b"\r\n", 1)[0].decode())
                self.heads.append(head.lower())
                writer.write(self.answer)
                await writer.drain()
                if self.hangs_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.mark.usefixtures("no_proxy")
async def test_a_gateway_client_goes_straight_to_the_gateway() -> None:
    recorder = FakeGateway()
    async with recorder as address, client("key", {}, httpx.Timeout(5.0), None) as gateway:
        answer = await gateway.get(f"http://{address}/v2/order-1/status")
    assert answer.status_code == 200
    assert recorder.lines == ["GET /v2/order-1/status HTTP/1.1"]


async def test_a_proxy_in_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    recorder = FakeGateway()
    async with recorder as address:
        monkeypatch.setenv("HTTP_PROXY", f"http://{address}")
        async with client("key", {}, httpx.Timeout(5.0), None) as gateway:
            answer = await gateway.get("http://api.gateway.test/v2/order-1/status")
    assert answer.status_code == 200
    assert recorder.lines == ["GET http://api.gateway.test/v2/order-1/status HTTP/1.1"]


@pytest.mark.usefixtures("no_proxy")
async def test_calls_to_a_gateway_keep_their_connection() -> None:
    server = FakeGateway(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"ok": true}')
    async with server as address, client("key", {}, httpx.Timeout(5.0), None) as gateway:
        answers = [await gateway.get(f"http://{address}/v2/order-{n}/status") for n in range(3)]
    assert [a.json() for a in answers] == [{"ok": True}] * 3
    assert server.connections == 1


@pytest.mark.usefixtures("no_proxy")
async def test_what_is_not_an_http_answer_is_an_httpx_error() -> None:
    """aiohttp's own errors never reach the adapters, which handle httpx's (a 503 for the
    caller, never a 500)."""
    garbled = FakeGateway(b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n{}")
    cut = FakeGateway(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", hangs_up=True)
    async with garbled as bad, client("key", {}, httpx.Timeout(5.0), None) as gateway:
        with pytest.raises(httpx.TransportError):
            await gateway.get(f"http://{bad}/v2/order-1/status")
    async with cut as short, client("key", {}, httpx.Timeout(5.0), None) as gateway:
        with pytest.raises(httpx.TransportError):
            await gateway.get(f"http://{short}/v2/order-1/status")
    closed = FakeGateway(b"")
    async with closed as gone:
        pass  # its port is free again: nobody listens there
    async with client("key", {}, httpx.Timeout(5.0), None) as gateway:
        with pytest.raises(httpx.ConnectError):
            await gateway.get(f"http://{gone}/v2/order-1/status")


@pytest.mark.usefixtures("no_proxy")
async def test_a_cookie_the_gateway_sets_is_not_sent_back() -> None:
    sticky = b"HTTP/1.1 200 OK\r\nSet-Cookie: lb=node-2; Path=/\r\nContent-Length: 2\r\n\r\n{}"
    server = FakeGateway(sticky)
    async with server as address, client("key", {}, httpx.Timeout(5.0), None) as gateway:
        for n in range(2):
            assert (await gateway.get(f"http://{address}/v2/order-{n}/status")).status_code == 200
        assert not gateway.cookies
    assert len(server.heads) == 2
    assert all(b"cookie:" not in head for head in server.heads)
