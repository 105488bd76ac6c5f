"""`MidtransGateway` against bayar's own Midtrans sandbox, in process (httpx.ASGITransport).

The sandbox is built from the Midtrans documentation, not from this adapter, so these tests check
the adapter against an independent reading of the API. Failures the sandbox cannot produce (a
connection error, an answer that is not JSON) come from small fake transports.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from bayar.config import DEMO_SERVER_KEY, Settings
from bayar.gateways.base import (
    ChargeRequest,
    GatewayCallRecord,
    GatewayRejected,
    GatewayUnavailable,
    LineItem,
    Rejection,
    SnapRequest,
    TransactionNotFound,
)
from bayar.gateways.midtrans import MidtransGateway, base_urls
from bayar.sandbox.app import standalone_app

ROOT = "http://sandbox.test/sandbox"
CORE = f"{ROOT}/midtrans"
SNAP = f"{CORE}/snap/v1"

Calls = list[tuple[str, float, str]]
MakeGateway = Callable[..., MidtransGateway]
# `await control(path, body)`: a POST to the sandbox's control API, its JSON answer.
Control = Callable[..., Awaitable[dict[str, Any]]]


def _order() -> str:
    return f"gw-{uuid.uuid4().hex[:12]}"


def _charge(payment_type: str = "qris", amount: int = 10000, **extra: Any) -> ChargeRequest:
    return ChargeRequest(
        order_id=extra.pop("order_id", None) or _order(),
        gross_amount=amount,
        items=(LineItem("sku-1", "Teh botol", amount, 1),),
        payment_type=payment_type,
        **extra,
    )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path,
        # Explicit, so a developer's environment cannot change what these tests talk to.
        midtrans_server_key=SecretStr(DEMO_SERVER_KEY),
        bayar_sandbox=True,
        bayar_sandbox_state_file=tmp_path / "sandbox.sqlite3",
        bayar_sandbox_notification_url=None,
    )
    sandbox = standalone_app(settings)
    # ASGITransport does not run the lifespan: run it here.
    async with sandbox.router.lifespan_context(sandbox):
        yield sandbox


@pytest.fixture
async def control(app: Starlette) -> AsyncIterator[Control]:
    """POST to the sandbox's control API (the simulated customer, faults)."""
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
    made: list[MidtransGateway] = []

    async def observe(call: GatewayCallRecord) -> None:
        calls.append((call.operation, call.seconds, call.outcome))

    def make(**overrides: Any) -> MidtransGateway:
        arguments: dict[str, Any] = {
            "core_base_url": CORE,
            "snap_base_url": SNAP,
            "transport": httpx.ASGITransport(app=app),
            "observer": observe,
        }
        arguments.update(overrides)
        gateway = MidtransGateway(arguments.pop("server_key", DEMO_SERVER_KEY), **arguments)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.aclose()


@pytest.fixture
def gateway(make_gateway: MakeGateway) -> MidtransGateway:
    return make_gateway()


def _no_key(error: BaseException) -> None:
    assert DEMO_SERVER_KEY not in str(error)
    assert DEMO_SERVER_KEY not in repr(error)


# -- charges -------------------------------------------------------------------------------------


async def test_qris_charge(gateway: MidtransGateway, app: Starlette) -> None:
    got = await gateway.charge(_charge("qris", expiry_seconds=900))
    assert got.payment_type == "qris"
    assert got.gateway_status == "pending"
    assert got.transaction_id
    assert got.qr_string
    assert got.qr_string.startswith("000201")
    assert got.qr_url == f"{CORE}/v2/qris/{got.transaction_id}/qr-code"
    assert got.expiry_time is not None
    left = (got.expiry_time - datetime.now(UTC)).total_seconds()
    assert 880 < left <= 900
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        image = await client.get(got.qr_url)
    assert image.headers["content-type"] == "image/png"


async def test_gopay_charge(gateway: MidtransGateway) -> None:
    got = await gateway.charge(_charge("gopay"))
    assert got.payment_type == "gopay"
    assert got.qr_url == f"{CORE}/v2/gopay/{got.transaction_id}/qr-code"
    assert got.redirect_url is not None  # the app deeplink (the simulator, in a sandbox)
    assert got.va_number is None


@pytest.mark.parametrize("bank", ["bca", "bni", "bri", "permata"])
async def test_bank_transfer_charge(gateway: MidtransGateway, bank: str) -> None:
    got = await gateway.charge(_charge("bank_transfer", bank=bank))
    assert got.payment_type == "bank_transfer"
    assert got.bank == bank
    assert got.va_number
    assert got.va_number.isdigit()
    assert got.qr_string is None


