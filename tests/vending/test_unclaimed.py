"""Every paid kiosk unit ends dispensed or refunded (issue 8, problems 4 and 13).

- The dispense row is made in the transaction that makes the order paid (pending), so a unit paid
  while its machine is away is on the books; on (re)connect the machine is commanded every paid,
  unclaimed order, oldest first, however long it was away and whatever newer order exists.
- The sweep refunds a pending unit after BAYAR_KIOSK_OFFLINE_REFUND seconds (the machine never
  took it), and the manual-refund queue takes what the gateway refuses.
- A dispense belongs to the socket that was sent the command: another socket's answer is ignored.

bayar runs on a fake clock here (tests/support/harness.py `Clock`): the timeouts pass by
`clock.advance`, the sweep runs when a test calls it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from harness import Clock
from sqlalchemy import select

from bayar.storage.models import Dispense, Refund

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    import httpx
    import pytest
    from tests.vending.conftest import (
        ConnectKiosk,
        HttpFor,
        LiveApp,
        Sandbox,
        SandboxOf,
        StartApp,
    )

OFFLINE_REFUND = 900.0
DISPENSE_TIMEOUT = 30.0


async def dispense_of(app: LiveApp, order_id: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        async with app.context.db.session() as session:
            row = await session.get(Dispense, order_id)
            if row is None:
                return None
            return {"status": row.status, "commands": row.commands, "slot": row.slot_code}

    found: dict[str, Any] | None = await app.run(read())
    return found


async def refunds(app: LiveApp, order_id: str) -> list[tuple[str, int]]:
    async def read() -> list[tuple[str, int]]:
        async with app.context.db.session() as session:
            rows = (
                (await session.execute(select(Refund).where(Refund.order_id == order_id)))
                .scalars()
                .all()
            )
            return [(r.status, r.amount) for r in rows]

    found: list[tuple[str, int]] = await app.run(read())
    return found


async def sweep(app: LiveApp) -> int:
    handled: int = await app.run(app.context.vending.sweep())
    return handled


async def order_status(http: httpx.AsyncClient, order_id: str) -> str:
    status: str = (await http.get(f"/api/orders/{order_id}")).json()["status"]
    return status


async def wait_for_status(http: httpx.AsyncClient, order_id: str, wanted: str) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while await order_status(http, order_id) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"never {wanted}"
        await asyncio.sleep(0.05)


async def started(
    start_app: StartApp, http_for: HttpFor, sandbox_of: SandboxOf, clock: Clock, **settings: Any
) -> tuple[LiveApp, httpx.AsyncClient, Sandbox]:
    values: dict[str, Any] = {
        "bayar_dispense_timeout": DISPENSE_TIMEOUT,
        "bayar_kiosk_offline_refund": OFFLINE_REFUND,
    }
    values.update(settings)
    app = start_app(run_worker=False, now=clock, **values)
    http = await http_for(app)
    return app, http, sandbox_of(http, app)


async def ordered_then_offline(app: LiveApp, kiosk: ConnectKiosk, product: str) -> str:
    """A kiosk orders `product` (its QR on screen), then loses its connection."""
    k = await kiosk(app)
    await k.expect("STATE")
    order_id: str = (await k.ask("ORDER", {"id": product}, "ORDER_CREATED"))["order_id"]
    await k.close()
    return order_id


# -- problem 4: paid while the kiosk is away ----------------------------------------------------------


async def test_a_unit_paid_while_the_machine_is_away_is_refunded_after_the_offline_limit(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
) -> None:
    clock = Clock()
    app, http, sandbox = await started(start_app, http_for, sandbox_of, clock, **db_settings)
    order_id = await ordered_then_offline(app, kiosk, "cola")
    await sandbox.act(order_id, "pay")
    await wait_for_status(http, order_id, "paid")
    # On the books from the moment it was paid.
    assert await dispense_of(app, order_id) == {"status": "pending", "commands": 0, "slot": "A1"}

    clock.advance(seconds=OFFLINE_REFUND - 1)
    assert await sweep(app) == 0
    assert await dispense_of(app, order_id) == {"status": "pending", "commands": 0, "slot": "A1"}

    clock.advance(seconds=2)
    assert await sweep(app) == 1
    assert await order_status(http, order_id) == "refunded"
    assert (await dispense_of(app, order_id) or {})["status"] == "refunded"
    assert await refunds(app, order_id) == [("succeeded", 7000)]
    assert (await sandbox.status(order_id))["transaction_status"] == "refund"

    # The machine comes back: nothing to drop, nothing refunded twice.
    back = await kiosk(app)
    assert (await back.expect("STATE"))["screen"] == "home"
    await back.settle(0.3)
    assert back.count("DISPENSE") == 0
    assert await sweep(app) == 0
    assert await refunds(app, order_id) == [("succeeded", 7000)]


async def test_a_unit_the_gateway_will_not_refund_goes_to_the_manual_queue(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    clock = Clock()
    app, http, sandbox = await started(start_app, http_for, sandbox_of, clock)
    order_id = await ordered_then_offline(app, kiosk, "kopi-susu")
    await sandbox.act(order_id, "pay")
    await wait_for_status(http, order_id, "paid")
    # Staff refunded it at the gateway's dashboard; bayar never heard (notifications lost).
    await sandbox.fault("drop", count=2)
    assert (await sandbox.refund(order_id, "staff"))["status_code"] == "200"

    clock.advance(seconds=OFFLINE_REFUND + 1)
    assert await sweep(app) == 1
    assert (await dispense_of(app, order_id) or {})["status"] == "manual_refund"
    # In the one manual-refund queue (the admin's), under the dispense's refund key.
    assert await refunds(app, order_id) == [("manual", 12000)]


async def test_a_unit_an_admin_refunded_while_the_machine_was_away_is_not_queued(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    clock = Clock()
    app, http, sandbox = await started(start_app, http_for, sandbox_of, clock)
    order_id = await ordered_then_offline(app, kiosk, "cola")
    await sandbox.act(order_id, "pay")
    await wait_for_status(http, order_id, "paid")
    await app.run(
        app.context.payments.refunds.refund(
            order_id, amount=None, refund_key="by-admin", reason="customer asked", source="admin"
        )
    )
    await wait_for_status(http, order_id, "refunded")

    back = await kiosk(app)  # a refunded unit is not dropped
    await back.expect("STATE")
    await back.settle(0.3)
    assert back.count("DISPENSE") == 0

    clock.advance(seconds=OFFLINE_REFUND + 1)
    assert await sweep(app) == 1
    assert (await dispense_of(app, order_id) or {})["status"] == "refunded"
    assert await refunds(app, order_id) == [("succeeded", 7000)]  # the admin's, once


async def test_on_reconnect_every_paid_unclaimed_unit_is_commanded_oldest_first(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    """Two units paid while the machine was away, the second one newer; it comes back more than
    an hour later (the offline limit is longer here): both are dropped, the older first."""
    clock = Clock()
    app, http, sandbox = await started(
        start_app, http_for, sandbox_of, clock, bayar_kiosk_offline_refund=3 * 3600.0
    )
    older = await ordered_then_offline(app, kiosk, "cola")
    newer = await ordered_then_offline(app, kiosk, "lemon")
    await sandbox.act(older, "pay")
    await wait_for_status(http, older, "paid")
    clock.advance(seconds=10)
    await sandbox.act(newer, "pay")
    await wait_for_status(http, newer, "paid")

    clock.advance(minutes=61)
    assert await sweep(app) == 0
    back = await kiosk(app)
    await back.expect("STATE")
    first = await back.expect("DISPENSE")
    second = await back.expect("DISPENSE")
    assert (first["order_id"], first["slot"]) == (older, "A1")
    assert (second["order_id"], second["slot"]) == (newer, "A2")
    for command in (first, second):
        await back.send(
            "DISPENSE_RESULT",
            {"order_id": command["order_id"], "dispense_id": command["dispense_id"], "ok": True},
        )
        assert await back.expect("DISPENSED") == {"order_id": command["order_id"]}
    assert await order_status(http, older) == "fulfilled"
    assert await order_status(http, newer) == "fulfilled"
    await back.settle(0.3)
    assert back.count("DISPENSE") == 2


async def test_a_commanded_unit_not_answered_in_time_is_refunded(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    clock = Clock()
    app, http, sandbox = await started(start_app, http_for, sandbox_of, clock)
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "pay")
    await k.expect("DISPENSE")
    clock.advance(seconds=DISPENSE_TIMEOUT - 1)
    assert await sweep(app) == 0
    clock.advance(seconds=2)
    assert await sweep(app) == 1
    assert await k.expect("REFUNDED") == {"order_id": order_id, "amount": 7000}
    assert await order_status(http, order_id) == "refunded"


async def test_a_connected_machine_is_rung_for_a_unit_no_socket_took(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    """Two servers on one database without a shared bus (no REDIS_URL): the payment's doorbell
    rings on the server that handled it, the kiosk is connected to the other. After
    BAYAR_DISPENSE_TIMEOUT the other server's sweep rings its machine, which claims the unit."""
    clock = Clock()
    a, http, sandbox = await started(start_app, http_for, sandbox_of, clock)
    b = start_app(
        run_worker=False,
        now=clock,
        var_dir=a.settings.bayar_var_dir,
        bayar_dispense_timeout=DISPENSE_TIMEOUT,
        bayar_kiosk_offline_refund=OFFLINE_REFUND,
    )
    k = await kiosk(b, token=a.demo_token)
    await k.expect("STATE")
    created = await http.post(
        "/api/payments/create-transaction",
        json={
            "items": [{"product_id": "cola", "quantity": 1}],
            "payment_type": "qris",
            "machine_id": "demo-1",
        },
        headers={"X-Kiosk-Token": a.demo_token},
    )
    order_id = created.json()["order_id"]
    await sandbox.act(order_id, "pay")
    await wait_for_status(http, order_id, "paid")
    await k.settle(0.3)
    assert k.count("DISPENSE") == 0  # b never heard of the payment

    clock.advance(seconds=DISPENSE_TIMEOUT + 1)
    assert await sweep(b) == 0  # not due for a refund: a doorbell only
    command = await k.expect("DISPENSE")
    assert command["order_id"] == order_id
    assert (await dispense_of(a, order_id) or {})["status"] == "commanded"


