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
    store.save_card(
        CardToken(
            token_id="saved-4411",
            card_number="4411111111111118",
            exp_month="12",
            exp_year="2035",
            created_at=START,
            saved=True,
        )
    )
    return Subscriptions(store, clock, gateway, wake=lambda: None)


def _create(subscriptions: Subscriptions, **schedule: Any) -> str:
    status, body = subscriptions.create(
        {
            "name": "DAILY",
            "amount": "5000",
            "payment_type": "credit_card",
            "token": "saved-4411",
            "schedule": {"interval": 1, "interval_unit": "day", **schedule},
        },
        {},
    )
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
    assert [t.order_id for t in changed] == [f"SUBS-{sid}-{n}" for n in (1, 2, 3)]
    assert {(t.transaction_status, t.gross_amount) for t in changed} == {("capture", 5000)}
    assert subscriptions.get(sid)["status"] == "inactive"
