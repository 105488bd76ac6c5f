"""Checkout through the API and the sandbox: create-transaction, pay, webhook, paid, stock.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from harness import ONLY_POSTGRES, Bayar
from sqlalchemy import select

from bayar.storage.models import Order, Payment


async def test_qris_checkout_from_create_to_paid_commits_stock(bayar: Bayar) -> None:
    before = await bayar.stock("cola")

    created = await bayar.create(("cola", 3), payment_type="qris")

    assert created.status_code == 201, created.text
    body = created.json()
    order_id = body["order_id"]
    assert body["status"] == "pending"
    assert body["gross_amount"] == 3 * 7000  # priced on the server: Cola is Rp 7.000
    assert body["payment"]["payment_type"] == "qris"
    assert body["payment"]["qr_string"].startswith("000201")
    assert body["payment"]["qr_url"].startswith("http://bayar.test/sandbox/midtrans/")
    assert await bayar.stock("cola") == before - 3  # reserved at once

    paid_at_gateway = await bayar.pay(order_id)
    assert paid_at_gateway["transaction_status"] == "settlement"

    order = await bayar.wait_status(order_id, "paid")
    assert order["gross_amount"] == 21000
    assert order["payment"]["status"] == "settlement"
    assert [(h["from_status"], h["to_status"], h["source"]) for h in order["history"]] == [
        (None, "pending", "api"),
        ("pending", "paid", "webhook"),
    ]
    log = await bayar.delivered(order_id, count=2)
    assert [(d["transaction_status"], d["attempts"][-1]["outcome"]) for d in log] == [
        ("pending", "200"),
        ("settlement", "200"),
    ]
    assert await bayar.stock("cola") == before - 3  # committed, not given back

    # Long after the QR would have expired, a reconciliation pass leaves a paid order alone.
    bayar.clock.advance(hours=2)
    assert await bayar.reconcile() == []
    assert (await bayar.order(order_id))["status"] == "paid"
    assert await bayar.stock("cola") == before - 3


async def test_a_cart_of_several_lines_is_priced_and_reserved_per_product(bayar: Bayar) -> None:
    cola, lemon = await bayar.stock("cola"), await bayar.stock("lemon")

    answer = await bayar.create(("cola", 1), ("lemon", 2), ("cola", 1), payment_type="gopay")

    assert answer.status_code == 201, answer.text
    order = await bayar.order(answer.json()["order_id"])
    assert order["gross_amount"] == 2 * 7000 + 2 * 10000
    assert sorted((i["product_id"], i["quantity"], i["price"]) for i in order["items"]) == [
        ("cola", 2, 7000),
        ("lemon", 2, 10000),
    ]
    assert (await bayar.stock("cola"), await bayar.stock("lemon")) == (cola - 2, lemon - 2)


async def test_a_client_price_is_ignored(bayar: Bayar) -> None:
    answer = await bayar.client.post(
        "/api/payments/create-transaction",
        json={
            "items": [{"product_id": "lemon", "quantity": 1, "price": 1}],
            "payment_type": "qris",
        },
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["gross_amount"] == 10000


# payment_type: (extra request fields, the instruction field it must carry, how it begins)
INSTRUCTIONS: dict[str, tuple[dict[str, str], str, str]] = {
    "gopay": ({}, "redirect_url", ""),
    "bank_transfer": ({"bank": "bca"}, "va_number", ""),
    "echannel": ({}, "bill_key", ""),
    "cstore": ({"store": "indomaret"}, "payment_code", ""),
    "snap": ({}, "redirect_url", "http://bayar.test/sandbox/midtrans/snap/v2/vtweb/"),
}


async def test_every_payment_type_gets_its_instructions(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
    for payment_type, (extra, field, prefix) in INSTRUCTIONS.items():
        with subtests.test(payment_type):
            answer = await bayar.create(("teh-manis", 1), payment_type=payment_type, **extra)

            assert answer.status_code == 201, answer.text
            payment = answer.json()["payment"]
            assert payment["payment_type"] == payment_type
            assert payment[field], payment
            assert payment[field].startswith(prefix)
            if payment_type == "bank_transfer":
                assert payment["bank"] == "bca"


async def test_fifty_buyers_for_the_last_ten_never_oversell(bayar: Bayar) -> None:
    await bayar.set_stock("kopi-susu", 10)

    answers = await asyncio.gather(*(bayar.create(("kopi-susu", 1)) for _ in range(50)))

    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 10, 409: 40}, [a.text for a in answers if a.status_code not in (201, 409)]
    assert all(
        "not enough Kopi Susu" in a.json()["detail"] for a in answers if a.status_code == 409
    )
    assert await bayar.stock("kopi-susu") == 0
    assert await bayar.count_orders() == 10
    order_ids = [a.json()["order_id"] for a in answers if a.status_code == 201]
    assert len(set(order_ids)) == 10

    for order_id in order_ids:
        await bayar.pay(order_id)
    for order_id in order_ids:
        await bayar.wait_status(order_id, "paid")

    assert await bayar.stock("kopi-susu") == 0
    async with bayar.db.session() as session:
        statuses = (await session.execute(select(Order.status))).scalars().all()
    assert sorted(statuses) == ["paid"] * 10
    # The next buyer is told there is nothing left, and nothing goes negative.
    late = await bayar.create(("kopi-susu", 1))
    assert late.status_code == 409
    assert await bayar.stock("kopi-susu") == 0


async def test_an_out_of_stock_cart_reserves_nothing_of_its_other_lines(bayar: Bayar) -> None:
    await bayar.set_stock("lemon", 1)
    cola = await bayar.stock("cola")

    answer = await bayar.create(("cola", 2), ("lemon", 2))

    assert answer.status_code == 409
    assert answer.json()["detail"] == "not enough Lemon (1 left): 2 asked"
    assert await bayar.stock("cola") == cola
    assert await bayar.stock("lemon") == 1
    assert await bayar.count_orders() == 0


# -- idempotency --------------------------------------------------------------------------------


async def test_the_same_idempotency_key_twice_gives_the_same_order(bayar: Bayar) -> None:
    before = await bayar.stock("cola")

    first = await bayar.create(("cola", 2), key="checkout-1")
    again = await bayar.create(("cola", 2), key="checkout-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["order_id"] == again.json()["order_id"]
    assert again.json()["payment"]["qr_string"] == first.json()["payment"]["qr_string"]
    assert await bayar.count_orders() == 1
    assert await bayar.stock("cola") == before - 2
    other = await bayar.create(("cola", 2), key="checkout-2")
    assert other.status_code == 201
    assert other.json()["order_id"] != first.json()["order_id"]


async def test_the_same_idempotency_key_concurrently_gives_one_order(bayar: Bayar) -> None:
    before = await bayar.stock("cola")

    answers = await asyncio.gather(*(bayar.create(("cola", 1), key="tap-twice") for _ in range(5)))

    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201], [
        a.text for a in answers
    ]
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert await bayar.count_orders() == 1
    assert await bayar.stock("cola") == before - 1
    order_id = answers[0].json()["order_id"]
    # One gateway transaction: the sandbox was asked with the order id as its idempotency key.
    status = await bayar.gateway_status(order_id)
    assert status.status_code == 200
    assert status.json()["transaction_status"] == "pending"


# -- the gateway failing during create ------------------------------------------------------------


async def test_gateway_5xx_during_create_answers_202_and_a_retry_gets_the_payment(
    bayar: Bayar,
) -> None:
    before = await bayar.stock("cola")
    await bayar.fault("api_error", status=503, count=1)

    first = await bayar.create(("cola", 1), key="retry-me")

    assert first.status_code == 202, first.text
    assert first.json()["payment"] is None
    assert first.json()["status"] == "pending"
    order_id = first.json()["order_id"]
    order = await bayar.order(order_id)
    assert order["status"] == "pending"
    assert order["payment"] is None
    assert await bayar.stock("cola") == before - 1  # still held for the buyer
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "charge")] == ["unavailable"]

    retry = await bayar.create(("cola", 1), key="retry-me")

    assert retry.status_code == 200, retry.text
    assert retry.json()["order_id"] == order_id
    assert retry.json()["payment"]["qr_string"]
    assert await bayar.stock("cola") == before - 1  # not reserved twice
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")


async def test_gateway_rejection_answers_502_and_releases_the_reservation(bayar: Bayar) -> None:
    # Midtrans refuses an item without a name ("item_details[0].name is required").
    await bayar.set_stock("lemon", 5, name="")

    answer = await bayar.create(("lemon", 2))

    assert answer.status_code == 502, answer.text
    assert "item_details[0].name is required" in answer.json()["detail"]
    assert await bayar.stock("lemon") == 5
    async with bayar.db.session() as session:
        order = (await session.execute(select(Order))).scalar_one()
        payment = await session.get(Payment, order.id)
    assert order.status == "failed"
    assert payment is not None
    assert payment.status == "rejected"
    assert [(e.from_status, e.to_status) for e in await bayar.history(order.id)] == [
        (None, "pending"),
        ("pending", "failed"),
    ]


async def test_a_free_cart_is_refused_without_a_500_or_a_stuck_reservation(bayar: Bayar) -> None:
    await bayar.set_stock("jeruk", 5, price=0)

    answer = await bayar.create(("jeruk", 1))

    assert 400 <= answer.status_code < 500, answer.text
    assert await bayar.stock("jeruk") == 5


@ONLY_POSTGRES
async def test_a_create_after_the_database_dropped_its_connections_is_a_503_to_retry(
    bayar: Bayar,
) -> None:
    await bayar.create_order(("cola", 1))  # the pool is warm
    assert await bayar.drop_database_connections() >= 1

    first = await bayar.create(("cola", 1), key="after-restart")
    again = await bayar.create(("cola", 1), key="after-restart")

    assert first.status_code == 503, first.text
    assert first.headers["retry-after"] == "1"
    assert "retry" in first.json()["detail"]
    assert again.status_code == 201, again.text


# -- issue 8: an in-flight create, a reused key, bounded holds ------------------------------------


async def _order_exists(bayar: Bayar) -> None:
    """Until the first request's order is in the database (its create call is then under way)."""
    for _ in range(500):
        if await bayar.count_orders():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first request never made its order")


