"""The Midtrans webhook (DESIGN rule 4): every status mapped, duplicates, order, replays, forgeries.

Notifications come from the sandbox (its notifier posts them in-process to
/api/payments/notification) or are posted by the test with the exact bytes the sandbox sent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from harness import ONLY_POSTGRES, Bayar
from sqlalchemy import select

from bayar.api.payments import NOTIFICATION_PATH as NOTIFICATION
from bayar.config import DEMO_SERVER_KEY
from bayar.storage.models import Notification

CARD_CHALLENGE = "4511111111111117"  # the sandbox's test card that fraud detection challenges


async def _gateway_refund(bayar: Bayar, order_id: str, **body: Any) -> None:
    """A refund made at the gateway (e.g. in the Midtrans dashboard), not through bayar."""
    answer = await bayar.client.post(
        f"/sandbox/midtrans/v2/{order_id}/refund",
        json={"refund_key": f"dash-{order_id}", **body},
        auth=(DEMO_SERVER_KEY, ""),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status_code"] == "200", answer.text


async def _paid_order(bayar: Bayar, *items: tuple[str, int]) -> str:
    order_id = await bayar.create_order(*(items or (("cola", 2),)))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    return str(order_id)


# -- every transaction_status, through the sandbox ----------------------------------------------

# case: (order status, payment status, stock given back, notifications the sandbox sends)
STATUS_CASES = {
    "pending": ("pending", "pending", False, 1),
    "settlement": ("paid", "settlement", False, 2),
    "capture+accept": ("paid", "capture", False, 1),  # Snap: no pending charge before the card
    "capture+challenge": ("review", "capture", False, 1),
    "deny": ("failed", "deny", True, 2),
    "expire": ("expired", "expire", True, 2),
    "cancel": ("cancelled", "cancel", True, 2),
    # pending, settlement, then a refund twice: approved, and confirmed by the bank
    "refund": ("refunded", "refund", False, 4),
    "partial_refund": ("partially_refunded", "partial_refund", False, 4),
}


@pytest.mark.parametrize("case", list(STATUS_CASES))
async def test_every_gateway_status_reaches_the_order_by_webhook(bayar: Bayar, case: str) -> None:
    expected_order, expected_payment, released, notifications = STATUS_CASES[case]
    before = await bayar.stock("cola")
    snap = case.startswith("capture")
    answer = await bayar.create(("cola", 2), payment_type="snap" if snap else "qris")
    assert answer.status_code == 201, answer.text
    order_id = answer.json()["order_id"]
    wanted = case.split("+")[0]

    if case == "settlement":
        await bayar.pay(order_id)
    elif case == "capture+accept":
        await bayar.pay(order_id, payment_type="credit_card")
    elif case == "capture+challenge":
        await bayar.pay_by_card(answer.json()["payment"]["token"], CARD_CHALLENGE)
    elif case in ("deny", "expire", "cancel"):
        await bayar.control(order_id, case)
    elif case in ("refund", "partial_refund"):
        await bayar.pay(order_id)
        await bayar.wait_status(order_id, "paid")
        await _gateway_refund(bayar, order_id, **({"amount": 5000} if case != "refund" else {}))

    log = await bayar.delivered(order_id, count=notifications)
    assert log[-1]["transaction_status"] == wanted
    assert all(d["attempts"][-1]["outcome"] == "200" for d in log), log
    order = await bayar.order(order_id)
    assert order["status"] == expected_order
    assert order["payment"]["status"] == expected_payment
    assert await bayar.stock("cola") == (before if released else before - 2)
    assert not [h for h in order["history"] if h["ignored"]]
    if case == "capture+challenge":
        assert order["payment"]["payment_type"] == "credit_card"
    if case == "partial_refund":
        assert (await bayar.db_order(order_id)).gross_amount == 14000


async def test_a_challenged_card_payment_approved_at_the_gateway_becomes_paid(bayar: Bayar) -> None:
    answer = await bayar.create(("cola", 1), payment_type="snap")
    order_id = answer.json()["order_id"]
    await bayar.pay_by_card(answer.json()["payment"]["token"], CARD_CHALLENGE)
    await bayar.wait_status(order_id, "review")

    approved = await bayar.client.post(
        f"/sandbox/midtrans/v2/{order_id}/approve", auth=(DEMO_SERVER_KEY, "")
    )
    assert approved.status_code == 200, approved.text

    order = await bayar.wait_status(order_id, "paid")
    assert [(h["from_status"], h["to_status"]) for h in order["history"]] == [
        (None, "pending"),
        ("pending", "review"),
        ("review", "paid"),
    ]


async def test_a_snap_customer_declined_once_can_still_pay_with_another_card(bayar: Bayar) -> None:
    before = await bayar.stock("cola")
    answer = await bayar.create(("cola", 1), payment_type="snap")
    order_id, token = answer.json()["order_id"], answer.json()["payment"]["token"]
    declined = await bayar.pay_by_card(token, "4711111111111115")  # the bank declines
    assert declined["transaction_status"] == "deny"
    await bayar.delivered(order_id, count=1)
    assert (await bayar.order(order_id))["declined_attempt"] is True  # the page says so

    second = await bayar.pay_by_card(token, "4411111111111118")  # a good card, same Snap page
    assert second["transaction_status"] == "capture"
    await bayar.delivered(order_id, count=2)

    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "capture"
    paid = await bayar.order(order_id)
    assert paid["status"] == "paid"
    assert paid["declined_attempt"] is False
    assert await bayar.stock("cola") == before - 1


async def test_a_declined_snap_card_is_noted_once_and_fails_the_order_at_expiry(
    bayar: Bayar,
) -> None:
    before = await bayar.stock("cola")
    answer = await bayar.create(("cola", 1), payment_type="snap")
    order_id, token = answer.json()["order_id"], answer.json()["payment"]["token"]
    await bayar.pay_by_card(token, "4711111111111115")  # the bank declines
    await bayar.delivered(order_id, count=1)
    for _ in range(3):  # the worker asks while the Snap window is open
        bayar.clock.advance(minutes=5)
        await bayar.reconcile()

    order = await bayar.order(order_id)
    assert order["status"] == "pending"
    assert [h["note"] for h in order["history"]].count(
        "a declined attempt: the customer may pay another way on the Snap page"
    ) == 1
    assert await bayar.stock("cola") == before - 1

    bayar.clock.advance(hours=1)  # past the Snap order's window: the gateway will not expire a deny
    await bayar.reconcile()

    assert (await bayar.order(order_id))["status"] == "failed"
    assert await bayar.stock("cola") == before


# -- duplicates, order, replays ------------------------------------------------------------------


async def test_five_duplicate_notifications_apply_once(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("duplicate", copies=5)

    await bayar.pay(order_id)

    log = await bayar.delivered(order_id, count=6)
    settlements = [d for d in log if d["transaction_status"] == "settlement"]
    assert len(settlements) == 5
    assert len({d["body"] for d in settlements}) == 1  # the same bytes five times
    assert [d["attempts"][-1]["outcome"] for d in settlements] == ["200"] * 5
    outcomes = [json.loads(d["attempts"][-1]["detail"])["status"] for d in settlements]
    assert sorted(outcomes) == ["applied", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]
    inbox = [n for n in await bayar.inbox(order_id) if n.transaction_status == "settlement"]
    assert len(inbox) == 1
    assert inbox[0].outcome == "applied"
    assert inbox[0].signature_valid is True


async def test_the_same_signed_body_posted_five_times_at_once_applies_once(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)  # the sandbox settles, but its webhook never arrives
    await bayar.pay(order_id)
    log = await bayar.delivered(order_id, count=2)
    settlement = log[-1]
    assert (settlement["transaction_status"], settlement["state"]) == ("settlement", "dropped")
    assert (await bayar.order(order_id))["status"] == "pending"

    answers = await asyncio.gather(*(bayar.notify(settlement["body"]) for _ in range(5)))

    assert [a.status_code for a in answers] == [200] * 5
    assert sorted(a.json()["status"] for a in answers) == ["applied"] + ["duplicate"] * 4
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]
    rows = [n for n in await bayar.inbox(order_id) if n.transaction_status == "settlement"]
    assert len(rows) == 1
    assert rows[0].body == settlement["body"]  # the raw body, byte for byte


async def test_a_pending_arriving_after_the_settlement_is_recorded_and_ignored(
    bayar: Bayar,
) -> None:
    await bayar.fault("drop", count=1)  # the first pending notification is lost...
    order_id = await bayar.create_order(("cola", 1))
    await bayar.fault("out_of_order", count=1)  # ...and comes back after the settlement

    await bayar.pay(order_id)

    log = await bayar.delivered(order_id, count=3)
    assert [(d["transaction_status"], d["state"]) for d in log] == [
        ("pending", "dropped"),
        ("settlement", "delivered"),
        ("pending", "delivered"),
    ]
    assert log[2]["body"] == log[0]["body"]
    assert json.loads(log[2]["attempts"][-1]["detail"])["status"] == "ignored"
    order = await bayar.order(order_id)
    assert order["status"] == "paid"
    assert [
        (h["from_status"], h["to_status"], h["event"], h["ignored"]) for h in order["history"]
    ] == [
        (None, "pending", "created", False),
        ("pending", "paid", "payment_succeeded", False),
        ("paid", "paid", "payment_pending", True),
    ]
    assert "ignored" in (order["history"][-1]["note"] or "")


async def test_a_replayed_old_notification_changes_nothing(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    log = await bayar.delivered(order_id, count=2)
    history = await bayar.history(order_id)
    inbox = await bayar.inbox(order_id)
    stock = await bayar.stock("cola")

    for delivery in log:  # the old pending, then the settlement again
        answer = await bayar.notify(delivery["body"])
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "duplicate", "order_id": order_id}

    assert (await bayar.order(order_id))["status"] == "paid"
    assert len(await bayar.history(order_id)) == len(history)
    assert len(await bayar.inbox(order_id)) == len(inbox)
    assert await bayar.stock("cola") == stock


async def test_a_pending_order_is_not_moved_back_by_its_first_pending_notification(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))

    log = await bayar.delivered(order_id, count=1)

    assert json.loads(log[0]["attempts"][-1]["detail"])["status"] == "no_change"
    assert await bayar.transitions(order_id) == [(None, "pending")]
    assert [(n.transaction_status, n.outcome) for n in await bayar.inbox(order_id)] == [
        ("pending", "no_change")
    ]


@ONLY_POSTGRES
async def test_a_webhook_after_the_database_dropped_its_connections_is_still_applied(
    bayar: Bayar,
) -> None:
    """PostgreSQL restarted under a warm pool (no ping before checkout): the notification that
    meets a dead connection is tried once more on a new one, not answered 500."""
    order_id = await bayar.create_order(("cola", 1))
    (pending,) = await bayar.delivered(order_id, count=1)
    killed = await bayar.drop_database_connections()
    assert killed >= 1

    answer = await bayar.notify(json.loads(pending["body"]) | {"custom_field1": "after restart"})

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "no_change"
    # The webhook's statements have a pool of their own (storage/inbox.py): the engine's still
    # holds the dead connections, which its first statement would meet. Read on fresh ones.
    await bayar.db.renew()
    assert len(await bayar.inbox(order_id)) == 2


@ONLY_POSTGRES
async def test_a_settlement_after_the_database_dropped_its_connections_is_applied(
    bayar: Bayar,
) -> None:
    """The same restart before a payment: its notification is confirmed and applied (on the
    webhook's pool, `Database.quick`), not answered 500 and left to the worker."""
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    assert await bayar.drop_database_connections() >= 1

    await bayar.pay(order_id)

    settled = (await bayar.delivered(order_id, count=2))[-1]["attempts"]
    assert [json.loads(a["detail"])["status"] for a in settled] == ["applied"]
    await bayar.db.renew()  # the engine's pool still holds dead connections: read on new ones
    outcomes = [(n.transaction_status, n.outcome) for n in await bayar.inbox(order_id)]
    assert outcomes == [("pending", "no_change"), ("settlement", "applied")]
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]