async def test_echannel_charge(gateway: MidtransGateway) -> None:
    got = await gateway.charge(_charge("echannel"))
    assert got.bill_key
    assert got.bill_key.isdigit()
    assert got.biller_code == "70012"


@pytest.mark.parametrize("store", ["indomaret", "alfamart"])
async def test_cstore_charge(gateway: MidtransGateway, store: str) -> None:
    got = await gateway.charge(_charge("cstore", store=store))
    assert got.store == store
    assert got.payment_code


async def test_a_repeated_idempotency_key_gives_the_first_answer(gateway: MidtransGateway) -> None:
    request = _charge("qris", idempotency_key=f"idem-{uuid.uuid4().hex}")
    first = await gateway.charge(request)
    second = await gateway.charge(request)
    assert first == second


async def test_a_duplicate_order_id_is_rejected_406(gateway: MidtransGateway) -> None:
    request = _charge("qris")
    await gateway.charge(request)
    with pytest.raises(GatewayRejected) as caught:
        await gateway.charge(_charge("gopay", order_id=request.order_id))
    assert (caught.value.reason, caught.value.code) == (Rejection.DUPLICATE, "406")
    assert not isinstance(caught.value, TransactionNotFound)


async def test_an_invalid_charge_is_rejected_400(gateway: MidtransGateway) -> None:
    request = ChargeRequest(
        order_id=_order(),
        gross_amount=10000,
        items=(LineItem("sku-1", "Teh botol", 9000, 1),),  # the items do not add up
        payment_type="qris",
    )
    with pytest.raises(GatewayRejected) as caught:
        await gateway.charge(request)
    assert caught.value.code == "400"
    assert "gross_amount" in caught.value.message


async def test_an_unsupported_request_fails_before_any_call(
    gateway: MidtransGateway, calls: Calls
) -> None:
    with pytest.raises(ValueError, match="payment_type"):
        await gateway.charge(_charge("credit_card"))
    with pytest.raises(ValueError, match="order id"):
        await gateway.status("..")
    assert calls == []


# -- Snap ----------------------------------------------------------------------------------------


async def test_snap(gateway: MidtransGateway, control: Control) -> None:
    order_id = _order()
    got = await gateway.create_snap(
        SnapRequest(
            order_id=order_id,
            gross_amount=25000,
            items=(LineItem("sku-1", "Kopi", 12500, 2),),
            expiry_seconds=3600,
            finish_url="https://shop.example/finish",
            idempotency_key=order_id,
        )
    )
    assert got.payment_type == "snap"
    assert got.token
    assert got.redirect_url == f"{CORE}/snap/v2/vtweb/{got.token}"
    # Before the customer picks a method there is no transaction (reference 3.3).
    with pytest.raises(TransactionNotFound):
        await gateway.status(order_id)
    await control(f"midtrans/{order_id}/pay?payment_type=qris")
    status = await gateway.status(order_id)
    assert (status.gateway_status, status.payment_type, status.gross_amount) == (
        "settlement",
        "qris",
        25000,
    )


async def test_snap_rejection(gateway: MidtransGateway) -> None:
    with pytest.raises(GatewayRejected) as caught:
        await gateway.create_snap(
            SnapRequest(_order(), 25000, (LineItem("sku-1", "Kopi", 1000, 1),))
        )
    assert caught.value.code == "400"
    assert "item_details" in caught.value.message


# -- status and actions --------------------------------------------------------------------------


async def test_status_of_a_pending_then_paid_charge(
    gateway: MidtransGateway, control: Control
) -> None:
    request = _charge("bank_transfer", amount=150000, bank="bca")
    created = await gateway.charge(request)
    pending = await gateway.status(request.order_id)
    assert pending.order_id == request.order_id
    assert pending.transaction_id == created.transaction_id
    assert (pending.gateway_status, pending.raw["status_code"]) == ("pending", "201")
    assert (pending.gross_amount, pending.currency) == (150000, "IDR")
    assert pending.settled_at is None
    await control(f"midtrans/{request.order_id}/pay")
    paid = await gateway.status(request.order_id)
    assert (paid.gateway_status, paid.fraud_verdict, paid.raw["status_code"]) == (
        "settlement",
        "accept",
        "200",
    )
    assert paid.settled_at is not None
    assert abs((paid.settled_at - datetime.now(UTC)).total_seconds()) < 60
    # The status answer is signed like a notification: our verifier agrees with the sandbox.
    assert gateway.verify_notification(paid.raw)
    assert gateway.parse_notification(paid.raw) == paid
    assert not gateway.verify_notification(dict(paid.raw) | {"gross_amount": "1.00"})


