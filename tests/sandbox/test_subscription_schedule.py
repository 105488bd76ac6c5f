"""The subscription scheduler on its own, on a sandbox clock that only moves when told."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.engine import Gateway
from bayar.sandbox.model import CardToken, Transaction
from bayar.sandbox.store import SandboxStore
from bayar.sandbox.subscriptions import CATCH_UP_BATCH, Subscriptions

DAY = 86400
START = 1_800_000_000.0
HOUR = 3600
# Saved card tokens of the sandbox's test cards: one accepted, one the bank denies.
CARDS = {"saved-4411": "4411111111111118", "saved-4711": "4711111111111115"}


@pytest.fixture
def store() -> Iterator[SandboxStore]:
    store = SandboxStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(wall=lambda: START)  # frozen: only `advance` moves it


@pytest.fixture
def changed() -> list[Transaction]:
    return []


@pytest.fixture
def subscriptions(
    store: SandboxStore, clock: SandboxClock, changed: list[Transaction]
) -> Subscriptions:
    gateway = Gateway(
        store,
        clock,
        server_key="SB-Mid-server-test",
        client_key="SB-Mid-client-test",
        merchant_id="M-TEST",
        on_change=changed.append,  # what the notifier would be handed
    )
    for token_id, number in CARDS.items():
        store.save_card(
            CardToken(
                token_id=token_id,
                card_number=number,
                exp_month="12",
                exp_year="2035",
                created_at=START,
                saved=True,
            )
        )
    return Subscriptions(store, clock, gateway, wake=lambda: None)


def _create(
    subscriptions: Subscriptions, card: str = "saved-4411", retry: Any = None, **schedule: Any
) -> str:
    body: dict[str, Any] = {
        "name": "DAILY",
        "amount": "5000",
        "currency": "IDR",
        "payment_type": "credit_card",
        "token": card,
        "schedule": {"interval": 1, "interval_unit": "day", **schedule},
    }
    if retry is not None:
        body["retry_schedule"] = retry
    status, body = subscriptions.create(body, {})
    assert status == 200
    sid: str = body["id"]
    return sid


def test_a_long_clock_jump_is_charged_in_bounded_batches(
    subscriptions: Subscriptions, clock: SandboxClock, store: SandboxStore
) -> None:
    sid = _create(subscriptions)
    clock.advance(120 * DAY)
    passes = 0
    while (due := subscriptions.run_due()) is not None and due <= clock.timestamp():
        passes += 1
        assert len(store.subscriptions[sid].transaction_ids) == passes * CATCH_UP_BATCH
    # Day 0 to day 120 inclusive, then the next one is tomorrow.
    assert len(store.subscriptions[sid].transaction_ids) == 121
    assert due == clock.timestamp() + DAY
    assert passes == 121 // CATCH_UP_BATCH


def test_each_execution_is_a_captured_card_charge_handed_to_the_notifier(
    subscriptions: Subscriptions, clock: SandboxClock, changed: list[Transaction]
) -> None:
    sid = _create(subscriptions, max_interval=3)
    for _ in range(5):
        subscriptions.run_due()
        clock.advance(DAY)
    assert [t.transaction_id for t in changed] == subscriptions.get(sid)["transaction_ids"]
    assert len({t.order_id for t in changed}) == 3
    assert all(t.order_id.startswith("SUBS-DAILY-") for t in changed)
    assert {(t.transaction_status, t.gross_amount) for t in changed} == {("capture", 5000)}
    assert subscriptions.get(sid)["status"] == "inactive"


def test_a_denied_execution_is_retried_then_the_subscription_ends(
    subscriptions: Subscriptions, clock: SandboxClock, changed: list[Transaction]
) -> None:
    sid = _create(
        subscriptions,
        card="saved-4711",
        retry={"interval": 1, "interval_unit": "hour", "max_interval": 2},
    )
    assert subscriptions.run_due() == START + HOUR  # denied: the first retry is in an hour
    clock.advance(HOUR)
    assert subscriptions.run_due() == START + 2 * HOUR
    clock.advance(HOUR)
    assert subscriptions.run_due() is None  # the second retry failed too: it has ended
    assert [t.transaction_status for t in changed] == ["deny", "deny", "deny"]
    got = subscriptions.get(sid)
    assert got["status"] == "inactive"
    assert got["schedule"]["current_interval"] == 1
    assert len(got["transaction_ids"]) == 3


def test_a_retry_that_is_paid_puts_the_schedule_back_on_track(
    subscriptions: Subscriptions, clock: SandboxClock, changed: list[Transaction]
) -> None:
    sid = _create(subscriptions, card="saved-4711", retry={"interval_unit": "hour"})
    subscriptions.run_due()
    subscriptions.update(sid, {"token": "saved-4411"})  # the customer gave another card
    clock.advance(HOUR)
    assert subscriptions.run_due() == START + DAY  # the retry was paid; next is tomorrow
    assert [t.transaction_status for t in changed] == ["deny", "capture"]
    assert subscriptions.get(sid)["status"] == "active"


def test_without_a_retry_schedule_a_denied_execution_waits_for_the_next_one(
    subscriptions: Subscriptions, changed: list[Transaction]
) -> None:
    sid = _create(subscriptions, card="saved-4711")
    assert subscriptions.run_due() == START + DAY
    assert [t.transaction_status for t in changed] == ["deny"]
    assert subscriptions.get(sid)["status"] == "active"