async def test_a_retry_during_a_slow_snap_create_waits_for_it_and_gets_the_live_token(
    bayar: Bayar,
) -> None:
    """Issue 8, problem 7: the retry made a second Snap create, which voided the first token,
    and the first answer (the voided token) was the one stored: its link answered 410."""
    await bayar.fault("api_hang", seconds=0.5, count=1)  # the first Snap create answers late
    first_call = asyncio.create_task(bayar.create(("cola", 1), payment_type="snap", key="slow"))
    await _order_exists(bayar)

    retry = await bayar.create(("cola", 1), payment_type="snap", key="slow")
    first = await first_call

    assert (first.status_code, retry.status_code) == (201, 200), (first.text, retry.text)
    order_id = first.json()["order_id"]
    token = first.json()["payment"]["token"]
    assert retry.json()["payment"]["token"] == token
    assert (await bayar.order(order_id))["payment"]["token"] == token
    page = await bayar.client.get(f"/sandbox/midtrans/snap/v2/vtweb/{token}")
    assert page.status_code == 200, page.text
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "create_snap")] == ["ok"]


async def test_a_retry_that_waited_long_enough_answers_202_then_the_live_payment(
    bayar: Bayar,
) -> None:
    bayar.context.payments.checkout.create_wait = (
        0.05  # how long a retry waits for the call in flight
    )
    await bayar.fault("api_hang", seconds=0.5, count=1)
    first_call = asyncio.create_task(bayar.create(("cola", 1), payment_type="snap", key="slow"))
    await _order_exists(bayar)

    retry = await bayar.create(("cola", 1), payment_type="snap", key="slow")

    assert retry.status_code == 202, retry.text
    assert retry.json()["payment"] is None
    first = await first_call
    assert first.status_code == 201, first.text
    again = await bayar.create(("cola", 1), payment_type="snap", key="slow")
    assert again.status_code == 200, again.text
    assert again.json()["payment"]["token"] == first.json()["payment"]["token"]
    order_id = first.json()["order_id"]
    assert len(await bayar.gateway_calls(order_id, "create_snap")) == 1