async def test_a_notification_under_a_root_path_is_taken_by_the_route(bayar: Bayar) -> None:
    """Behind a proxy that mounts bayar under a prefix (ASGI's `root_path`), the notification
    lane does not know the path, and the route takes the notification the same way."""
    order_id = await bayar.create_order(("cola", 1))
    (pending,) = await bayar.delivered(order_id, count=1)
    body = json.loads(pending["body"]) | {"custom_field1": "through a prefix"}
    transport = httpx.ASGITransport(app=bayar.app, root_path="/bayar")
    async with httpx.AsyncClient(
        transport=transport, base_url=str(bayar.client.base_url)
    ) as proxied:
        answer = await proxied.post(f"/bayar{NOTIFICATION}", json=body)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "no_change"
    assert answer.headers["x-content-type-options"] == "nosniff"
    outcomes = [(n.transaction_status, n.outcome) for n in await bayar.inbox(order_id)]
    assert outcomes == [("pending", "no_change"), ("pending", "no_change")]


async def test_a_notification_is_answered_with_the_headers_of_every_answer(bayar: Bayar) -> None:
    """Notifications skip the page stack (`NotificationLane`), not the security headers; any
    other method at the path still reaches the routes."""
    order_id = await bayar.create_order(("cola", 1))
    (pending,) = await bayar.delivered(order_id, count=1)

    answer = await bayar.notify(json.loads(pending["body"]))

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    other = await bayar.client.get(NOTIFICATION)
    assert other.status_code == 405
    assert set(other.json()) == {"detail"}
    assert other.headers["x-content-type-options"] == "nosniff"


