"""The gateways' HTTP client spreads its requests over small pools, and closes them all."""

from __future__ import annotations

import httpx

from bayar.gateways.http import Pools


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
