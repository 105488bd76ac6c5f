"""Admin operations: cancel a pending order, refund a paid one (full, partial, idempotent by key),
and the bearer token that guards both."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from harness import Bayar, StartBayar


async def _paid_order(bayar: Bayar, quantity: int = 2) -> str:
    order_id: str = await bayar.create_order(("cola", quantity))  # Rp 7.000 each
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    await bayar.delivered(order_id, count=2)
    return order_id


# -- authentication -------------------------------------------------------------------------------


async def test_admin_operations_need_the_admin_token(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
    order_id = await bayar.create_order(("cola", 1))

    for action in ("cancel", "refund"):
        for token in (None, "", "wrong", "Secret", "secret2", "secre"):
            with subtests.test(f"{action} with {token!r}"):
                answer = await bayar.admin(order_id, action, token=token)
                assert answer.status_code == 401, answer.text
                assert answer.json()["detail"] == "a valid admin token is required"
                assert answer.headers["www-authenticate"] == "Bearer"
    basic = await bayar.client.post(f"/api/orders/{order_id}/cancel", auth=("admin", "secret"))
    assert basic.status_code == 401

    assert (await bayar.order(order_id))["status"] == "pending"
    assert [c.operation for c in await bayar.gateway_calls(order_id)] == ["charge"]


async def test_without_a_configured_token_the_admin_api_is_closed(start_bayar: StartBayar) -> None:
    async with start_bayar(bayar_admin_token=None) as bayar:
        order_id = await bayar.create_order(("cola", 1))
        for token in (None, "", "secret"):
            answer = await bayar.admin(order_id, "cancel", token=token)
            assert answer.status_code == 401, answer.text
            assert "BAYAR_ADMIN_TOKEN" in answer.json()["detail"]
        assert (await bayar.order(order_id))["status"] == "pending"


# -- cancel ---------------------------------------------------------------------------------------


async def test_cancel_a_pending_order_releases_its_stock(bayar: Bayar) -> None:
    before = await bayar.stock("cola")
    order_id = await bayar.create_order(("cola", 3))
    # The sandbox's pending notification first (it comes 250 ms after the charge): landing
    # during the cancel, it would add a "late pending ignored" line to the history read here.
    await bayar.delivered(order_id, count=1)

    answer = await bayar.admin(order_id, "cancel")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    # Applied by the admin call or by the gateway's cancel notification, whichever came first.
    history = answer.json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "pending"),
        ("pending", "cancelled"),
    ]
    assert history[1]["source"] in ("admin", "webhook")
    assert await bayar.stock("cola") == before
    gateway = await bayar.gateway_status(order_id)
    assert gateway.json()["transaction_status"] == "cancel"
    # The gateway's cancel notification arrives afterwards: no second release.
    await bayar.delivered(order_id, count=2)
    assert await bayar.stock("cola") == before
    assert (await bayar.order(order_id))["status"] == "cancelled"

    again = await bayar.admin(order_id, "cancel")
    assert again.status_code == 409, again.text
    assert "cancelled" in again.json()["detail"]
    assert await bayar.stock("cola") == before


async def test_cancel_a_paid_order_is_a_409(bayar: Bayar) -> None:
    order_id = await _paid_order(bayar)
    stock = await bayar.stock("cola")

    answer = await bayar.admin(order_id, "cancel")

    assert answer.status_code == 409, answer.text
    assert "paid" in answer.json()["detail"]
    assert (await bayar.order(order_id))["status"] == "paid"
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "settlement"
    assert await bayar.stock("cola") == stock


async def test_cancel_an_order_already_paid_at_the_gateway_is_a_409_and_it_becomes_paid(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)  # paid, but bayar has not heard yet
    await bayar.pay(order_id)
    stock = await bayar.stock("cola")

    answer = await bayar.admin(order_id, "cancel")

    assert answer.status_code == 409, answer.text
    assert (await bayar.order(order_id))["status"] == "paid"
    assert await bayar.stock("cola") == stock


async def test_cancel_an_unknown_order_is_a_404(bayar: Bayar) -> None:
    answer = await bayar.admin("BYR-20990101-NOPE", "cancel")

    assert answer.status_code == 404
    assert answer.json()["detail"] == "no order BYR-20990101-NOPE"


# -- refund ---------------------------------------------------------------------------------------


async def test_full_refund_of_a_paid_order(bayar: Bayar) -> None:
    order_id = await _paid_order(bayar)
    stock = await bayar.stock("cola")

    answer = await bayar.admin(order_id, "refund", refund_key="r-full", reason="customer asked")

    assert answer.status_code == 200, answer.text
    assert answer.json()["order_status"] == "refunded"
    refund = answer.json()["refund"]
    assert (refund["refund_key"], refund["amount"], refund["status"]) == (
        "r-full",
        14000,
        "succeeded",
    )
    assert refund["reason"] == "customer asked"
    gateway = (await bayar.gateway_status(order_id)).json()
    assert gateway["transaction_status"] == "refund"
    assert gateway["refund_amount"] == "14000.00"
    assert [r["refund_key"] for r in gateway["refunds"]] == ["r-full"]
    order = await bayar.order(order_id)
    assert order["status"] == "refunded"
    assert [(r["refund_key"], r["amount"], r["status"]) for r in order["refunds"]] == [
        ("r-full", 14000, "succeeded")
    ]
    assert await bayar.stock("cola") == stock  # the drinks are gone; a refund does not restock


async def test_partial_refunds_then_the_rest(bayar: Bayar) -> None:
    order_id = await _paid_order(bayar)

    first = await bayar.admin(order_id, "refund", amount=4000, refund_key="r-1")

    assert first.status_code == 200, first.text
    assert first.json()["order_status"] == "partially_refunded"
    assert first.json()["refund"]["amount"] == 4000
    gateway = (await bayar.gateway_status(order_id)).json()
    assert (gateway["transaction_status"], gateway["refund_amount"]) == (
        "partial_refund",
        "4000.00",
    )

    too_much = await bayar.admin(order_id, "refund", amount=10001, refund_key="r-2")
    assert too_much.status_code == 422, too_much.text
    assert "between 1 and 10000" in too_much.json()["detail"]

    rest = await bayar.admin(order_id, "refund", refund_key="r-3")  # no amount: the remainder

    assert rest.status_code == 200, rest.text
    assert rest.json()["refund"]["amount"] == 10000
    assert rest.json()["order_status"] == "refunded"
    gateway = (await bayar.gateway_status(order_id)).json()
    assert (gateway["transaction_status"], gateway["refund_amount"]) == ("refund", "14000.00")
    assert [(r["refund_key"], r["refund_amount"]) for r in gateway["refunds"]] == [
        ("r-1", "4000.00"),
        ("r-3", "10000.00"),
    ]
    nothing_left = await bayar.admin(order_id, "refund", amount=1, refund_key="r-4")
    assert nothing_left.status_code == 409, nothing_left.text
    order = await bayar.order(order_id)
    assert [(h["from_status"], h["to_status"]) for h in order["history"] if not h["ignored"]] == [
        (None, "pending"),
        ("pending", "paid"),
        ("paid", "partially_refunded"),
        ("partially_refunded", "refunded"),
    ]


async def test_a_refund_is_idempotent_by_its_key(bayar: Bayar) -> None:
    order_id = await _paid_order(bayar)

    first = await bayar.admin(order_id, "refund", amount=3000, refund_key="once")
    again = await bayar.admin(order_id, "refund", amount=3000, refund_key="once")

    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json()["refund"] == first.json()["refund"]
    gateway = (await bayar.gateway_status(order_id)).json()
    assert gateway["refund_amount"] == "3000.00"
    assert len(gateway["refunds"]) == 1
    assert len((await bayar.order(order_id))["refunds"]) == 1
    assert len(await bayar.gateway_calls(order_id, "refund")) == 1


async def test_the_same_refund_key_concurrently_refunds_once(bayar: Bayar) -> None:
    order_id = await _paid_order(bayar)

    answers = await asyncio.gather(
        *(bayar.admin(order_id, "refund", amount=2000, refund_key="double-click") for _ in range(3))
    )

    assert all(a.status_code < 500 for a in answers), [a.text for a in answers]
    assert any(a.status_code == 200 for a in answers)
    gateway = (await bayar.gateway_status(order_id)).json()
    assert gateway["refund_amount"] == "2000.00"
    assert len((await bayar.order(order_id))["refunds"]) == 1


async def test_a_refund_key_of_another_order_is_refused(bayar: Bayar) -> None:
    first = await _paid_order(bayar, quantity=1)
    second = await _paid_order(bayar, quantity=1)
    assert (await bayar.admin(first, "refund", refund_key="shared")).status_code == 200

    answer = await bayar.admin(second, "refund", refund_key="shared")

    assert answer.status_code == 422, answer.text
    assert (await bayar.order(second))["status"] == "paid"


async def test_only_a_paid_order_can_be_refunded(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))

    answer = await bayar.admin(order_id, "refund", refund_key="early")

    assert answer.status_code == 409, answer.text
    assert "pending" in answer.json()["detail"]
    assert (await bayar.order(order_id))["refunds"] == []
    assert await bayar.gateway_calls(order_id, "refund") == []


async def test_refund_an_unknown_order_is_a_404(bayar: Bayar) -> None:
    answer = await bayar.admin("BYR-20990101-NOPE", "refund", amount=1000)

    assert answer.status_code == 404


BAD_REFUNDS: dict[str, dict[str, Any]] = {
    "zero": {"amount": 0},
    "negative": {"amount": -5},
    "not a number": {"amount": "lots"},
    "fraction": {"amount": 10.5},
    "bad key": {"refund_key": "has spaces"},
    "long reason": {"reason": "x" * 256},
}


async def test_a_bad_refund_request_is_a_422(bayar: Bayar, subtests: pytest.Subtests) -> None:
    order_id = await _paid_order(bayar, quantity=1)

    for name, body in BAD_REFUNDS.items():
        with subtests.test(name):
            answer = await bayar.admin(order_id, "refund", **body)
            assert answer.status_code == 422, answer.text
            assert answer.json()["detail"]

    assert (await bayar.order(order_id))["status"] == "paid"
    assert await bayar.gateway_calls(order_id, "refund") == []


async def test_a_refund_the_gateway_did_not_answer_is_a_503_and_a_retry_refunds_once(
    bayar: Bayar,
) -> None:
    order_id = await _paid_order(bayar)
    await bayar.fault("api_error", status=503, count=1)

    failed = await bayar.admin(order_id, "refund", amount=5000, refund_key="outage")

    assert failed.status_code == 503, failed.text
    assert "retry with the same refund_key" in failed.json()["detail"]
    assert (await bayar.order(order_id))["status"] == "paid"
    assert [(r["refund_key"], r["status"]) for r in (await bayar.order(order_id))["refunds"]] == [
        ("outage", "unknown")
    ]

    retry = await bayar.admin(order_id, "refund", amount=5000, refund_key="outage")

    assert retry.status_code == 200, retry.text
    assert retry.json()["order_status"] == "partially_refunded"
    assert retry.json()["refund"]["status"] == "succeeded"
    gateway = (await bayar.gateway_status(order_id)).json()
    assert gateway["refund_amount"] == "5000.00"
    assert len(gateway["refunds"]) == 1


async def test_a_cancel_the_gateway_did_not_answer_is_a_503_and_keeps_the_order(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    stock = await bayar.stock("cola")
    await bayar.fault("api_error", status=500, count=1)

    answer = await bayar.admin(order_id, "cancel")

    assert answer.status_code == 503, answer.text
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.stock("cola") == stock
    assert (await bayar.admin(order_id, "cancel")).status_code == 200


async def test_every_refund_answer_carries_its_refund_key_the_503_too(bayar: Bayar) -> None:
    """Issue 8, problem 6: the 503 said "retry with the same refund_key", but a key bayar made
    was not in it: the retry made a second refund key."""
    order_id = await _paid_order(bayar)
    await bayar.fault("api_error", status=503, count=1)

    failed = await bayar.admin(order_id, "refund", amount=5000)  # no key: bayar makes one

    assert failed.status_code == 503, failed.text
    key = failed.json()["refund_key"]
    assert key.startswith(order_id)
    assert set(failed.json()) == {"detail", "refund_key"}
    assert [(r["refund_key"], r["status"]) for r in (await bayar.order(order_id))["refunds"]] == [
        (key, "unknown")
    ]

    retry = await bayar.admin(order_id, "refund", amount=5000, refund_key=key)

    assert retry.status_code == 200, retry.text
    assert retry.json()["refund"]["refund_key"] == key
    gateway = (await bayar.gateway_status(order_id)).json()
    assert [(r["refund_key"], r["refund_amount"]) for r in gateway["refunds"]] == [(key, "5000.00")]
    assert (await bayar.order(order_id))["status"] == "partially_refunded"


async def test_a_refused_refund_carries_its_refund_key(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    await bayar.delivered(order_id, count=2)
    # Refunded meanwhile at the gateway itself (its dashboard), its notifications lost: the
    # gateway refuses bayar's refund of money it gave back already.
    await bayar.fault("drop", count=2)
    elsewhere = await bayar.client.post(
        f"/sandbox/midtrans/v2/{order_id}/refund",
        json={"refund_key": "dashboard"},
        auth=(bayar.settings.server_key(), ""),
    )
    assert elsewhere.status_code == 200, elsewhere.text

    refused = await bayar.admin(order_id, "refund", reason="return")

    assert refused.status_code == 502, refused.text
    key = refused.json()["refund_key"]
    assert [(r["refund_key"], r["status"]) for r in (await bayar.order(order_id))["refunds"]] == [
        (key, "failed")
    ]
    # The refusal is a sign the gateway's money state differs: the worker asks, and the order
    # follows the gateway (refunded on its dashboard) instead of staying paid.
    bayar.clock.advance(minutes=3)
    await bayar.reconcile()
    assert (await bayar.order(order_id))["status"] == "refunded"


async def test_a_method_the_gateway_cannot_refund_is_refused_before_asking_it(
    bayar: Bayar,
) -> None:
    """Midtrans refunds bank transfers, bills and store payments only by hand: bayar says so
    itself (409) instead of passing on the gateway's refusal, and asks the gateway nothing."""
    order_id = await bayar.create_order(("cola", 1), payment_type="bank_transfer", bank="bca")
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")

    answer = await bayar.admin(order_id, "refund", reason="customer asked")

    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == (
        "the gateway cannot refund bank_transfer payments: give the money back by hand and "
        "record it as a manual refund"
    )
    assert [c.operation for c in await bayar.gateway_calls(order_id)] == ["charge", "status"]
    assert (await bayar.order(order_id))["refunds"] == []
