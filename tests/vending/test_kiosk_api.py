"""Kiosk orders through the HTTP API (issue 8, problem 3): only with the machine's token in
`X-Kiosk-Token`, and only one unit of one product paid by QRIS or GoPay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from bayar.storage.models import Order, Slot
from bayar.vending.machines import create_machine

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    import httpx
    from tests.vending.conftest import ConnectKiosk, HttpFor, LiveApp, StartApp

CREATE = "/api/payments/create-transaction"


def kiosk_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "items": [{"product_id": "cola", "quantity": 1}],
        "payment_type": "qris",
        "machine_id": "demo-1",
    }
    body.update(changes)
    return body


async def kiosk_orders(app: LiveApp) -> int:
    async def count() -> int:
        async with app.context.db.session() as session:
            found = await session.execute(
                select(func.count()).select_from(Order).where(Order.machine_id.is_not(None))
            )
            return int(found.scalar_one())

    counted: int = await app.run(count())
    return counted


async def slot_stock(app: LiveApp, code: str) -> int:
    async def read() -> int:
        async with app.context.db.session() as session:
            slot = (
                await session.execute(
                    select(Slot).where(Slot.machine_id == "demo-1", Slot.code == code)
                )
            ).scalar_one()
            return slot.stock

    stock: int = await app.run(read())
    return stock


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
async def test_a_kiosk_order_without_the_machine_token_is_refused(
    app: LiveApp, http: httpx.AsyncClient, token: str | None
) -> None:
    headers = {} if token is None else {"X-Kiosk-Token": token}
    answer = await http.post(CREATE, json=kiosk_body(), headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "a kiosk order needs the machine's X-Kiosk-Token"}
    assert await kiosk_orders(app) == 0
    assert await slot_stock(app, "A1") == 10


async def test_another_machines_token_does_not_order_for_this_one(
    app: LiveApp, http: httpx.AsyncClient
) -> None:
    async def add_machine() -> str:
        return await create_machine(
            app.context.db, "lobby-2", "Lobby 2", None, [("A1", "cola", 5, 5)]
        )

    other_token = await app.run(add_machine())
    answer = await http.post(CREATE, json=kiosk_body(), headers={"X-Kiosk-Token": other_token})
    assert answer.status_code == 401
    assert await kiosk_orders(app) == 0


async def test_an_unknown_machine_is_a_422_not_a_stock_problem(
    db_settings: dict[str, Any], start_app: StartApp, http_for: HttpFor
) -> None:
    app = start_app(**db_settings)
    http = await http_for(app)
    for machine_id in ("no-such-machine", "m" * 64):
        answer = await http.post(
            CREATE, json=kiosk_body(machine_id=machine_id), headers={"X-Kiosk-Token": "x"}
        )
        assert answer.status_code == 422, (machine_id, answer.text)
        assert answer.json() == {"detail": "unknown machine"}
    # A NUL never gets as far as the machines table: the input guard refuses the body.
    answer = await http.post(
        CREATE, json=kiosk_body(machine_id="demo\x001"), headers={"X-Kiosk-Token": "x"}
    )
    assert answer.status_code == 422
    assert "NUL" in answer.json()["detail"]
    assert await kiosk_orders(app) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"items": [{"product_id": "cola", "quantity": 3}]},
            "a kiosk order is one unit of one product",
        ),
        (
            {
                "items": [
                    {"product_id": "cola", "quantity": 1},
                    {"product_id": "lemon", "quantity": 1},
                ]
            },
            "a kiosk order is one unit of one product",
        ),
        (
            {"payment_type": "bank_transfer", "bank": "bca"},
            "a kiosk order is paid by qris or gopay",
        ),
        ({"payment_type": "snap"}, "a kiosk order is paid by qris or gopay"),
    ],
)
async def test_a_kiosk_order_is_one_unit_paid_on_the_spot(
    app: LiveApp, http: httpx.AsyncClient, changes: dict[str, Any], message: str
) -> None:
    answer = await http.post(
        CREATE, json=kiosk_body(**changes), headers={"X-Kiosk-Token": app.demo_token}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json() == {"detail": message}
    assert await kiosk_orders(app) == 0
    assert await slot_stock(app, "A1") == 10
    assert await slot_stock(app, "A2") == 10


@pytest.mark.parametrize("payment_type", ["qris", "gopay"])
async def test_the_machine_token_orders_one_unit(
    app: LiveApp, http: httpx.AsyncClient, kiosk: ConnectKiosk, payment_type: str
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    answer = await http.post(
        CREATE,
        json=kiosk_body(payment_type=payment_type),
        headers={"X-Kiosk-Token": app.demo_token},
    )
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["gross_amount"] == 7000
    assert (await http.get(f"/api/orders/{order['order_id']}")).json()["machine_id"] == "demo-1"
    assert await slot_stock(app, "A1") == 9
    # The machine's screen is about it (it is the machine's own order).
    state = await k.ask("STATE")
    assert state["order"]["order_id"] == order["order_id"]
