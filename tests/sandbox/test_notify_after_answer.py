"""A call's notifications go out only after its answer (Midtrans queues them, reference 3.9).

The merchant here is a small app of its own, served by uvicorn as a real merchant would be: its
checkout charges through the sandbox and stores the answer, its notification endpoint looks the
order up. It must never meet a notification of a charge it has not stored yet.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from livesupport import LiveServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from tests.sandbox.conftest import Receiver

AUTH = (SERVER_KEY, "")


@dataclass
class Merchant:
    api_base: str = ""
    url: str = ""
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (order_id, transaction_status, whether the order was stored when the notification came)
    seen: list[tuple[str, str, bool]] = field(default_factory=list)

    def wait_seen(self, count: int, timeout: float = 10.0) -> list[tuple[str, str, bool]]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.seen)


def _merchant_app(merchant: Merchant) -> Starlette:
    async def checkout(request: Request) -> Response:
        body = await request.json()
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                f"{merchant.api_base}/v2/charge",
                json=body,
                auth=AUTH,
                headers={"X-Override-Notification": f"{merchant.url}/notify"},
            )
            charge = answer.json()
            merchant.stored[charge["order_id"]] = charge  # stored as soon as it is here
        return JSONResponse(charge)

    async def notify(request: Request) -> Response:
        note = await request.json()
        order_id = note["order_id"]
        merchant.seen.append((order_id, note["transaction_status"], order_id in merchant.stored))
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/checkout", checkout, methods=["POST"]),
            Route("/notify", notify, methods=["POST"]),
        ]
    )


@pytest.fixture
def merchant(api_base: str) -> Iterator[Merchant]:
    shop = Merchant(api_base=api_base)
    with LiveServer(_merchant_app(shop)) as server:
        shop.url = server.url
        yield shop


def _card_token(api_base: str) -> str:
    answer = httpx.get(
        f"{api_base}/v2/token",
        params={
            "card_number": "4411111111111118",  # accepted at once, no 3-D Secure
            "card_exp_month": "12",
            "card_exp_year": "2035",
            "card_cvv": "123",
            "client_key": CLIENT_KEY,
        },
    )
    token: str = answer.json()["token_id"]
    return token


def _buy(merchant: Merchant, payment_type: str, **extra: Any) -> dict[str, Any]:
    body = {
        "payment_type": payment_type,
        "transaction_details": {"order_id": f"m-{uuid.uuid4().hex[:12]}", "gross_amount": 9000},
        **extra,
    }
    answer = httpx.post(f"{merchant.url}/checkout", json=body, timeout=20)
    assert answer.status_code == 200, answer.text
    charge: dict[str, Any] = answer.json()
    return charge


def test_a_merchant_never_meets_a_notification_of_a_charge_it_has_not_stored(
    merchant: Merchant, api_base: str, sandbox_url: str
) -> None:
    charges = [
        _buy(merchant, "qris"),
        _buy(merchant, "gopay"),
        _buy(merchant, "bank_transfer", bank_transfer={"bank": "bca"}),
        _buy(merchant, "credit_card", credit_card={"token_id": _card_token(api_base)}),
    ]
    assert [c["transaction_status"] for c in charges] == ["pending"] * 3 + ["capture"]
    seen = merchant.wait_seen(len(charges))
    assert sorted(seen) == sorted((c["order_id"], c["transaction_status"], True) for c in charges)


def test_a_late_answer_still_reaches_the_merchant_before_its_notification(
    merchant: Merchant, sandbox_url: str
) -> None:
    # The sandbox takes the charge at once but its answer is late: the notification waits for it.
    httpx.post(
        f"{sandbox_url}/_control/faults", json={"kind": "api_hang", "seconds": 0.5}
    ).raise_for_status()
    charge = _buy(merchant, "qris")
    assert merchant.wait_seen(1) == [(charge["order_id"], "pending", True)]


def test_the_notification_still_goes_out_when_the_caller_gives_up(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    httpx.post(
        f"{sandbox_url}/_control/faults", json={"kind": "api_hang", "seconds": 3.0}
    ).raise_for_status()
    order_id = f"g-{uuid.uuid4().hex[:12]}"
    body = {
        "payment_type": "qris",
        "transaction_details": {"order_id": order_id, "gross_amount": 1000},
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH, timeout=0.2)
    assert receiver.received == []  # the answer has not gone out: nor has the notification
    got = receiver.wait_for(1, timeout=10)  # the charge happened: Midtrans notifies it anyway
    assert [
        (json.loads(r.body)["order_id"], json.loads(r.body)["transaction_status"]) for r in got
    ] == [(order_id, "pending")]


def test_a_change_made_while_an_answer_is_late_is_notified_after_the_held_one(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    httpx.post(
        f"{sandbox_url}/_control/faults", json={"kind": "api_hang", "seconds": 1.0}
    ).raise_for_status()
    order_id = f"o-{uuid.uuid4().hex[:12]}"
    body = {
        "payment_type": "qris",
        "transaction_details": {"order_id": order_id, "gross_amount": 1000},
    }
    answers: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH, timeout=10)
        )
    )
    caller.start()
    try:
        deadline = time.monotonic() + 5
        while httpx.get(f"{sandbox_url}/_control/midtrans/{order_id}").status_code != 200:
            assert time.monotonic() < deadline, "the charge never took effect"
            time.sleep(0.01)
        # The customer pays while the charge's answer is still on its way.
        httpx.post(f"{sandbox_url}/_control/midtrans/{order_id}/pay").raise_for_status()
    finally:
        caller.join()
    assert answers[0].json()["transaction_status"] == "pending"
    got = receiver.wait_for(2, timeout=10)
    assert [json.loads(r.body)["transaction_status"] for r in got] == ["pending", "settlement"]