async def test_status_by_transaction_id(gateway: MidtransGateway) -> None:
    created = await gateway.charge(_charge("qris"))
    assert created.transaction_id
    status = await gateway.status(created.transaction_id)
    assert status.transaction_id == created.transaction_id


async def test_status_of_an_unknown_order(gateway: MidtransGateway, calls: Calls) -> None:
    with pytest.raises(TransactionNotFound) as caught:
        await gateway.status("no-such-order")
    assert (caught.value.reason, caught.value.code) == (Rejection.NOT_FOUND, "404")
    assert calls[-1][0] == "status"
    assert calls[-1][2] == "not_found"


async def test_cancel(gateway: MidtransGateway) -> None:
    request = _charge("gopay")
    await gateway.charge(request)
    cancelled = await gateway.cancel(request.order_id)
    assert cancelled.gateway_status == "cancel"
    assert cancelled.order_id == request.order_id
    with pytest.raises(GatewayRejected) as caught:
        await gateway.cancel(request.order_id)
    assert caught.value.code == "412"
    with pytest.raises(TransactionNotFound):
        await gateway.cancel("no-such-order")


async def test_expire(gateway: MidtransGateway) -> None:
    request = _charge("qris")
    await gateway.charge(request)
    expired = await gateway.expire(request.order_id)
    assert (expired.gateway_status, expired.raw["status_code"]) == ("expire", "407")
    again = await gateway.status(request.order_id)
    assert (again.gateway_status, again.raw["status_code"]) == ("expire", "407")
    with pytest.raises(GatewayRejected) as caught:
        await gateway.expire(request.order_id)
    assert caught.value.code == "412"
    # An expired order id can be used again (reference 3.4).
    await gateway.charge(_charge("qris", order_id=request.order_id))


async def test_full_refund(gateway: MidtransGateway, control: Control) -> None:
    request = _charge("qris", amount=20000)
    await gateway.charge(request)
    with pytest.raises(GatewayRejected) as caught:
        await gateway.refund(request.order_id, amount=None, refund_key="too-early", reason="x")
    assert caught.value.code == "412"
    await control(f"midtrans/{request.order_id}/pay")
    refunded = await gateway.refund(
        request.order_id, amount=None, refund_key="r-full", reason="machine jammed"
    )
    assert refunded.gateway_status == "refund"
    assert [r.refund_key for r in refunded.refunds] == ["r-full"]
    assert refunded.refunded_amount == 20000


async def test_partial_refunds(gateway: MidtransGateway, control: Control, calls: Calls) -> None:
    request = _charge("gopay", amount=10000)
    await gateway.charge(request)
    await control(f"midtrans/{request.order_id}/pay")
    first = await gateway.refund(request.order_id, amount=3000, refund_key="r-1", reason="one")
    assert first.gateway_status == "partial_refund"
    assert first.refunded_amount == 3000
    second = await gateway.refund(request.order_id, amount=2000, refund_key="r-2", reason="two")
    assert second.gateway_status == "partial_refund"
    assert {(r.refund_key, r.amount) for r in second.refunds} == {("r-1", 3000), ("r-2", 2000)}
    assert second.refunded_amount == 5000
    with pytest.raises(GatewayRejected) as duplicate:
        await gateway.refund(request.order_id, amount=1000, refund_key="r-2", reason="again")
    assert (duplicate.value.reason, duplicate.value.code) == (Rejection.DUPLICATE, "406")
    with pytest.raises(GatewayRejected) as too_much:
        await gateway.refund(request.order_id, amount=6000, refund_key="r-3", reason="too much")
    assert (too_much.value.reason, too_much.value.code) == (Rejection.AMOUNT, "414")
    last = await gateway.refund(request.order_id, amount=5000, refund_key="r-4", reason="rest")
    assert last.gateway_status == "refund"
    assert last.refunded_amount == 10000
    assert [c[0] for c in calls if c[2] == "ok"][-2:] == ["refund", "status"]


# -- failures ------------------------------------------------------------------------------------


async def test_a_wrong_server_key_is_rejected_401(make_gateway: MakeGateway) -> None:
    wrong = "SB-Mid-server-WRONG-KEY-abc"
    gateway = make_gateway(server_key=wrong)
    with pytest.raises(GatewayRejected) as core:
        await gateway.charge(_charge("qris"))
    assert (core.value.reason, core.value.code) == (Rejection.UNAUTHORIZED, "401")
    with pytest.raises(GatewayRejected) as snap:
        await gateway.create_snap(SnapRequest(_order(), 1000, (LineItem("a", "A", 1000, 1),)))
    assert snap.value.code == "401"
    with pytest.raises(GatewayRejected) as status:
        await gateway.status("whatever")
    assert status.value.code == "401"
    for error in (core.value, snap.value, status.value):
        assert wrong not in str(error)
    assert wrong not in repr(gateway)