# -- what is refused -----------------------------------------------------------------------------


def _claims_settlement(pending_body: str) -> dict[str, Any]:
    """A settlement notification made from the order's real pending one (unsigned)."""
    body = json.loads(pending_body)
    body.update(
        status_code="200", transaction_status="settlement", settlement_time=body["transaction_time"]
    )
    return dict(body)


async def test_a_forged_signature_is_refused_with_401_and_kept(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    pending = (await bayar.delivered(order_id, count=1))[0]["body"]
    forged = bayar.sign(_claims_settlement(pending), key="SB-Mid-server-SOMEONE-ELSE")

    answer = await bayar.notify(forged)

    assert answer.status_code == 401
    assert answer.json()["status"] == "bad_signature"
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.transitions(order_id) == [(None, "pending")]
    kept = [n for n in await bayar.inbox(order_id) if n.transaction_status == "settlement"]
    assert len(kept) == 1
    assert (kept[0].signature_valid, kept[0].outcome) == (False, "bad_signature")
    assert json.loads(kept[0].body)["signature_key"] == forged["signature_key"]
    assert await bayar.gateway_calls(order_id, "status") == []  # not even worth asking


UNVERIFIABLE: dict[str, dict[str, Any]] = {
    "missing signature": {"signature_key": None},
    "empty signature": {"signature_key": ""},
    # a number: the body was re-serialised, the signed text "7000.00" is gone
    "amount as a number": {"gross_amount": 7000},
    "order id as a number": {"order_id": 12345},
}


async def test_a_body_whose_signature_cannot_be_checked_is_refused(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    pending = (await bayar.delivered(order_id, count=1))[0]["body"]

    for name, change in UNVERIFIABLE.items():
        with subtests.test(name):
            body = {**bayar.sign(_claims_settlement(pending)), **change}
            answer = await bayar.notify({k: v for k, v in body.items() if v is not None})
            assert answer.status_code == 401, answer.text
            assert answer.json()["status"] == "bad_signature"

    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.transitions(order_id) == [(None, "pending")]


async def test_a_tampered_amount_with_a_correct_signature_is_refused_with_422(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))  # Rp 7.000
    pending = (await bayar.delivered(order_id, count=1))[0]["body"]
    # A settlement for Rp 1.000, signed with the right server key: the signature holds.
    tampered = bayar.sign({**_claims_settlement(pending), "gross_amount": "1000.00"})

    answer = await bayar.notify(tampered)

    assert answer.status_code == 422, answer.text
    assert answer.json()["status"] == "amount_mismatch"
    assert "1000" in answer.json()["detail"]
    assert "7000" in answer.json()["detail"]
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.transitions(order_id) == [(None, "pending")]
    rows = [n for n in await bayar.inbox(order_id) if n.transaction_status == "settlement"]
    assert [(n.signature_valid, n.outcome) for n in rows] == [(True, "amount_mismatch")]

    # Once really paid, a tampered body still changes nothing.
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    again = bayar.sign({**_claims_settlement(pending), "gross_amount": "999.00"})
    answer = await bayar.notify(again)
    assert answer.status_code == 422, answer.text
    assert (await bayar.order(order_id))["status"] == "paid"
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]


