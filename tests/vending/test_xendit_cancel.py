"""The kiosk's Cancel on a Xendit QRIS order. Xendit has no cancel for a QRIS payment request (it
stays payable until its own expiry), so the order is cancelled here: the kiosk goes home and the
drink is back on sale. A payment that still comes for the QR is a late payment, refunded by the
core through Xendit's refund API: the money taken is the money given back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from bayar.config import DEMO_XENDIT_SECRET_KEY

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    from tests.vending.conftest import ConnectKiosk, StartApp, WaitUntil


def stock_of(menu: list[dict[str, Any]], product_id: str) -> int:
    stock: int = next(item["stock"] for item in menu if item["id"] == product_id)
    return stock


async def test_cancel_goes_home_and_a_payment_that_still_comes_is_refunded(
    start_app: StartApp, kiosk: ConnectKiosk, wait_until: WaitUntil
) -> None:
    app = start_app(bayar_gateway="xendit")
    k = await kiosk(app)
    before = stock_of((await k.expect("STATE"))["menu"], "cola")
    created = await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED")
    order_id = created["order_id"]
    assert created["qr_string"]

    assert await k.ask("CANCEL", {"order_id": order_id}, "ORDER_CANCELLED") == {
        "order_id": order_id
    }
    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert state["order"] is None
    assert stock_of(state["menu"], "cola") == before
    assert k.count("ERROR") == 0

    async with httpx.AsyncClient(base_url=app.url, timeout=10) as http:
        order = (await http.get(f"/api/orders/{order_id}")).json()
        assert order["status"] == "cancelled"
        # Xendit still has the QR open: the customer's wallet can pay it.
        (request,) = await _payment_requests(http, order_id)
        assert request["status"] == "PENDING"

        paid = await http.post(f"/sandbox/_control/xendit/{request['id']}/pay")
        assert paid.status_code == 200, paid.text

        async def refund_asked() -> bool:
            return bool(await _refunds(http, request["id"]))

        await wait_until(refund_asked, what="the late payment's refund at Xendit")
        (refund,) = await _refunds(http, request["id"])
        assert refund["amount"] == order["gross_amount"]
        done = await http.post(f"/sandbox/_control/xendit/{refund['id']}/pay")
        assert done.status_code == 200, done.text

        async def refunded() -> bool:
            late = (await http.get(f"/api/orders/{order_id}")).json()["refunds"]
            return [r["status"] for r in late] == ["succeeded"]

        await wait_until(refunded, what="the late payment refunded")
        order = (await http.get(f"/api/orders/{order_id}")).json()
        (request,) = await _payment_requests(http, order_id)

    # The books: taken at Xendit = given back; the order stays cancelled; nothing dispensed.
    assert request["status"] == "SUCCEEDED"
    assert sum(r["amount"] for r in order["refunds"]) == request["amount"] == order["gross_amount"]
    assert order["status"] == "cancelled"
    assert any("paid after the order was cancelled" in (h["note"] or "") for h in order["history"])
    await k.settle(0.3)
    assert k.count("DISPENSE") == 0
    assert k.count("PAYMENT_SUCCESS") == 0
    assert stock_of((await k.ask("SHOW_MENU"))["items"], "cola") == before


async def _payment_requests(http: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    answer = await http.get(
        "/sandbox/xendit/payment_requests",
        params={"reference_id": order_id},
        auth=(DEMO_XENDIT_SECRET_KEY, ""),
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


async def _refunds(http: httpx.AsyncClient, request_id: str) -> list[dict[str, Any]]:
    answer = await http.get(
        "/sandbox/xendit/refunds",
        params={"payment_request_id": request_id},
        auth=(DEMO_XENDIT_SECRET_KEY, ""),
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]
    return found
