"""Products, machines, orders and payments for tests, made the way bayar makes them: through its
catalog and machine services, its public API and its sandbox, so a test does not depend on how
the tables look. Where no API can make what a test needs (an order paid two weeks ago, a product
with a price of 0) the rows are written here, in one place, as the payments service writes them.

The database helpers take bayar's `Database` (an app's `context.db`, or one of the test's own);
the HTTP helpers take the URL of a running bayar (a `LiveApp`, a `ServeProcess`, a fleet).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from bayar.payments import catalog
from bayar.payments.errors import NoSuchProduct
from bayar.payments.states import Status
from bayar.storage.db import Database
from bayar.storage.models import Order, OrderEvent, OrderItem, Payment, Product
from bayar.vending.machines import create_machine

# -- products ---------------------------------------------------------------------------------------


async def add_product(
    db: Database,
    product_id: str,
    *,
    name: str | None = None,
    price: int = 5000,
    stock: int = 10,
    **details: Any,
) -> Product:
    """A product on sale, added as the admin adds one (its name is its id unless given)."""
    return await catalog.add(
        db, product_id=product_id, name=name or product_id, price=price, stock=stock, **details
    )


async def put_product(db: Database, product_id: str, name: str, price: int, stock: int) -> None:
    """The product with this stock: added if missing, else its stock set (a drill's own product,
    whichever drill of the module runs first)."""
    try:
        await catalog.entry(db, product_id)
    except NoSuchProduct:
        await add_product(db, product_id, name=name, price=price, stock=stock)
    else:
        await catalog.change(db, product_id, catalog.Changes(stock=stock))


async def set_stock(db: Database, product_id: str, stock: int, **values: Any) -> None:
    """Set a product's free stock, and any other column as given: also what the admin would refuse
    (an empty name, a price of 0), for the tests of a catalog gone wrong."""
    async with db.session() as session, session.begin():
        await session.execute(
            update(Product).where(Product.id == product_id).values(stock=stock, **values)
        )


# -- machines ---------------------------------------------------------------------------------------

Slots = Sequence[tuple[str, str, int, int]]  # (code, product id, stock, capacity)


async def add_machine(
    db: Database,
    machine_id: str,
    slots: Slots = (("A1", "cola", 5, 5),),
    *,
    name: str | None = None,
    location: str | None = "Lab",
) -> str:
    """A vending machine with its slots, registered as `bayar machine add` does; its token."""
    return await create_machine(db, machine_id, name or machine_id, location, slots)


# -- orders and payments through the public API -------------------------------------------------------


def order_body(*items: tuple[str, int], payment_type: str = "qris", **extra: Any) -> dict[str, Any]:
    """The body of POST /api/payments/create-transaction (one cola unless items are given)."""
    return {
        "items": [{"product_id": p, "quantity": q} for p, q in (items or (("cola", 1),))],
        "payment_type": payment_type,
        **extra,
    }


def create_order(
    url: str,
    *items: tuple[str, int],
    machine_token: str | None = None,
    payment_type: str = "qris",
    **extra: Any,
) -> str:
    """An order made through bayar's public API at `url` (a kiosk's when `machine_id` and its
    `machine_token` are given); its id."""
    headers = {"X-Kiosk-Token": machine_token} if machine_token else {}
    answer = httpx.post(
        f"{url}/api/payments/create-transaction",
        json=order_body(*items, payment_type=payment_type, **extra),
        headers=headers,
        timeout=20,
    )
    assert answer.status_code == 201, answer.text
    order_id: str = answer.json()["order_id"]
    return order_id


def pay(url: str, order_id: str, action: str = "pay") -> dict[str, Any]:
    """The customer pays (or the sandbox denies, expires… by `action`) at the sandbox bayar at
    `url` embeds; what the sandbox answered. The webhook follows."""
    answer = httpx.post(f"{url}/sandbox/_control/midtrans/{order_id}/{action}", timeout=20)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


# -- orders ------------------------------------------------------------------------------------------


def order_row(
    order_id: str,
    *,
    at: datetime,
    status: str = "pending",
    channel: str = "api",
    machine_id: str | None = None,
    gross_amount: int = 7000,
    payment_type: str = "qris",
    next_check_at: datetime | None = None,
    version: int = 1,
) -> Order:
    """An order's row as the payments service writes it, made at `at` and due to expire 15
    minutes later; not added to any session (tests of the storage beneath the service)."""
    return Order(
        id=order_id,
        status=status,
        channel=channel,
        machine_id=machine_id,
        gross_amount=gross_amount,
        currency="IDR",
        payment_type=payment_type,
        customer=None,
        idempotency_key=None,
        expires_at=at + timedelta(minutes=15),
        next_check_at=next_check_at,
        check_attempts=0,
        version=version,
        created_at=at,
        updated_at=at,
    )


def payment_row(
    order_id: str,
    *,
    at: datetime,
    status: str = "pending",
    amount: int = 7000,
    payment_type: str = "qris",
    instructions: dict[str, Any] | None = None,
) -> Payment:
    """The payment of `order_row`'s order, as its gateway (Midtrans) last reported it."""
    return Payment(
        order_id=order_id,
        gateway="midtrans",
        transaction_id=None,
        payment_type=payment_type,
        amount=amount,
        status=status,
        instructions=instructions or {},
        expires_at=at + timedelta(minutes=15),
        updated_at=at,
    )


def notification_row(key: str, *, at: datetime, order_id: str = "o-1") -> dict[str, Any]:
    """A signed Midtrans notification as the inbox keeps it (`InboxStore.keep`'s values)."""
    return {
        "dedupe_key": key,
        "order_id": order_id,
        "transaction_status": "settlement",
        "body": f'{{"order_id": "{order_id}"}}',
        "headers": {"user-agent": "Veritrans"},
        "signature_valid": True,
        "outcome": "received",
        "received_at": at,
    }


# -- orders of the past -------------------------------------------------------------------------------


async def paid_order_at(
    db: Database,
    order_id: str,
    at: datetime,
    *,
    product_id: str,
    name: str,
    price: int,
    quantity: int = 1,
    channel: str = "api",
    payment_type: str = "qris",
) -> None:
    """An order paid at `at` (in the past: the API makes orders now), written as the payments
    service writes one: the order, its line, its payment and its history (created, then paid a
    minute later). No stock moves."""
    at = at.astimezone(UTC)
    amount = price * quantity
    async with db.session() as session, session.begin():
        session.add(
            order_row(
                order_id,
                at=at,
                status=Status.PAID.value,
                channel=channel,
                gross_amount=amount,
                payment_type=payment_type,
                version=2,
            )
        )
        await session.flush()
        session.add(
            OrderItem(
                order_id=order_id, product_id=product_id, name=name, price=price, quantity=quantity
            )
        )
        session.add(
            payment_row(
                order_id, at=at, status="settlement", amount=amount, payment_type=payment_type
            )
        )
        session.add_all(
            [
                OrderEvent(
                    order_id=order_id,
                    from_status=None,
                    to_status="pending",
                    event="created",
                    source="api",
                    at=at,
                ),
                OrderEvent(
                    order_id=order_id,
                    from_status="pending",
                    to_status="paid",
                    event="payment_succeeded",
                    source="webhook",
                    at=at + timedelta(minutes=1),
                ),
            ]
        )