async def test_a_tampered_amount_on_a_non_paying_status_is_refused_too(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    pending = json.loads((await bayar.delivered(order_id, count=1))[0]["body"])
    stock = await bayar.stock("cola")
    expire = bayar.sign(
        {**pending, "transaction_status": "expire", "status_code": "202", "gross_amount": "1.00"}
    )

    answer = await bayar.notify(expire)

    assert answer.status_code == 422, answer.text
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.stock("cola") == stock


async def test_a_signed_settlement_the_gateway_does_not_confirm_is_not_paid(bayar: Bayar) -> None:
    # Signed with the right key and the right amount, but the gateway still has it pending:
    # the status API has the last word (rule 4).
    order_id = await bayar.create_order(("cola", 1))
    pending = (await bayar.delivered(order_id, count=1))[0]["body"]

    answer = await bayar.notify(bayar.sign(_claims_settlement(pending)))

    assert answer.status_code == 200, answer.text
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.transitions(order_id) == [(None, "pending")]
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "status")] == ["ok"]


async def test_a_notification_about_an_unknown_order_is_acknowledged(bayar: Bayar) -> None:
    body = bayar.sign(
        {
            "order_id": "payment_notif_test_G000BAYAR_1",
            "status_code": "200",
            "gross_amount": "10000.00",
            "transaction_status": "settlement",
            "transaction_id": "3b5e4b55-0000-4000-8000-000000000000",
            "payment_type": "qris",
            "currency": "IDR",
            "fraud_status": "accept",
        }
    )

    answer = await bayar.notify(body)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "unknown_order"
    assert await bayar.count_orders() == 0


