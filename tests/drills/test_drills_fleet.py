"""Drills on the production layout: two `bayar serve` processes and a `bayar worker` on PostgreSQL
+ Redis, a sandbox process as their gateway (tests/drills/drill_fleet.py). Concurrency across processes,
and kill -9 of a server in the middle of a burst: the survivor and the worker's reconciliation
converge. Bounded waits only: each drill polls its books until they balance or its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from drill_fleet import ADMIN_TOKEN, Fleet
from websockets.asyncio.client import connect

from bayar.vending.machines import create_machine

if TYPE_CHECKING:  # the fixtures' types; tests/drills is on the path, so its conftest is `conftest`
    from conftest import Drill

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CONVERGE = 60.0  # seconds: the worker's first look at an order, then its backoff (15 s)
# A machine that holds both drinks: a two-line order is refused for being two lines.
SLOTS = [("A1", "cola", 5, 5), ("A2", "lemon", 5, 5)]


async def create(client: httpx.AsyncClient, base: str, product_id: str) -> httpx.Response:
    return await client.post(
        f"{base}/api/payments/create-transaction",
        json={"items": [{"product_id": product_id, "quantity": 1}], "payment_type": "qris"},
    )


async def deliveries(fleet: Fleet, order_id: str) -> list[dict[str, Any]]:
    answer = await fleet.control(f"midtrans/{order_id}/notifications", "GET")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def test_duplicates_x20_concurrent_across_two_servers(
    fleet_ready: Fleet, drill: Drill
) -> None:
    """A settlement notification lost on its way, then sent 20 times at once, half to each server."""
    fleet = fleet_ready
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("a")
    async with httpx.AsyncClient(timeout=30) as client:
        made = await create(client, fleet.url("a"), "cola")
        assert made.status_code == 201, made.text
        order_id = made.json()["order_id"]
        assert (await fleet.control("faults", kind="drop")).status_code == 200
        assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200

        async def dropped() -> bool:
            log = await deliveries(fleet, order_id)
            return any(d["transaction_status"] == "settlement" and d["attempts"] for d in log)

        await wait_for("the settlement notification dropped", dropped)
        body = next(
            d["body"]
            for d in await deliveries(fleet, order_id)
            if d["transaction_status"] == "settlement"
        )
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{fleet.url(server)}/api/payments/notification",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                for server in ("a", "b") * 10
            )
        )
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
        order = (await client.get(f"{fleet.url('b')}/api/orders/{order_id}")).json()
    paid = [h for h in order["history"] if h["to_status"] == "paid" and not h.get("ignored")]
    assert len(paid) == 1, order["history"]
    await drill.converge(books, within=CONVERGE, pause=0.3)


async def test_last_units_50_buyers_10_units_across_two_servers(
    fleet_ready: Fleet, drill: Drill
) -> None:
    fleet = fleet_ready
    await fleet.set_product("drill-last", "Es Teh Terakhir", 5000, 10)
    books = await drill.fleet_books(fleet)
    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(
            *(create(client, fleet.url(server), "drill-last") for server in ("a", "b") * 25)
        )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 10, codes
    assert codes.count(409) == 40, codes
    for answer in answers:
        if answer.status_code == 201:
            paid = await fleet.control(f"midtrans/{answer.json()['order_id']}/pay")
            assert paid.status_code == 200, paid.text
    await drill.converge(books, within=CONVERGE, pause=0.3)


async def test_kill_9_during_a_webhook_burst(fleet_ready: Fleet, drill: Drill) -> None:
    """Twenty orders paid at once, their notifications going to server A, which is killed with
    SIGKILL halfway. The load balancer sends the rest to B; the worker reconciles what A lost."""
    fleet = fleet_ready
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("a")
    async with httpx.AsyncClient(timeout=30) as client:
        made = await asyncio.gather(
            *(create(client, fleet.url(server), "cola") for server in ("a", "b") * 10)
        )
    assert {m.status_code for m in made} == {201}, [m.text for m in made]
    orders = [m.json()["order_id"] for m in made]

    async def pay(order_id: str) -> None:
        assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200

    burst = [asyncio.create_task(pay(order_id)) for order_id in orders]
    await asyncio.gather(*burst[:10])
    fleet.servers["a"].kill9()
    await asyncio.gather(*burst[10:])
    await fleet.deliver_to("b")
    await drill.converge(books, within=CONVERGE, pause=0.3)


async def test_kill_9_during_a_checkout_burst(fleet_ready: Fleet, drill: Drill) -> None:
    """Thirty create-transaction calls at once to server A, killed with SIGKILL mid-burst; the
    customers who got a QR pay it. Nothing sold twice, no unit lost, every payment lands."""
    fleet = fleet_ready
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("b")
    async with httpx.AsyncClient(timeout=30) as client:

        async def attempt() -> httpx.Response | None:
            try:
                return await create(client, fleet.url("a"), "cola")
            except httpx.HTTPError:
                return None  # the server died under this request

        calls = [asyncio.create_task(attempt()) for _ in range(30)]
        await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        fleet.servers["a"].kill9()
        answers = await asyncio.gather(*calls)
    assert any(a is not None and a.status_code == 201 for a in answers)
    orders = [a.json()["order_id"] for a in answers if a is not None and a.status_code == 201]
    for order_id in orders:
        paid = await fleet.control(f"midtrans/{order_id}/pay")
        assert paid.status_code == 200, paid.text
    await drill.converge(books, within=CONVERGE, pause=0.3)
    # Orders A made but never answered for: the gateway has each as pending or nothing at all.
    for order_id in orders:
        found = json.loads((await fleet.control(f"midtrans/{order_id}", "GET")).text)
        assert found["transaction"]["transaction_status"] == "settlement"


async def test_kiosk_paid_while_offline_is_dispensed_when_it_reconnects(
    fleet_ready: Fleet, drill: Drill
) -> None:
    """Issue 8, problem 4: a kiosk order paid while its machine is away, and a newer order of the
    machine after it. The machine reconnects (to the other server): it is told to DISPENSE the
    paid one, oldest first, and the books balance once it has."""
    fleet = fleet_ready
    machine_id = f"drill-{secrets.token_hex(4)}"
    token = await create_machine(fleet.db, machine_id, "Drill", "Lab", [("A1", "cola", 5, 5)])
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("a")
    orders = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(2):
            made = await client.post(
                f"{fleet.url('a')}/api/payments/create-transaction",
                json={
                    "items": [{"product_id": "cola", "quantity": 1}],
                    "payment_type": "qris",
                    "machine_id": machine_id,
                },
                headers={"X-Kiosk-Token": token},
            )
            assert made.status_code == 201, made.text
            orders.append(made.json()["order_id"])
            if len(orders) == 1:
                assert (await fleet.control(f"midtrans/{orders[0]}/pay")).status_code == 200

                async def paid() -> bool:
                    found = await client.get(f"{fleet.url('a')}/api/orders/{orders[0]}")
                    return bool(found.json()["status"] == "paid")

                await wait_for("the kiosk order paid", paid)
    ws_url = f"{fleet.url('b').replace('http', 'ws', 1)}/ws/kiosk/{machine_id}?token={token}"
    async with connect(ws_url, open_timeout=10, ping_interval=None) as ws:
        deadline = time.monotonic() + 15
        command: dict[str, Any] | None = None
        while command is None:
            left = deadline - time.monotonic()
            assert left > 0, f"no DISPENSE for the paid order {orders[0]} on reconnect"
            with contextlib.suppress(TimeoutError):
                frame = json.loads(await asyncio.wait_for(ws.recv(), left))
                if frame["event"] == "DISPENSE" and frame["values"]["order_id"] == orders[0]:
                    command = frame["values"]
        await ws.send(
            json.dumps(
                {
                    "event": "DISPENSE_RESULT",
                    "values": {
                        "order_id": orders[0],
                        "dispense_id": command["dispense_id"],
                        "ok": True,
                    },
                }
            )
        )
        await drill.converge(books, within=CONVERGE, pause=0.3)


async def test_tampered_status_on_a_genuine_body_across_servers(
    fleet_ready: Fleet, drill: Drill
) -> None:
    """Issue 8, problem 2, on the fleet: a paid order's genuine settlement body sent to the other
    server with `transaction_status` changed to cancel, then refund."""
    fleet = fleet_ready
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("a")
    async with httpx.AsyncClient(timeout=30) as client:
        made = await create(client, fleet.url("a"), "cola")
        assert made.status_code == 201, made.text
        order_id = made.json()["order_id"]
        assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200

        async def paid() -> bool:
            found = await client.get(f"{fleet.url('b')}/api/orders/{order_id}")
            return bool(found.json()["status"] == "paid")

        await wait_for("the order paid", paid)
        body = json.loads(
            next(
                d["body"]
                for d in await deliveries(fleet, order_id)
                if d["transaction_status"] == "settlement"
            )
        )
        for forged in ("cancel", "refund"):
            await client.post(
                f"{fleet.url('b')}/api/payments/notification",
                content=json.dumps({**body, "transaction_status": forged}),
                headers={"Content-Type": "application/json"},
            )
    await drill.converge(books, within=10, pause=0.3)


async def test_reordering_and_replays_across_servers(fleet_ready: Fleet, drill: Drill) -> None:
    """Genuine notifications replayed to the other server out of order: a pending one after the
    settlement, the settlement after a full refund, the pending one after the gateway expired
    the order. Nothing moves back."""
    fleet = fleet_ready
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("a")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as client:
        made = [await create(client, fleet.url("a"), "cola") for _ in range(3)]
        assert {m.status_code for m in made} == {201}, [m.text for m in made]
        settled, refunded, expired = [m.json()["order_id"] for m in made]

        async def status_is(order_id: str, status: str) -> None:
            async def check() -> bool:
                found = await client.get(f"{fleet.url('a')}/api/orders/{order_id}")
                return bool(found.json()["status"] == status)

            await wait_for(f"{order_id} {status}", check)

        for order_id in (settled, refunded):
            assert (await fleet.control(f"midtrans/{order_id}/pay")).status_code == 200
            await status_is(order_id, "paid")
        answer = await client.post(
            f"{fleet.url('a')}/api/orders/{refunded}/refund",
            json={"reason": "drill"},
            headers=admin,
        )
        assert answer.status_code == 200, answer.text
        assert (await fleet.control(f"midtrans/{expired}/expire")).status_code == 200
        await status_is(refunded, "refunded")
        await status_is(expired, "expired")

        async def replay(order_id: str, transaction_status: str) -> None:
            body = next(
                d["body"]
                for d in await deliveries(fleet, order_id)
                if d["transaction_status"] == transaction_status
            )
            answer = await client.post(
                f"{fleet.url('b')}/api/payments/notification",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code == 200, answer.text

        await replay(settled, "pending")
        await replay(refunded, "settlement")
        await replay(refunded, "pending")
        await replay(expired, "pending")
        for order_id, status in ((settled, "paid"), (refunded, "refunded"), (expired, "expired")):
            found = await client.get(f"{fleet.url('b')}/api/orders/{order_id}")
            assert found.json()["status"] == status, found.text
    await drill.converge(books, within=CONVERGE, pause=0.3)


async def test_cancel_racing_pay_across_servers(fleet_ready: Fleet, drill: Drill) -> None:
    """Ten orders, each cancelled by an admin on one server while its customer pays: exactly one
    of the two wins at the gateway, and bayar agrees with it."""
    fleet = fleet_ready
    # Its own product: the shared fleet's cola is what the bursts before left (they keep a varying
    # number of orders, depending on where kill -9 fell).
    await fleet.set_product("drill-race", "Es Teh Balapan", 7000, 10)
    books = await drill.fleet_books(fleet)
    await fleet.deliver_to("a")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as client:
        made = await asyncio.gather(
            *(create(client, fleet.url("a"), "drill-race") for _ in range(10))
        )
        assert {m.status_code for m in made} == {201}, [m.text for m in made]

        async def race(order_id: str, server: str) -> tuple[int, int]:
            cancelled, paid = await asyncio.gather(
                client.post(f"{fleet.url(server)}/api/orders/{order_id}/cancel", headers=admin),
                fleet.control(f"midtrans/{order_id}/pay"),
            )
            return cancelled.status_code, paid.status_code

        outcomes = await asyncio.gather(
            *(race(m.json()["order_id"], ("a", "b")[i % 2]) for i, m in enumerate(made))
        )
    assert set(outcomes) <= {(200, 409), (409, 200)}, outcomes
    await drill.converge(books, within=CONVERGE, pause=0.3)


async def test_kiosk_orders_only_from_an_authenticated_kiosk_on_postgres(
    fleet_ready: Fleet, drill: Drill
) -> None:
    """Issue 8, problem 3, on PostgreSQL: no kiosk order without the machine's token, none for an
    unknown machine, none of several units or lines; the machine itself still sells one."""
    fleet = fleet_ready
    machine_id = f"drill-{secrets.token_hex(4)}"
    token = await create_machine(fleet.db, machine_id, "Drill", "Lab", SLOTS)
    books = await drill.fleet_books(fleet)

    async def kiosk_order(
        client: httpx.AsyncClient, machine: str, secret: str | None, *items: tuple[str, int]
    ) -> httpx.Response:
        return await client.post(
            f"{fleet.url('b')}/api/payments/create-transaction",
            json={
                "items": [{"product_id": p, "quantity": q} for p, q in items],
                "payment_type": "qris",
                "machine_id": machine,
            },
            headers={} if secret is None else {"X-Kiosk-Token": secret},
        )

    async with httpx.AsyncClient(timeout=30) as client:
        refused = {
            "anonymous": await kiosk_order(client, machine_id, None, ("cola", 1)),
            "unknown machine": await kiosk_order(client, "no-such-machine", token, ("cola", 1)),
            "three units": await kiosk_order(client, machine_id, token, ("cola", 3)),
            "two lines": await kiosk_order(client, machine_id, token, ("cola", 1), ("lemon", 1)),
        }
        codes = {why: answer.status_code for why, answer in refused.items()}
        assert codes == {
            "anonymous": 401,
            "unknown machine": 422,
            "three units": 422,
            "two lines": 422,
        }, {why: answer.text for why, answer in refused.items()}
        one = await kiosk_order(client, machine_id, token, ("cola", 1))
        assert one.status_code == 201, one.text
    await drill.converge(books, within=10, pause=0.3)
