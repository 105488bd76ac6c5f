"""`XenditGateway` against bayar's own Xendit emulator, in process (httpx.ASGITransport).

The emulator is built from the Xendit reference, not from this adapter. Failures it cannot produce
(a connection error, an answer that is not JSON) come from small fake transports.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bayar.config import DEMO_XENDIT_CALLBACK_TOKEN, DEMO_XENDIT_SECRET_KEY, Settings
from bayar.gateways.base import (
    ChargeRequest,
    GatewayCallRecord,
    GatewayEvent,
    GatewayRefund,
    GatewayRejected,
    GatewayUnavailable,
    LineItem,
    RefundState,
    Rejection,
    SnapRequest,
    TransactionNotFound,
)
from bayar.gateways.xendit import XenditGateway
from bayar.sandbox.app import standalone_app

ROOT = "http://sandbox.test/sandbox"
BASE = f"{ROOT}/xendit"

Calls = list[GatewayCallRecord]
MakeGateway = Callable[..., XenditGateway]
Control = Callable[..., Awaitable[dict[str, Any]]]


def _order() -> str:
    return f"xo-{uuid.uuid4().hex[:12]}"


def _qr(amount: int = 7000, **extra: Any) -> ChargeRequest:
    return ChargeRequest(
        order_id=extra.pop("order_id", None) or _order(),
        gross_amount=amount,
        items=(LineItem("cola", "Cola", amount, 1),),
        payment_type="qris",
        **extra,
    )


def _invoice(amount: int = 20000, **extra: Any) -> SnapRequest:
    return SnapRequest(
        order_id=extra.pop("order_id", None) or _order(),
        gross_amount=amount,
        items=(LineItem("lemon", "Lemon", amount // 2, 2),),
        **extra,
    )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path,
        bayar_sandbox=True,
        bayar_sandbox_state_file=tmp_path / "sandbox.sqlite3",
        bayar_sandbox_notification_url=None,
        bayar_sandbox_xendit_callback_url=None,
        xendit_secret_key=None,
        xendit_callback_token=None,
    )
    sandbox = standalone_app(settings)
    async with sandbox.router.lifespan_context(sandbox):
        yield sandbox


@pytest.fixture
async def control(app: Starlette) -> AsyncIterator[Control]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as client:

        async def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            answer = await client.post(f"/_control/{path}", json=body)
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        yield post


@pytest.fixture
def calls() -> Calls:
    return []


@pytest.fixture
async def make_gateway(app: Starlette, calls: Calls) -> AsyncIterator[MakeGateway]:
    made: list[XenditGateway] = []

    async def observe(record: GatewayCallRecord) -> None:
        calls.append(record)

    def make(**overrides: Any) -> XenditGateway:
        arguments: dict[str, Any] = {
            "callback_token": DEMO_XENDIT_CALLBACK_TOKEN,
            "base_url": BASE,
            "transport": httpx.ASGITransport(app=app),
            "observer": observe,
        }
        arguments.update(overrides)
        gateway = XenditGateway(arguments.pop("secret_key", DEMO_XENDIT_SECRET_KEY), **arguments)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.aclose()


@pytest.fixture
def gateway(make_gateway: MakeGateway) -> XenditGateway:
    return make_gateway()


def _no_secret(error: BaseException) -> None:
    for secret in (DEMO_XENDIT_SECRET_KEY, DEMO_XENDIT_CALLBACK_TOKEN):
        assert secret not in str(error)
        assert secret not in repr(error)


# -- creating --------------------------------------------------------------------------------------


async def test_an_invoice_for_the_shop(gateway: XenditGateway, control: Control) -> None:
    request = _invoice(expiry_seconds=900, finish_url="http://shop.test/orders/finish")
    got = await gateway.create_snap(request)
    assert got.payment_type == "snap"
    assert got.gateway_status == "PENDING"
    assert got.invoice_url is not None
    assert got.invoice_url.startswith(f"{BASE}/")
    assert got.redirect_url == got.invoice_url
    assert got.expiry_time is not None
    left = (got.expiry_time - datetime.now(UTC)).total_seconds()
    assert 880 < left <= 900
    invoice = await control(f"xendit/{request.order_id}/pay?channel=BCA")
    assert invoice["external_id"] == request.order_id
    report = await gateway.status(request.order_id)
    assert (report.event, report.gateway_status) == (GatewayEvent.SUCCEEDED, "PAID")
    assert report.payment_type == "bank_transfer"
    assert report.payment_details["bank"] == "bca"
    assert report.payment_details["va_number"].isdigit()
    assert report.gross_amount == 20000


async def test_a_retried_create_reuses_the_first_invoice(gateway: XenditGateway) -> None:
    """Xendit keeps no external_id unique: bayar looks before it makes a second one."""
    request = _invoice()
    first = await gateway.create_snap(request)
    second = await gateway.create_snap(request)
    assert first.transaction_id == second.transaction_id


async def test_a_qris_payment_request_for_the_kiosk(gateway: XenditGateway) -> None:
    started = datetime.now(UTC)
    request = _qr(expiry_seconds=900, expiry_start=started, idempotency_key="k-1")
    got = await gateway.charge(request)
    assert got.payment_type == "qris"
    assert got.transaction_id is not None
    assert got.transaction_id.startswith("pr-")
    assert got.qr_string is not None
    assert got.qr_string.startswith("000201")
    assert got.expiry_time is not None
    assert abs((got.expiry_time - started).total_seconds() - 900) < 1
    again = await gateway.charge(request)
    assert again.transaction_id == got.transaction_id
    report = await gateway.status(request.order_id)
    assert (report.event, report.gateway_status) == (GatewayEvent.PENDING, "PENDING")


async def test_other_direct_methods_are_refused(gateway: XenditGateway, calls: Calls) -> None:
    with pytest.raises(GatewayRejected) as caught:
        await gateway.charge(
            ChargeRequest(
                _order(), 1000, (LineItem("a", "A", 1000, 1),), "bank_transfer", bank="bca"
            )
        )
    assert caught.value.reason is Rejection.INVALID
    assert [(c.operation, c.order_id, c.outcome) for c in calls] == [
        ("charge", calls[0].order_id, "rejected")
    ]


async def test_an_invalid_invoice_is_rejected(gateway: XenditGateway) -> None:
    with pytest.raises(GatewayRejected) as caught:
        await gateway.create_snap(_invoice(amount=0))
    assert caught.value.reason is Rejection.INVALID
    assert caught.value.code == "API_VALIDATION_ERROR"


# -- status, expiry, cancel ------------------------------------------------------------------------


async def test_status_of_an_unknown_order(gateway: XenditGateway) -> None:
    with pytest.raises(TransactionNotFound):
        await gateway.status(_order())


@pytest.mark.parametrize(
    ("action", "event"), [("fail", GatewayEvent.DENIED), ("expire", GatewayEvent.EXPIRED)]
)
async def test_payment_request_outcomes(
    gateway: XenditGateway, control: Control, action: str, event: GatewayEvent
) -> None:
    request = _qr()
    await gateway.charge(request)
    await control(f"xendit/{request.order_id}/{action}")
    assert (await gateway.status(request.order_id)).event is event


async def test_expire_and_cancel_an_invoice(gateway: XenditGateway) -> None:
    first, second = _invoice(), _invoice()
    await gateway.create_snap(first)
    await gateway.create_snap(second)
    expired = await gateway.expire(first.order_id)
    assert (expired.event, expired.gateway_status) == (GatewayEvent.EXPIRED, "EXPIRED")
    cancelled = await gateway.cancel(second.order_id)
    assert (cancelled.event, cancelled.gateway_status) == (GatewayEvent.CANCELLED, "EXPIRED")
    with pytest.raises(GatewayRejected) as caught:
        await gateway.expire(first.order_id)
    assert caught.value.reason is Rejection.NOT_ALLOWED


async def test_a_paid_invoice_is_not_expired(gateway: XenditGateway, control: Control) -> None:
    request = _invoice()
    await gateway.create_snap(request)
    await control(f"xendit/{request.order_id}/pay")
    with pytest.raises(GatewayRejected) as caught:
        await gateway.expire(request.order_id)
    assert caught.value.reason is Rejection.NOT_ALLOWED


async def test_a_qr_payment_request_cannot_be_expired_or_cancelled(gateway: XenditGateway) -> None:
    """Xendit's API cannot expire or cancel a QR: it stays payable until its own expiry (the
    core closes the order on a cancel and refunds a payment that still comes)."""
    request = _qr()
    await gateway.charge(request)
    assert (await gateway.expire(request.order_id)).event is GatewayEvent.PENDING
    with pytest.raises(GatewayRejected) as caught:
        await gateway.cancel(request.order_id)
    assert caught.value.reason is Rejection.CANNOT_CANCEL
    assert (await gateway.status(request.order_id)).event is GatewayEvent.PENDING


# -- refunds -------------------------------------------------------------------------------------


@pytest.fixture
async def refund_id(app: Starlette) -> AsyncIterator[Callable[[str, str], Awaitable[str]]]:
    """`await refund_id(payment_request_id, refund_key)`: the id Xendit gave that refund."""
    auth = (DEMO_XENDIT_SECRET_KEY, "")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, auth=auth) as client:

        async def find(request_id: str, key: str) -> str:
            answer = await client.get("/refunds", params={"payment_request_id": request_id})
            assert answer.status_code == 200, answer.text
            found = [r["id"] for r in answer.json()["data"] if r["reference_id"] == key]
            assert len(found) == 1, answer.text
            return str(found[0])

        yield find


async def test_refunds_count_once_xendit_finishes_them(
    gateway: XenditGateway,
    control: Control,
    calls: Calls,
    refund_id: Callable[[str, str], Awaitable[str]],
) -> None:
    """A refund is PENDING in Xendit's answer; the order's event counts it only once it
    SUCCEEDED, and a FAILED one gave nothing back. Every refund is listed with its state."""
    request = _qr(amount=10000)
    await gateway.charge(request)
    await control(f"xendit/{request.order_id}/pay")
    part = await gateway.refund(request.order_id, amount=4000, refund_key="rk-1", reason="x")
    assert part.event is GatewayEvent.SUCCEEDED  # nothing given back yet
    assert [(r.refund_key, r.amount, r.state) for r in part.refunds] == [
        ("rk-1", 4000, RefundState.PENDING)
    ]
    assert part.refunded_amount == 0
    repeat = await gateway.refund(request.order_id, amount=4000, refund_key="rk-1", reason="x")
    assert [r.refund_key for r in repeat.refunds] == ["rk-1"]  # the same key refunds once
    pr = part.transaction_id
    await control(f"xendit/{await refund_id(pr, 'rk-1')}/pay")
    done = await gateway.status(request.order_id)
    assert done.event is GatewayEvent.PARTIALLY_REFUNDED
    assert (done.refunds[0].state, done.refunded_amount) == (RefundState.SUCCEEDED, 4000)

    rest = await gateway.refund(request.order_id, amount=None, refund_key="rk-2", reason="x")
    assert {r.refund_key: r.state for r in rest.refunds}["rk-2"] is RefundState.PENDING
    await control(f"xendit/{await refund_id(pr, 'rk-2')}/fail")
    failed = await gateway.status(request.order_id)
    assert failed.event is GatewayEvent.PARTIALLY_REFUNDED
    assert {r.refund_key: r.state for r in failed.refunds} == {
        "rk-1": RefundState.SUCCEEDED,
        "rk-2": RefundState.FAILED,
    }
    assert failed.refunded_amount == 4000

    again = await gateway.refund(request.order_id, amount=None, refund_key="rk-3", reason="x")
    assert [r.amount for r in again.refunds if r.refund_key == "rk-3"] == [6000]
    await control(f"xendit/{await refund_id(pr, 'rk-3')}/pay")
    whole = await gateway.status(request.order_id)
    assert (whole.event, whole.refunded_amount) == (GatewayEvent.REFUNDED, 10000)
    # One record per operation, however many HTTP calls it made.
    refunds = [c for c in calls if c.operation == "refund"]
    assert [(c.order_id, c.outcome) for c in refunds] == [(request.order_id, "ok")] * 4
    with pytest.raises(GatewayRejected) as caught:
        await gateway.refund(request.order_id, amount=None, refund_key="rk-4", reason="x")
    assert caught.value.reason is Rejection.AMOUNT


async def test_refund_of_an_unpaid_or_bank_payment_is_refused(
    gateway: XenditGateway, control: Control
) -> None:
    unpaid = _qr()
    await gateway.charge(unpaid)
    with pytest.raises(GatewayRejected) as caught:
        await gateway.refund(unpaid.order_id, amount=None, refund_key="u-1", reason="x")
    assert caught.value.reason is Rejection.NOT_ALLOWED
    bank = _invoice()
    await gateway.create_snap(bank)
    await control(f"xendit/{bank.order_id}/pay?channel=BNI")
    with pytest.raises(GatewayRejected) as refused:
        await gateway.refund(bank.order_id, amount=None, refund_key="b-1", reason="x")
    assert refused.value.reason is Rejection.NOT_ALLOWED
    assert "bank_transfer" not in gateway.refundable_types


# -- failures ------------------------------------------------------------------------------------


async def test_a_wrong_secret_key_is_rejected(make_gateway: MakeGateway) -> None:
    gateway = make_gateway(secret_key="xnd_development_wrong")
    with pytest.raises(GatewayRejected) as caught:
        await gateway.status(_order())
    assert (caught.value.reason, caught.value.code) == (Rejection.UNAUTHORIZED, "INVALID_API_KEY")
    assert "xnd_development_wrong" not in str(caught.value)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_unavailable(
    gateway: XenditGateway, control: Control, calls: Calls, status: int
) -> None:
    await control("faults", {"kind": "api_error", "status": status, "count": 1})
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.status(_order())
    assert f"HTTP {status}" in str(caught.value)
    _no_secret(caught.value)
    assert (calls[-1].operation, calls[-1].outcome) == ("status", "unavailable")
    assert calls[-1].detail is not None
    assert DEMO_XENDIT_SECRET_KEY not in calls[-1].detail


async def test_a_hang_times_out(make_gateway: MakeGateway, control: Control) -> None:
    gateway = make_gateway(timeout=0.2)
    await control("faults", {"kind": "api_hang", "seconds": 1})
    with pytest.raises(GatewayUnavailable, match="timed out") as caught:
        await gateway.status(_order())
    _no_secret(caught.value)


async def test_transport_errors_never_escape_nor_leak(make_gateway: MakeGateway) -> None:
    def leak(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            f"refused {request.headers['authorization']} {DEMO_XENDIT_SECRET_KEY}", request=request
        )

    gateway = make_gateway(transport=httpx.MockTransport(leak))
    for call in (
        gateway.charge(_qr()),
        gateway.create_snap(_invoice()),
        gateway.status("o-1"),
        gateway.expire("o-1"),
        gateway.refund("o-1", amount=None, refund_key="k", reason="r"),
    ):
        with pytest.raises(GatewayUnavailable) as caught:
            await call
        assert "ConnectError" in str(caught.value)
        _no_secret(caught.value)
        assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json={"data": "not a list"}),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(429, json={"error_code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}),
    ],
)
async def test_unreadable_or_technical_answers_are_unavailable(
    make_gateway: MakeGateway, answer: httpx.Response
) -> None:
    gateway = make_gateway(transport=httpx.MockTransport(lambda request: answer))
    with pytest.raises(GatewayUnavailable):
        await gateway.charge(_qr())


def test_a_blank_key_or_token_is_refused() -> None:
    with pytest.raises(ValueError, match="secret key"):
        XenditGateway(" ", callback_token="t")
    with pytest.raises(ValueError, match="callback token"):
        XenditGateway(DEMO_XENDIT_SECRET_KEY, callback_token="")


async def test_repr_shows_no_secret(gateway: XenditGateway) -> None:
    assert DEMO_XENDIT_SECRET_KEY not in repr(gateway)
    assert BASE in repr(gateway)


# -- callbacks -----------------------------------------------------------------------------------

INVOICE_PAID = {
    "id": "579c8d61f23fa4ca35e52da4",
    "external_id": "BYR-1",
    "user_id": "5781d19b2e2385880609791c",
    "status": "PAID",
    "merchant_name": "bayar",
    "amount": 50000,
    "paid_amount": 50000,
    "payment_method": "BANK_TRANSFER",
    "bank_code": "BCA",
    "payment_channel": "BCA",
    "payment_destination": "8808999939380502",
    "paid_at": "2026-12-06T10:00:00.000Z",
    "currency": "IDR",
    "created": "2026-12-06T09:00:00.000Z",
    "updated": "2026-12-06T10:00:00.000Z",
}


def test_the_callback_token_is_checked(gateway: XenditGateway) -> None:
    assert gateway.verify_notification(
        INVOICE_PAID, {"x-callback-token": DEMO_XENDIT_CALLBACK_TOKEN}
    )
    assert not gateway.verify_notification(INVOICE_PAID, {"x-callback-token": "guess"})
    assert not gateway.verify_notification(INVOICE_PAID, {})
    assert not gateway.verify_notification(INVOICE_PAID, None)


def test_callbacks_are_read_into_reports(gateway: XenditGateway) -> None:
    invoice = gateway.parse_notification(INVOICE_PAID)
    assert (invoice.order_id, invoice.event, invoice.gross_amount) == (
        "BYR-1",
        GatewayEvent.SUCCEEDED,
        50000,
    )
    assert invoice.payment_details == {"bank": "bca", "va_number": "8808999939380502"}
    payment = {
        "event": "payment.succeeded",
        "data": {
            "id": "py-1",
            "payment_request_id": "pr-1",
            "reference_id": "BYR-2",
            "amount": 7000.0,
            "currency": "IDR",
            "status": "SUCCEEDED",
        },
    }
    report = gateway.parse_notification(payment)
    assert (report.order_id, report.transaction_id, report.event) == (
        "BYR-2",
        "pr-1",
        GatewayEvent.SUCCEEDED,
    )
    assert gateway.notification_labels(payment) == ("BYR-2", "SUCCEEDED")
    refund = {
        "event": "refund.failed",
        "data": {
            "id": "rfd-1",
            "payment_request_id": "pr-1",
            "reference_id": "BYR-2-k1",
            "amount": 3000,
            "currency": "IDR",
            "status": "FAILED",
            "metadata": {"order_id": "BYR-2"},
        },
    }
    news = gateway.parse_notification(refund)
    assert (news.order_id, news.event) == ("BYR-2", None)  # the status API tells the order's
    assert news.refunds == (GatewayRefund("BYR-2-k1", 3000, RefundState.FAILED),)
    assert gateway.notification_labels(refund) == ("BYR-2", "REFUND_FAILED")
    with pytest.raises(ValueError, match="rupiah"):
        gateway.parse_notification({**INVOICE_PAID, "amount": 50000.5})
    with pytest.raises(ValueError, match="not a callback"):
        gateway.parse_notification({"event": "something.else", "data": {}})


def test_the_dedupe_key_is_the_webhook_id_else_id_and_status() -> None:
    raw = json.dumps(INVOICE_PAID).encode()
    key = XenditGateway.notification_key
    by_id = key(raw, INVOICE_PAID, {"webhook-id": "evt-1"})
    assert by_id == key(b"other bytes", {**INVOICE_PAID, "updated": "x"}, {"webhook-id": "evt-1"})
    plain = key(raw, INVOICE_PAID, {})
    assert plain == key(raw + b" ", {**INVOICE_PAID, "updated": "later"}, {})
    assert plain != key(raw, {**INVOICE_PAID, "status": "SETTLED"}, {})
    assert plain != by_id