MALFORMED = {
    "empty": b"",
    "broken": b"{not json",
    "array": b"[1, 2]",
    "string": b'"settlement"',
    "not utf-8": b"\xff\xfe",
}


async def test_a_malformed_notification_is_a_400_not_a_500(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
    for name, raw in MALFORMED.items():
        with subtests.test(name):
            answer = await bayar.notify(raw)
            assert answer.status_code == 400, answer.text
            assert answer.json()["status"] == "malformed"

    async with bayar.db.session() as session:
        kept = (await session.execute(select(Notification))).scalars().all()
    assert {(n.signature_valid, n.outcome) for n in kept} == {(False, "malformed")}
    assert len(kept) == len(MALFORMED)  # each kept, raw, for the record


async def test_a_signed_notification_missing_fields_is_a_400(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    body = bayar.sign({"order_id": order_id, "status_code": "200", "gross_amount": "7000.00"})

    answer = await bayar.notify(body)

    assert answer.status_code == 400, answer.text
    assert (await bayar.order(order_id))["status"] == "pending"


# -- issue 8, problem 2: a signature covers only order_id, status_code and gross_amount -----------


async def test_an_edited_status_on_a_genuine_settlement_body_moves_nothing(bayar: Bayar) -> None:
    """A paid order's own settlement body, its transaction_status changed: the signature still
    holds. It moved the order to refunded (no money moved) or cancelled (stock back on sale)."""
    order_id = await _paid_order(bayar, ("cola", 1))
    settlement = json.loads((await bayar.delivered(order_id, count=2))[-1]["body"])
    stock = await bayar.stock("cola")

    refund = await bayar.notify({**settlement, "transaction_status": "refund"})

    assert refund.status_code == 200, refund.text
    assert refund.json()["status"] == "not_confirmed"  # the status API says settlement
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "status")] == ["ok", "ok"]

    # "cancel" is notified with 202: a 200 body saying it is edited, refused before any work.
    cancel = await bayar.notify({**settlement, "transaction_status": "cancel"})

    assert cancel.status_code == 400, cancel.text
    assert cancel.json()["status"] == "status_mismatch"
    assert len(await bayar.gateway_calls(order_id, "status")) == 2
    order = await bayar.order(order_id)
    assert order["status"] == "paid"
    assert order["refunds"] == []
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]
    assert await bayar.stock("cola") == stock
    assert (await bayar.gateway_status(order_id)).json()["transaction_status"] == "settlement"
    kept = {n.transaction_status: n for n in await bayar.inbox(order_id)}
    assert (kept["refund"].outcome, kept["cancel"].outcome) == ("not_confirmed", "status_mismatch")
    assert kept["cancel"].signature_valid is True


