"""The kiosk WebSocket protocol (src/bayar/kiosk/PROTOCOL.md) against a live app: a real uvicorn
server, its sandbox as the gateway, and a `websockets` client as the kiosk."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import zxingcpp
from PIL import Image
from sqlalchemy import func, select, update

from bayar.storage.models import Order, Slot

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    import httpx
    from tests.vending.conftest import (
        ConnectKiosk,
        HttpFor,
        LiveApp,
        Sandbox,
        SandboxOf,
        StartApp,
    )

DEMO_SLOTS = ["A1", "A2", "A3", "B1", "B2", "B3"]
DEMO_PRODUCTS = {"cola", "lemon", "teh-manis", "kopi-susu", "air-mineral", "jeruk"}
SVG_NS = "{http://www.w3.org/2000/svg}"


# -- helpers ----------------------------------------------------------------------------------------


def stock_of(menu: list[dict[str, Any]], product_id: str) -> int:
    stock: int = next(item["stock"] for item in menu if item["id"] == product_id)
    return stock


def decode_svg_qr(svg: str) -> str:
    """Draw the dark modules of the SVG's path on a bitmap and read it back with zxing-cpp, so the
    test checks that the picture is a QR code of the payload (not that it came from segno)."""
    root = ET.fromstring(svg)  # noqa: S314 (our own server's SVG)
    assert root.tag.removeprefix(SVG_NS) == "svg"
    paths = [el for el in root.iter() if el.tag.removeprefix(SVG_NS) == "path"]
    dark = [p for p in paths if p.get("stroke")]  # the modules: lines of stroke width 1
    assert len(dark) == 1, "one path of dark modules expected"
    size = int(float(root.get("width", "0")) / 8)  # drawn at scale 8
    assert size > 20
    modules: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, args in re.findall(r"([MmHhVvZz])([^MmHhVvZz]*)", dark[0].get("d", "")):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if command == "M":
            x, y = numbers[0], numbers[1]
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            for step in range(int(numbers[0])):
                modules.add((int(x) + step, int(y)))
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path command {command!r}")
    scale = 6
    image = Image.new("L", (size * scale, size * scale), 255)
    for mx, my in modules:
        image.paste(0, (mx * scale, my * scale, (mx + 1) * scale, (my + 1) * scale))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, "the SVG holds no readable QR code"
    text: str = found[0].text
    return text


async def orders_of_machine(app: LiveApp, machine_id: str) -> int:
    async def count() -> int:
        async with app.context.db.session() as session:
            result = await session.execute(
                select(func.count()).select_from(Order).where(Order.machine_id == machine_id)
            )
            return int(result.scalar_one())

    counted: int = await app.run(count())
    return counted


# -- connecting -------------------------------------------------------------------------------------


async def test_connect_sends_state_with_the_machine_and_its_menu(
    app: LiveApp, kiosk: ConnectKiosk
) -> None:
    k = await kiosk(app)
    state = await k.expect("STATE")
    assert k.events()[0] == "STATE"  # the very first frame
    assert state["machine"] == {"id": "demo-1", "name": "Demo Kiosk", "location": "Lobby"}
    assert state["screen"] == "home"
    assert state["order"] is None
    assert state["server_time"].endswith("Z")
    menu = state["menu"]
    assert len(menu) == 6
    assert [item["slot"] for item in menu] == DEMO_SLOTS
    assert {item["id"] for item in menu} == DEMO_PRODUCTS
    for item in menu:
        assert set(item) >= {"id", "slot", "name", "price", "image_url", "available", "stock"}
        assert item["available"] is True
        assert isinstance(item["price"], int)
        assert item["price"] > 0
        assert item["stock"] == 10


async def test_wrong_token_is_closed_with_4401(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app, "demo-1", "not-the-token")
    await k.closed.wait()
    assert k.close_code == 4401
    assert k.frames == []  # nothing about the machine leaks


async def test_missing_token_is_closed_with_4401(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app, "demo-1", "")
    await k.closed.wait()
    assert k.close_code == 4401


async def test_unknown_machine_is_closed_with_4404(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app, "no-such-machine", "whatever")
    await k.closed.wait()
    assert k.close_code == 4404
    assert k.frames == []


async def test_disabling_a_machine_closes_its_kiosk_with_4403_until_enabled(
    app: LiveApp, kiosk: ConnectKiosk
) -> None:
    connected = await kiosk(app)
    await connected.expect("STATE")
    assert await app.run(app.context.vending.set_active("demo-1", False)) is True
    await connected.closed.wait()  # told at once, not at its next message
    assert connected.close_code == 4403

    refused = await kiosk(app)  # with the right token: still out of service
    await refused.closed.wait()
    assert refused.close_code == 4403
    assert refused.frames == []

    await app.run(app.context.vending.set_active("demo-1", True))
    back = await kiosk(app)
    await back.expect("STATE")
    assert await app.run(app.context.vending.set_active("no-such-machine", False)) is False


# -- kiosk → server ---------------------------------------------------------------------------------


async def test_show_menu(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app)
    state = await k.expect("STATE")
    menu = await k.ask("SHOW_MENU")
    assert menu["items"] == state["menu"]


async def test_ping_pong(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    assert await k.ask("PING", answer="PONG") == {}
    assert await k.ask("PING", answer="PONG") == {}
    assert k.events() == ["STATE", "PONG", "PONG"]


async def test_order_created_with_the_gateway_qr_and_bayar_svg(
    app: LiveApp, kiosk: ConnectKiosk, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    created = await k.ask("ORDER", {"id": "cola", "total": 1}, "ORDER_CREATED")
    order_id = created["order_id"]
    assert created["item"]["id"] == "cola"
    assert created["item"]["name"] == "Cola"
    assert created["item"]["price"] == created["gross_amount"] == 7000
    assert 850 <= created["seconds_left"] <= 900  # QRIS: 15 minutes
    assert created["expiry_time"].endswith("Z")

    api = (await http.get(f"/api/orders/{order_id}")).json()
    assert api["status"] == "pending"
    assert api["gross_amount"] == 7000
    assert created["qr_string"]
    assert created["qr_string"] == api["payment"]["qr_string"]

    svg = created["qr_svg"]
    assert svg.lstrip().startswith("<svg")
    assert "<image" not in svg  # drawn by bayar: no picture fetched from the gateway
    assert decode_svg_qr(svg) == created["qr_string"]

    # The reservation shows in the menu.
    assert stock_of((await k.ask("SHOW_MENU"))["items"], "cola") == 9
    state = await k.ask("STATE")
    assert state["screen"] == "payment"
    assert state["order"]["order_id"] == order_id
    assert state["order"]["status"] == "pending"
    assert state["order"]["dispense"] is None


async def test_order_retried_with_the_same_request_id_makes_one_order(
    app: LiveApp, kiosk: ConnectKiosk
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    values = {"id": "lemon", "total": 1, "request_id": "4b7d0d1e-retry"}
    first = await k.ask("ORDER", values, "ORDER_CREATED")
    second = await k.ask("ORDER", values, "ORDER_CREATED")
    assert second["order_id"] == first["order_id"]
    assert second["qr_string"] == first["qr_string"]
    assert await orders_of_machine(app, "demo-1") == 1
    assert stock_of((await k.ask("SHOW_MENU"))["items"], "lemon") == 9  # reserved once

    # Another request id is another order.
    third = await k.ask("ORDER", {**values, "request_id": "another"}, "ORDER_CREATED")
    assert third["order_id"] != first["order_id"]
    assert await orders_of_machine(app, "demo-1") == 2


async def test_order_of_an_unknown_product(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    error = await k.ask("ORDER", {"id": "no-such-drink"}, "ERROR")
    assert error["code"] == "unknown_product"
    assert error["message"]
    assert await orders_of_machine(app, "demo-1") == 0


MALFORMED = [
    "not json",
    "[1, 2]",
    '{"values": {}}',
    '{"event": "PING", "values": [1]}',
    '{"event": "DANCE", "values": {}}',
    '{"event": "ORDER", "values": {"id": 5}}',
    '{"event": "ORDER", "values": {"id": "cola", "total": 2}}',
]


async def test_malformed_frames_get_error_invalid_and_the_socket_stays_usable(
    app: LiveApp, kiosk: ConnectKiosk
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    for raw in MALFORMED:
        await k.send_raw(raw)
        error = await k.expect("ERROR")
        assert error["code"] == "invalid", raw
        assert error["message"]
        assert await k.ask("PING", answer="PONG") == {}, raw
    assert not k.closed.is_set()
    assert k.count("ERROR") == len(MALFORMED)
    assert await orders_of_machine(app, "demo-1") == 0
    # Still a working kiosk after all that.
    assert (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]


async def test_an_order_whose_qr_never_came_back_is_cancelled_and_its_drink_freed(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
) -> None:
    app = start_app(midtrans_timeout_seconds=0.3, **db_settings)
    sandbox = sandbox_of(await http_for(app), app)
    k = await kiosk(app)
    before = stock_of((await k.expect("STATE"))["menu"], "cola")
    await sandbox.fault("api_hang", seconds=1.0, count=1)  # the charge happens, its answer is late

    error = await k.ask("ORDER", {"id": "cola", "request_id": "lost-answer"}, "ERROR")

    assert error["code"] == "gateway"
    deadline = asyncio.get_running_loop().time() + 10
    while stock_of((await k.ask("SHOW_MENU"))["items"], "cola") != before:
        assert asyncio.get_running_loop().time() < deadline, "the drink stayed reserved"
        await asyncio.sleep(0.1)
    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert state["order"] is None


async def test_cancel_releases_the_reservation(
    app: LiveApp, kiosk: ConnectKiosk, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "kopi-susu"}, "ORDER_CREATED"))["order_id"]
    assert stock_of((await k.ask("SHOW_MENU"))["items"], "kopi-susu") == 9

    assert await k.ask("CANCEL", {"order_id": order_id}, "ORDER_CANCELLED") == {
        "order_id": order_id
    }
    assert (await http.get(f"/api/orders/{order_id}")).json()["status"] == "cancelled"
    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert state["order"] is None
    assert stock_of(state["menu"], "kopi-susu") == 10


async def test_cancel_is_answered_once(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await k.ask("CANCEL", {"order_id": order_id}, "ORDER_CANCELLED")
    await k.settle(0.5)
    assert k.count("ORDER_CANCELLED", order_id) == 1


async def test_cancel_of_an_unknown_order(app: LiveApp, kiosk: ConnectKiosk) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    error = await k.ask("CANCEL", {"order_id": "BYR-NOPE"}, "ERROR")
    assert error["code"] == "not_found"


async def test_cancel_of_an_order_paid_meanwhile_answers_payment_success(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox.fault("drop", count=1)  # the settlement webhook is lost: bayar does not know
    await sandbox.act(order_id, "pay")
    await k.send("CANCEL", {"order_id": order_id})
    await k.expect("PAYMENT_SUCCESS")
    await k.expect("DISPENSE")
    await k.settle(0.3)
    assert k.count("ERROR") == 0
    assert k.count("ORDER_CANCELLED") == 0


async def test_cancel_of_an_order_paid_meanwhile_still_dispenses(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    """Whatever the answer frames, the money wins: the order is paid and dispensed, not cancelled."""
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox.fault("drop", count=1)
    await sandbox.act(order_id, "pay")
    await k.send("CANCEL", {"order_id": order_id})
    await k.expect("PAYMENT_SUCCESS")
    command = await k.expect("DISPENSE")
    assert command["order_id"] == order_id
    assert k.count("ORDER_CANCELLED") == 0
    assert (await http.get(f"/api/orders/{order_id}")).json()["status"] == "paid"


# -- payment outcomes -----------------------------------------------------------------------------


async def test_paid_order_is_dispensed_and_fulfilled(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "pay")

    assert await k.expect("PAYMENT_SUCCESS") == {"order_id": order_id}
    command = await k.expect("DISPENSE")
    events = k.events()
    assert events.index("PAYMENT_SUCCESS") < events.index("DISPENSE")
    assert command == {
        "order_id": order_id,
        "dispense_id": f"dsp-{order_id}",
        "slot": "A1",
        "product_id": "cola",
        "name": "Cola",
    }
    assert command["dispense_id"]
    state = await k.ask("STATE")
    assert state["screen"] == "dispensing"
    assert state["order"]["status"] == "paid"
    assert state["order"]["dispense"] == {
        "dispense_id": command["dispense_id"],
        "status": "commanded",
    }

    await k.send(
        "DISPENSE_RESULT",
        {"order_id": order_id, "dispense_id": command["dispense_id"], "ok": True},
    )
    assert await k.expect("DISPENSED") == {"order_id": order_id}
    assert (await http.get(f"/api/orders/{order_id}")).json()["status"] == "fulfilled"
    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert stock_of(state["menu"], "cola") == 9  # sold for good
    await k.settle(0.3)
    assert k.count("DISPENSE") == 1
    assert k.count("DISPENSED") == 1


async def test_many_sockets_of_one_machine_all_see_the_payment_and_one_is_commanded(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    """A fan-out to 30 sockets of one machine (reloaded pages): each hears PAYMENT_SUCCESS, and the
    dispense command goes out once."""
    first = await kiosk(app)
    await first.expect("STATE")
    others = [await kiosk(app) for _ in range(29)]
    for other in others:
        await other.expect("STATE")
    order_id = (await first.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "pay")

    for k in [first, *others]:
        assert await k.expect("PAYMENT_SUCCESS") == {"order_id": order_id}
    await first.settle(0.5)
    commands = sum(k.count("DISPENSE", order_id) for k in [first, *others])
    assert commands == 1
    assert (await http.get(f"/api/orders/{order_id}")).json()["status"] == "paid"


async def test_sold_out_slot(app: LiveApp, kiosk: ConnectKiosk) -> None:
    async def empty_slot() -> None:
        async with app.context.db.session() as session, session.begin():
            await session.execute(
                update(Slot).where(Slot.machine_id == "demo-1", Slot.code == "A2").values(stock=0)
            )

    k = await kiosk(app)
    await k.expect("STATE")
    await app.run(empty_slot())
    items = {item["id"]: item for item in (await k.ask("SHOW_MENU"))["items"]}
    assert items["lemon"]["available"] is False
    assert items["lemon"]["stock"] == 0
    assert items["cola"]["available"] is True
    error = await k.ask("ORDER", {"id": "lemon"}, "ERROR")
    assert error["code"] == "sold_out"
    assert await orders_of_machine(app, "demo-1") == 0
    # STATE shows the same.
    state = await k.ask("STATE")
    lemon = next(item for item in state["menu"] if item["id"] == "lemon")
    assert lemon["available"] is False


async def test_expired_qr(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "jeruk"}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "expire")
    assert await k.expect("EXPIRED") == {"order_id": order_id}
    assert (await http.get(f"/api/orders/{order_id}")).json()["status"] == "expired"
    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert stock_of(state["menu"], "jeruk") == 10
    assert k.count("DISPENSE") == 0


async def test_denied_payment(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "teh-manis"}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "deny")
    assert await k.expect("PAYMENT_FAILED") == {"order_id": order_id, "reason": "denied"}
    assert (await http.get(f"/api/orders/{order_id}")).json()["status"] == "failed"
    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert stock_of(state["menu"], "teh-manis") == 10
    assert k.count("DISPENSE") == 0