async def test_the_same_idempotency_key_with_another_cart_is_a_422(bayar: Bayar) -> None:
    """Issue 8, problem 14: the reused key silently answered with the first order."""
    first = await bayar.create(("cola", 1), key="cart-1")
    assert first.status_code == 201, first.text
    stock = await bayar.stock("lemon")

    other_carts: list[dict[str, Any]] = [
        {"items": [("lemon", 1)]},
        {"items": [("cola", 2)]},
        {"items": [("cola", 1)], "payment_type": "gopay"},
    ]
    for other in other_carts:
        answer = await bayar.create(*other.pop("items"), key="cart-1", **other)
        assert answer.status_code == 422, answer.text
        assert "Idempotency-Key" in answer.json()["detail"]

    assert await bayar.count_orders() == 1
    assert await bayar.stock("lemon") == stock
    same = await bayar.create(("cola", 1), key="cart-1")
    assert same.status_code == 200
    assert same.json()["order_id"] == first.json()["order_id"]


async def test_an_order_holds_at_most_the_unit_cap(bayar: Bayar) -> None:
    """Issue 8, problem 11: one anonymous order could take the whole catalog."""
    await bayar.set_stock("cola", 100)

    answer = await bayar.create(
        ("cola", 15), ("lemon", 6), payment_type="bank_transfer", bank="bca"
    )

    assert answer.status_code == 422, answer.text
    assert "at most 20 units" in answer.json()["detail"]
    assert await bayar.stock("cola") == 100
    assert (await bayar.create(("cola", 20))).status_code == 201