async def test_a_signed_deny_for_a_pending_order_is_confirmed_first_and_changes_nothing(
    bayar: Bayar,
) -> None:
    """It failed the order (stock released) while its QR was still valid: the customer then paid
    a failed order and nothing gave the money back."""
    order_id = await bayar.create_order(("cola", 1))
    pending = json.loads((await bayar.delivered(order_id, count=1))[0]["body"])
    stock = await bayar.stock("cola")
    deny = bayar.sign({**pending, "transaction_status": "deny", "status_code": "202"})

    answer = await bayar.notify(deny)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "not_confirmed"
    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.stock("cola") == stock
    await bayar.pay(order_id)
    await bayar.wait_status(order_id, "paid")
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]


async def test_a_status_that_does_not_fit_its_signed_code_is_refused_and_kept(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    pending = json.loads((await bayar.delivered(order_id, count=1))[0]["body"])

    for edited in ("settlement", "expire", "cancel", "refund"):
        answer = await bayar.notify({**pending, "transaction_status": edited})  # still "201"
        assert answer.status_code == 400, answer.text
        assert answer.json()["status"] == "status_mismatch"

    assert (await bayar.order(order_id))["status"] == "pending"
    assert await bayar.gateway_calls(order_id, "status") == []
    refused = [n for n in await bayar.inbox(order_id) if n.outcome == "status_mismatch"]
    assert len(refused) == 4


async def test_a_notification_never_changes_the_payment_instructions(bayar: Bayar) -> None:
    """A pending body with other va_numbers replaced the VA number on the order page."""
    created = await bayar.create(("cola", 1), payment_type="bank_transfer", bank="bca")
    order_id = created.json()["order_id"]
    va_number = created.json()["payment"]["va_number"]
    pending = json.loads((await bayar.delivered(order_id, count=1))[0]["body"])
    assert pending["va_numbers"][0]["va_number"] == va_number
    thief = {**pending, "va_numbers": [{"bank": "bca", "va_number": "12345678901"}]}

    answer = await bayar.notify(thief)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "no_change"
    assert (await bayar.order(order_id))["payment"]["va_number"] == va_number


@pytest.mark.parametrize("payment_type", ["bank_transfer", "qris"])
async def test_a_settled_order_keeps_the_payment_instructions_of_its_create_answer(
    bayar: Bayar, payment_type: str
) -> None:
    """The status API's answer about a VA payment repeats its number, merged into what the
    create answer gave (the page's instructions); a QRIS answer brings none."""
    extra = {"bank": "bca"} if payment_type == "bank_transfer" else {}
    created = await bayar.create(("cola", 1), payment_type=payment_type, **extra)
    order_id = created.json()["order_id"]
    await bayar.delivered(order_id, count=1)

    await bayar.control(order_id, "pay")
    await bayar.delivered(order_id, count=2)

    order = await bayar.order(order_id)
    assert order["status"] == "paid"
    assert order["payment"] == {**created.json()["payment"], "status": order["payment"]["status"]}


async def test_a_snap_order_learns_its_va_number_from_the_status_api(bayar: Bayar) -> None:
    created = await bayar.create(("cola", 1), payment_type="snap")
    order_id, token = created.json()["order_id"], created.json()["payment"]["token"]

    charged = await bayar.client.post(
        f"/sandbox/midtrans/snap/v2/vtweb/{token}/charge",
        json={"payment_type": "bank_transfer", "bank": "bni"},
    )
    assert charged.status_code == 200, charged.text
    await bayar.delivered(order_id, count=1)

    payment = (await bayar.order(order_id))["payment"]
    gateway = (await bayar.gateway_status(order_id)).json()
    assert payment["payment_type"] == "bank_transfer"
    assert payment["va_number"] == gateway["va_numbers"][0]["va_number"]
    assert (payment["token"], payment["redirect_url"]) == (
        token,
        created.json()["payment"]["redirect_url"],
    )
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "status")] == ["ok"]


