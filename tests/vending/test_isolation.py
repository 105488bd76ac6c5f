"""Two machines on one bayar: each sees only its own events and cannot act on the other's orders."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import pytest
from sqlalchemy import select

from bayar.storage.models import Dispense
from bayar.vending.machines import create_machine

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    from tests.vending.conftest import ConnectKiosk, HttpFor, Kiosk, LiveApp, SandboxOf, StartApp

LONG_TIMEOUT = 30.0


class TwoMachines(TypedDict):
    app: LiveApp
    demo: Kiosk
    m2: Kiosk


@pytest.fixture
async def two_machines(start_app: StartApp, kiosk: ConnectKiosk) -> TwoMachines:
    app = start_app(bayar_dispense_timeout=LONG_TIMEOUT)
    token = await app.run(
        create_machine(app.context.db, "m2", "Machine 2", "Hall", [("A1", "cola", 5, 5)])
    )
    demo = await kiosk(app)
    other = await kiosk(app, "m2", token)
    return {"app": app, "demo": demo, "m2": other}


async def test_each_machine_gets_its_own_state_and_menu(two_machines: TwoMachines) -> None:
    demo_state = await two_machines["demo"].expect("STATE")
    m2_state = await two_machines["m2"].expect("STATE")
    assert demo_state["machine"]["id"] == "demo-1"
    assert m2_state["machine"] == {"id": "m2", "name": "Machine 2", "location": "Hall"}
    assert len(demo_state["menu"]) == 6
    assert [(i["slot"], i["id"], i["stock"]) for i in m2_state["menu"]] == [("A1", "cola", 5)]


async def test_the_demo_token_does_not_open_another_machine(
    two_machines: TwoMachines, kiosk: ConnectKiosk
) -> None:
    app = two_machines["app"]
    intruder = await kiosk(app, "m2", app.demo_token)
    await intruder.closed.wait()
    assert intruder.close_code == 4401


async def test_events_reach_only_their_machine(
    two_machines: TwoMachines, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    app, demo, m2 = two_machines["app"], two_machines["demo"], two_machines["m2"]
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    await demo.expect("STATE")
    await m2.expect("STATE")

    # Both order a cola: each from its own slot stock.
    demo_order = (await demo.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    m2_order = (await m2.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    demo_menu = {i["id"]: i for i in (await demo.ask("SHOW_MENU"))["items"]}
    m2_menu = {i["id"]: i for i in (await m2.ask("SHOW_MENU"))["items"]}
    assert demo_menu["cola"]["stock"] == 9
    assert m2_menu["cola"]["stock"] == 4

    await sandbox.act(m2_order, "pay")
    assert await m2.expect("PAYMENT_SUCCESS") == {"order_id": m2_order}
    command = await m2.expect("DISPENSE")
    assert command["order_id"] == m2_order
    assert command["slot"] == "A1"

    # The demo kiosk's screen is still its own pending order.
    state = await demo.ask("STATE")
    assert state["screen"] == "payment"
    assert state["order"]["order_id"] == demo_order

    await m2.send(
        "DISPENSE_RESULT",
        {"order_id": m2_order, "dispense_id": command["dispense_id"], "ok": True},
    )
    assert await m2.expect("DISPENSED") == {"order_id": m2_order}

    await sandbox.act(demo_order, "deny")
    assert (await demo.expect("PAYMENT_FAILED"))["order_id"] == demo_order
    await demo.settle(0.3)

    def order_ids(connection: Kiosk) -> set[str]:
        return {f["values"]["order_id"] for f in connection.frames if "order_id" in f["values"]}

    assert order_ids(demo) == {demo_order}
    assert order_ids(m2) == {m2_order}
    assert m2.count("PAYMENT_FAILED") == 0
    assert demo.count("PAYMENT_SUCCESS") == demo.count("DISPENSE") == demo.count("DISPENSED") == 0


async def test_a_machine_cannot_cancel_or_answer_for_another(
    two_machines: TwoMachines, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    app, demo, m2 = two_machines["app"], two_machines["demo"], two_machines["m2"]
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    await demo.expect("STATE")
    await m2.expect("STATE")
    m2_order = (await m2.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]

    error = await demo.ask("CANCEL", {"order_id": m2_order}, "ERROR")
    assert error["code"] == "not_allowed"
    assert (await http.get(f"/api/orders/{m2_order}")).json()["status"] == "pending"
    assert m2.count("ORDER_CANCELLED") == 0

    # Paid and commanded on m2: a DISPENSE_RESULT from the demo machine is not m2's answer.
    await sandbox.act(m2_order, "pay")
    command = await m2.expect("DISPENSE")
    await demo.send(
        "DISPENSE_RESULT",
        {"order_id": m2_order, "dispense_id": command["dispense_id"], "ok": False},
    )
    await demo.send(
        "DISPENSE_RESULT",
        {"order_id": m2_order, "dispense_id": command["dispense_id"], "ok": True},
    )
    assert await demo.ask("PING", answer="PONG") == {}
    await m2.settle(0.3)
    assert m2.count("REFUNDED") == m2.count("DISPENSED") == 0
    assert (await http.get(f"/api/orders/{m2_order}")).json()["status"] == "paid"

    async def status() -> str:
        async with app.context.db.session() as session:
            row = (
                await session.execute(select(Dispense).where(Dispense.order_id == m2_order))
            ).scalar_one()
            return row.status

    assert await app.run(status()) == "commanded"

    # m2 itself answers its own command.
    await m2.send(
        "DISPENSE_RESULT",
        {"order_id": m2_order, "dispense_id": command["dispense_id"], "ok": True},
    )
    assert await m2.expect("DISPENSED") == {"order_id": m2_order}
    assert demo.count("DISPENSED") == 0