@pytest.mark.parametrize("status", [500, 503])
async def test_sandbox_api_errors_are_unavailable(
    gateway: MidtransGateway, control: Control, calls: Calls, status: int
) -> None:
    await control("faults", {"kind": "api_error", "status": status, "count": 2})
    with pytest.raises(GatewayUnavailable) as charge:
        await gateway.charge(_charge("qris"))
    with pytest.raises(GatewayUnavailable) as snap:
        await gateway.create_snap(SnapRequest(_order(), 1000, (LineItem("a", "A", 1000, 1),)))
    assert f"HTTP {status}" in str(charge.value)
    _no_key(charge.value)
    _no_key(snap.value)
    assert [(op, outcome) for op, _, outcome in calls] == [
        ("charge", "unavailable"),
        ("create_snap", "unavailable"),
    ]
    await gateway.charge(_charge("qris"))  # the faults are used up
    assert calls[-1][2] == "ok"


async def test_a_hang_times_out(make_gateway: MakeGateway, control: Control, calls: Calls) -> None:
    gateway = make_gateway(timeout=0.2)
    await control("faults", {"kind": "api_hang", "seconds": 1})
    started = time.perf_counter()
    with pytest.raises(GatewayUnavailable, match="timed out") as caught:
        await gateway.status("anything")
    assert time.perf_counter() - started < 0.9
    _no_key(caught.value)
    assert calls[-1][0] == "status"
    assert calls[-1][2] == "unavailable"
    assert calls[-1][1] < 0.9


async def test_a_connection_error_is_unavailable(make_gateway: MakeGateway, calls: Calls) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gateway = make_gateway(transport=httpx.MockTransport(refuse))
    for call in (
        gateway.charge(_charge("qris")),
        gateway.status("o-1"),
        gateway.cancel("o-1"),
        gateway.expire("o-1"),
        gateway.refund("o-1", amount=None, refund_key="k", reason="r"),
    ):
        with pytest.raises(GatewayUnavailable) as caught:
            await call
        assert "ConnectError" in str(caught.value)
        _no_key(caught.value)
    assert [outcome for _, _, outcome in calls] == ["unavailable"] * 5


async def test_the_key_is_scrubbed_from_transport_errors(make_gateway: MakeGateway) -> None:
    def leak(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"failed with {request.headers['authorization']} {DEMO_SERVER_KEY}")

    gateway = make_gateway(transport=httpx.MockTransport(leak))
    with pytest.raises(GatewayUnavailable) as caught:
        await gateway.status("o-1")
    authorization = httpx.BasicAuth(DEMO_SERVER_KEY, "")._auth_header
    assert authorization.split()[1] not in str(caught.value)
    _no_key(caught.value)
    # Nor in a logged traceback: the transport's exception is not chained.
    logged = "".join(traceback.format_exception(caught.value))
    assert DEMO_SERVER_KEY not in logged
    assert authorization.split()[1] not in logged


def _answering(
    status: int, content: bytes, content_type: str = "application/json"
) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda _: httpx.Response(status, content=content, headers={"content-type": content_type})
    )


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (502, b"<html>Bad Gateway</html>"),
        (200, b"<html>captive portal</html>"),
        (200, b""),
        (200, b"[1, 2]"),
        (404, b"<html>not found</html>"),
        (429, b'{"status_code": "429", "status_message": "Too many requests"}'),
        (200, b'{"status_code": "500", "status_message": "internal error"}'),
        (
            200,
            b'{"status_code": "503", "status_message": "Bank/partner connection issue."}',
        ),
        (200, b'{"status_code": "505", "status_message": "Unable to create va_number"}'),
        (302, b"{}"),
        # A success that cannot be read: the outcome is unknown, so it is not a rejection.
        (200, b'{"status_code": "201", "transaction_status": "pending"}'),
    ],
)
async def test_unreadable_or_technical_answers_are_unavailable(
    make_gateway: MakeGateway, calls: Calls, status: int, content: bytes
) -> None:
    gateway = make_gateway(transport=_answering(status, content))
    with pytest.raises(GatewayUnavailable):
        await gateway.status("o-1")
    with pytest.raises(GatewayUnavailable):
        await gateway.charge(_charge("qris"))
    assert {outcome for _, _, outcome in calls} == {"unavailable"}


