"""`StatusLane` answers a plain status call as the sandbox's route does, and lets the rest through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from bayar.config import DEMO_SERVER_KEY, Settings
from bayar.sandbox import wire
from bayar.sandbox.app import Sandbox, standalone_app
from bayar.sandbox.faults import Fault
from bayar.sandbox.lane import StatusLane

V2 = "/sandbox/midtrans/v2"


@dataclass
class Behind:
    """What the lane lets through: noted, then answered by the whole sandbox app (whose own lane
    lets it through again, so the routes answer)."""

    app: ASGIApp
    paths: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@dataclass
class Lanes:
    lane: httpx.AsyncClient  # through a lane in front of `behind`
    routes: httpx.AsyncClient  # the whole app
    behind: Behind
    sandbox: Sandbox

    async def both(self, path: str) -> tuple[httpx.Response, httpx.Response]:
        """The lane's answer, and the routes' (a query string keeps any lane out of it)."""
        return await self.lane.get(path), await self.routes.get(f"{path}?via=routes")


@pytest.fixture
async def lanes(tmp_path: Path) -> AsyncIterator[Lanes]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path / "var",
        bayar_sandbox_state_file=Path(":memory:"),
    )
    app = standalone_app(settings)
    sandbox: Sandbox = app.state.sandbox
    behind = Behind(app)
    lane = StatusLane(behind, sandbox=sandbox, prefix=f"{V2}/")
    auth = httpx.BasicAuth(DEMO_SERVER_KEY, "")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=lane), base_url="http://sandbox.test", auth=auth
        ) as through_lane,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test", auth=auth
        ) as routes,
    ):
        yield Lanes(through_lane, routes, behind, sandbox)


async def _qris(lanes: Lanes, order_id: str) -> str:
    created = await lanes.routes.post(
        f"{V2}/charge",
        json={
            "payment_type": "qris",
            "transaction_details": {"order_id": order_id, "gross_amount": 25000},
        },
    )
    assert created.status_code == 200, created.text
    transaction_id: str = created.json()["transaction_id"]
    return transaction_id


async def test_a_status_call_is_answered_as_the_route_answers_it(lanes: Lanes) -> None:
    transaction_id = await _qris(lanes, "lane-1")
    for moment in ("pending", "settlement"):
        if moment == "settlement":
            paid = await lanes.routes.post(f"/sandbox/_control/midtrans/{transaction_id}/pay")
            assert paid.status_code == 200, paid.text
        for id_ in ("lane-1", transaction_id):
            fast, routed = await lanes.both(f"{V2}/{id_}/status")
            assert fast.status_code == routed.status_code == 200
            assert fast.json()["transaction_status"] == moment
            assert fast.content == routed.content
            assert fast.headers.raw == routed.headers.raw
    assert lanes.behind.paths == []


async def test_an_unknown_transaction_is_midtrans_404_as_from_the_route(lanes: Lanes) -> None:
    fast, routed = await lanes.both(f"{V2}/no-such-order/status")
    assert fast.status_code == routed.status_code == 200  # Midtrans says 404 in the body
    assert fast.headers.raw == routed.headers.raw
    said = fast.json(), routed.json()
    assert said[0]["status_code"] == "404"
    assert said[0].pop("id") != said[1].pop("id")  # each answer has an id of its own
    assert said[0] == said[1]
    assert lanes.behind.paths == []


async def test_a_wrong_key_is_refused_by_the_route(lanes: Lanes) -> None:
    await _qris(lanes, "lane-2")
    for auth in (httpx.BasicAuth("SB-Mid-server-wrong", ""), None):
        refused = await lanes.lane.get(f"{V2}/lane-2/status", auth=auth)
        assert refused.status_code == 401
        assert "transaction_status" not in refused.json()
    assert lanes.behind.paths == [f"{V2}/lane-2/status"] * 2


async def test_an_armed_fault_is_the_route_s_and_taken_once(lanes: Lanes) -> None:
    await _qris(lanes, "lane-3")
    lanes.sandbox.faults.arm(Fault(kind="api_error", remaining=1, status=503))
    failed = await lanes.lane.get(f"{V2}/lane-3/status")
    assert failed.status_code == 503
    assert failed.json()["status_code"] == "503"
    assert lanes.sandbox.faults.describe() == []
    assert (await lanes.lane.get(f"{V2}/lane-3/status")).status_code == 200
    assert lanes.behind.paths == [f"{V2}/lane-3/status"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{V2}/lane-4/status?lang=en"),
        ("HEAD", f"{V2}/lane-4/status"),
        ("POST", f"{V2}/lane-4/status"),
        ("GET", f"{V2}/lane-4/status/b2b"),
        ("GET", f"{V2}/lane-4/x/status"),
        ("GET", f"{V2}//status"),
        ("GET", "/sandbox/midtrans/v1/lane-4/status"),
    ],
)
async def test_anything_but_a_plain_status_call_goes_to_the_routes(
    lanes: Lanes, method: str, path: str
) -> None:
    await _qris(lanes, "lane-4")
    through = await lanes.lane.request(method, path)
    direct = await lanes.routes.request(method, path)
    assert through.status_code == direct.status_code
    assert lanes.behind.paths == [path.partition("?")[0]]


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (0.0, "1970-01-01 07:00:00"),
        (1765000000.999, "2025-12-06 12:46:40"),  # seconds cut, not rounded
        (1764435599.5, "2025-11-29 23:59:59"),
    ],
)
def test_the_answer_s_times_are_wib_to_the_second(timestamp: float, text: str) -> None:
    assert wire.wib(timestamp) == text
    assert wire.parse_wib(text) == int(timestamp)