async def test_a_bank_transfer_holds_its_stock_for_the_hold_time_not_a_day(bayar: Bayar) -> None:
    """Issue 8, problem 11: an unpaid bank transfer held its stock (and its VA) for 24 h."""
    answer = await bayar.create(("cola", 1), payment_type="bank_transfer", bank="bca")
    assert answer.status_code == 201, answer.text
    order_id = answer.json()["order_id"]
    order = await bayar.db_order(order_id)

    assert order.expires_at - order.created_at == timedelta(minutes=60)
    gateway = (await bayar.client.get(f"/sandbox/_control/midtrans/{order_id}")).json()
    expiry = datetime.fromisoformat(gateway["transaction"]["expiry_time"].replace(" ", "T"))
    expiry = expiry.replace(tzinfo=timezone(timedelta(hours=7)))
    assert expiry <= order.expires_at  # the gateway takes no payment after the order closes
    assert order.expires_at - expiry < timedelta(seconds=5)
    qris = await bayar.db_order(await bayar.create_order(("cola", 1)))
    assert qris.expires_at - qris.created_at == timedelta(minutes=15)


async def test_a_retry_during_a_create_the_gateway_refuses_answers_with_the_failed_order(
    bayar: Bayar,
) -> None:
    """The retry read the order before it waited for the call in flight, and answered with it
    as it was then: pending, 202, "retry with the key", though the order had failed meanwhile."""
    await bayar.set_stock("lemon", 5, name="")  # Midtrans refuses an item without a name
    await bayar.fault("api_hang", seconds=0.5, count=1)  # ... and says so late
    first_call = asyncio.create_task(bayar.create(("lemon", 1), key="refused"))
    await _order_exists(bayar)

    retry = await bayar.create(("lemon", 1), key="refused")
    first = await first_call

    assert first.status_code == 502, first.text
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "failed"
    assert retry.json()["payment"] is None
    assert await bayar.stock("lemon") == 5