# -- problem 13: two sockets of one machine ----------------------------------------------------------


async def test_only_the_socket_that_was_commanded_answers_for_the_dispense(
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The machine's old socket is still open (half-open after a network change) when it
    reconnects: the command goes to the new socket, which owns it; the stale socket's "failed"
    refunds nothing."""
    clock = Clock()
    app, http, sandbox = await started(start_app, http_for, sandbox_of, clock)
    stale = await kiosk(app)
    await stale.expect("STATE")
    order_id = (await stale.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "pay")
    command = await stale.expect("DISPENSE")

    fresh = await kiosk(app)
    await fresh.expect("STATE")
    assert await fresh.expect("DISPENSE") == command  # the same dispense, now this socket's

    answer = {"order_id": order_id, "dispense_id": command["dispense_id"]}
    with caplog.at_level(logging.WARNING, logger="bayar.vending"):
        await stale.send("DISPENSE_RESULT", answer | {"ok": False, "detail": "stale socket"})
        assert await stale.ask("PING", answer="PONG") == {}
    assert (await dispense_of(app, order_id) or {})["status"] == "commanded"
    assert any("does not own" in record.getMessage() for record in caplog.records)

    await fresh.send("DISPENSE_RESULT", answer | {"ok": True})
    assert await fresh.expect("DISPENSED") == {"order_id": order_id}
    assert await order_status(http, order_id) == "fulfilled"
    assert await refunds(app, order_id) == []
    await fresh.settle(0.3)
    assert fresh.count("REFUNDED") == stale.count("REFUNDED") == 0