async def test_a_state_change_is_applied_from_the_status_api_answer(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)

    await bayar.control(order_id, "expire")
    await bayar.delivered(order_id, count=2)

    assert (await bayar.order(order_id))["status"] == "expired"
    assert [c.outcome for c in await bayar.gateway_calls(order_id, "status")] == ["ok"]
    inbox = await bayar.inbox(order_id)
    assert [(n.transaction_status, n.outcome) for n in inbox] == [
        ("pending", "no_change"),
        ("expire", "applied"),
    ]


# -- issue 8, problem 10: what anyone can send is not kept whole ----------------------------------


async def test_a_big_body_with_a_bad_signature_is_kept_as_metadata_and_a_prefix(
    bayar: Bayar,
) -> None:
    order_id = await bayar.create_order(("cola", 1))
    pending = json.loads((await bayar.delivered(order_id, count=1))[0]["body"])
    # Just under the body limit (a bigger one is a 413 before the inbox: test_bad_input).
    forged = {**pending, "signature_key": "0" * 128, "padding": ["x" * 3000] * 20}
    raw = json.dumps(forged).encode()

    answer = await bayar.notify(raw)

    assert answer.status_code == 401, answer.text
    (kept,) = [n for n in await bayar.inbox(order_id) if not n.signature_valid]
    assert len(kept.body) <= 2048
    assert raw.decode().startswith(kept.body)
    assert kept.body_bytes == len(raw)
    assert kept.outcome == "bad_signature"


async def test_twenty_different_settlement_bodies_at_once_pay_the_order_once(bayar: Bayar) -> None:
    """Each is a new inbox row, each confirmed with the status API: one transition, one paid."""
    order_id = await bayar.create_order(("cola", 1))
    await bayar.delivered(order_id, count=1)
    await bayar.fault("drop", count=1)
    await bayar.pay(order_id)
    settlement = json.loads((await bayar.delivered(order_id, count=2))[-1]["body"])
    bodies = [{**settlement, "custom_field1": f"copy {n}"} for n in range(20)]

    answers = await asyncio.gather(*(bayar.notify(body) for body in bodies))

    assert [a.status_code for a in answers] == [200] * 20
    assert sorted(a.json()["status"] for a in answers) == ["applied"] + ["no_change"] * 19
    assert await bayar.transitions(order_id) == [(None, "pending"), ("pending", "paid")]
    assert len(await bayar.inbox(order_id)) == 21
