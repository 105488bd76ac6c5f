"""The gateways' HTTP client spreads its requests over small pools, and closes them all."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bayar.gateways.http import Pools, client

PROXY_VARIABLES = [
    f"{scheme}_{case}" for scheme in ("http", "https", "all", "no") for case in ("proxy", "PROXY")
]


class Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        return httpx.Response(200, json={"pool": id(self)})

    async def aclose(self) -> None:
        self.closed = True


async def test_requests_take_the_pools_in_turn_and_all_close() -> None:
    made: list[Counting] = []

    def make() -> Counting:
        made.append(Counting())
        return made[-1]

    async with httpx.AsyncClient(transport=Pools(4, make)) as client:
        for n in range(12):
            answer = await client.get(f"http://gateway.test/v2/order-{n}/status")
            assert answer.status_code == 200
    assert len(made) == 4
    assert [len(pool.requests) for pool in made] == [3, 3, 3, 3]
    assert made[0].requests == ["/v2/order-0/status", "/v2/order-4/status", "/v2/order-8/status"]
    assert all(pool.closed for pool in made)


class Recorder:
    """A one-line HTTP/1.1 server on loopback: keeps each request line, answers 200 {}."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.lines.append(head.split(b"\r\n", 1)[0].decode())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()


async def test_a_gateway_client_goes_straight_to_the_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    recorder = Recorder()
    async with recorder as address, client("key", {}, httpx.Timeout(5.0), None) as gateway:
        answer = await gateway.get(f"http://{address}/v2/order-1/status")
    assert answer.status_code == 200
    assert recorder.lines == ["GET /v2/order-1/status HTTP/1.1"]


async def test_a_proxy_in_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    recorder = Recorder()
    async with recorder as address:
        monkeypatch.setenv("HTTP_PROXY", f"http://{address}")
        async with client("key", {}, httpx.Timeout(5.0), None) as gateway:
            answer = await gateway.get("http://api.gateway.test/v2/order-1/status")
    assert answer.status_code == 200
    assert recorder.lines == ["GET http://api.gateway.test/v2/order-1/status HTTP/1.1"]