async def test_a_fractional_amount_in_a_status_answer_is_unavailable(
    make_gateway: MakeGateway, calls: Calls
) -> None:
    answer = (
        b'{"status_code": "201", "order_id": "o", "transaction_id": "t", '
        b'"transaction_status": "pending", "payment_type": "qris", "gross_amount": "10.50"}'
    )
    gateway = make_gateway(transport=_answering(200, answer))
    with pytest.raises(GatewayUnavailable, match="whole number"):
        await gateway.status("o")
    assert calls[-1][2] == "unavailable"


@pytest.mark.parametrize(
    ("status", "content", "code"),
    [
        (200, b'{"status_code": "412", "status_message": "Merchant cannot modify"}', "412"),
        (
            400,
            b'{"status_code": "400", "status_message": "invalid", "validation_messages": ["x"]}',
            "400",
        ),
        (401, b'{"status_code": "401", "status_message": "Unknown Merchant server_key/id"}', "401"),
        (404, b'{"status_code": "404", "status_message": "Transaction doesn\'t exist."}', "404"),
        (200, b'{"status_code": "404", "status_message": "Transaction doesn\'t exist."}', "404"),
    ],
)
async def test_business_errors_are_rejections(
    make_gateway: MakeGateway, status: int, content: bytes, code: str
) -> None:
    gateway = make_gateway(transport=_answering(status, content))
    with pytest.raises(GatewayRejected) as caught:
        await gateway.cancel("o-1")
    assert caught.value.code == code
    assert isinstance(caught.value, TransactionNotFound) == (code == "404")


async def test_a_404_on_charge_is_not_a_missing_transaction(make_gateway: MakeGateway) -> None:
    """A 404 from /v2/charge means a wrong URL, not "no such transaction"."""
    gateway = make_gateway(
        transport=_answering(404, b'{"status_code": "404", "status_message": "not found"}')
    )
    with pytest.raises(GatewayRejected) as caught:
        await gateway.charge(_charge("qris"))
    assert not isinstance(caught.value, TransactionNotFound)


async def test_requests_on_the_wire(make_gateway: MakeGateway) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"status_code": "404", "status_message": "Transaction doesn't exist."}
        )

    gateway = make_gateway(transport=httpx.MockTransport(record))
    with pytest.raises(TransactionNotFound):
        await gateway.status("order/1 #2")
    with pytest.raises(TransactionNotFound):
        await gateway.refund("o-1", amount=None, refund_key="k1", reason="why")
    with pytest.raises(GatewayRejected):
        await gateway.charge(_charge("qris", idempotency_key="idem-1"))
    status, refund, charge = seen
    assert status.method == "GET"
    assert status.url.raw_path == b"/sandbox/midtrans/v2/order%2F1%20%232/status"
    assert status.headers["authorization"] == httpx.BasicAuth(DEMO_SERVER_KEY, "")._auth_header
    assert status.headers["accept"] == "application/json"
    assert refund.method == "POST"
    assert refund.url.path == "/sandbox/midtrans/v2/o-1/refund"
    assert refund.content == b'{"refund_key":"k1","reason":"why"}'
    assert charge.headers["idempotency-key"] == "idem-1"
    assert "idempotency-key" not in status.headers


# -- construction ---------------------------------------------------------------------------------


def test_base_urls() -> None:
    assert base_urls(False) == (
        "https://api.sandbox.midtrans.com",
        "https://app.sandbox.midtrans.com/snap/v1",
    )
    assert base_urls(True) == ("https://api.midtrans.com", "https://app.midtrans.com/snap/v1")


@pytest.mark.parametrize("key", ["", " SB-Mid-server-x", "SB-Mid-server-x\n"])
def test_a_blank_or_padded_key_is_refused(key: str) -> None:
    core, snap = base_urls(False)
    with pytest.raises(ValueError, match="server key") as caught:
        MidtransGateway(key, core_base_url=core, snap_base_url=snap)
    assert key.strip() == "" or key.strip() not in str(caught.value)


def test_every_call_needs_a_timeout() -> None:
    core, snap = base_urls(False)
    with pytest.raises(ValueError, match="timeout"):
        MidtransGateway(
            DEMO_SERVER_KEY, core_base_url=core, snap_base_url=snap, timeout=httpx.Timeout(None)
        )


async def test_repr_and_observer_failures(make_gateway: MakeGateway) -> None:
    async def broken(call: GatewayCallRecord) -> None:
        raise RuntimeError("metrics are down")

    gateway = make_gateway(observer=broken)
    assert DEMO_SERVER_KEY not in repr(gateway)
    assert gateway.name == "midtrans"
    got = await gateway.charge(_charge("qris"))  # a failing observer does not fail the call
    assert got.gateway_status == "pending"
