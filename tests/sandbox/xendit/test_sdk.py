"""The Xendit emulator driven through the official SDK (xendit-python 7.0.0), as a merchant's code
would drive Xendit, asserting on the models the SDK returns."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import xendit
from xendit.apis import InvoiceApi, PaymentRequestApi, RefundApi

from bayar.config import DEMO_XENDIT_SECRET_KEY
from bayar.sandbox import qris


def _control(root: str, path: str, **body: Any) -> Any:
    answer = httpx.post(f"{root}/_control/{path}", json=body or None)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _order() -> str:
    return f"order-{uuid.uuid4().hex[:10]}"


def _qr_request(api: PaymentRequestApi, amount: int = 15000, **extra: Any) -> Any:
    return api.create_payment_request(
        payment_request_parameters={
            "reference_id": extra.pop("reference_id", _order()),
            "amount": amount,
            "currency": "IDR",
            "payment_method": {
                "type": "QR_CODE",
                "reusability": "ONE_TIME_USE",
                "qr_code": {"channel_code": "QRIS"},
            },
        },
        **extra,
    )


def _sdk_error(call: Any) -> xendit.XenditSdkException:
    with pytest.raises(xendit.XenditSdkException) as caught:
        call()
    return caught.value


# -- invoices ------------------------------------------------------------------------------------


def test_create_invoice_answers_every_field_the_sdk_needs(
    client: xendit.ApiClient, root: str
) -> None:
    external_id = _order()
    invoice = InvoiceApi(client).create_invoice(
        {
            "external_id": external_id,
            "amount": 50000,
            "payer_email": "budi@example.com",
            "description": "Es teh manis x 10",
            "invoice_duration": 3600,
            "success_redirect_url": "https://shop.example/orders/1?paid=1",
            "failure_redirect_url": "https://shop.example/orders/1?failed=1",
            "items": [{"name": "Es teh manis", "price": 5000, "quantity": 10}],
            "metadata": {"order_id": external_id},
        }
    )
    assert str(invoice.status) == "PENDING"
    assert invoice.external_id == external_id
    assert invoice.amount == 50000.0
    assert str(invoice.currency) == "IDR"
    assert len(invoice.id) == 24
    assert invoice.invoice_url == f"{root}/xendit/web/{invoice.id}"
    assert invoice.expiry_date - invoice.created == timedelta(hours=1)
    assert {str(b.bank_code) for b in invoice.available_banks} >= {"BCA", "BNI", "MANDIRI"}
    assert all(b.transfer_amount == 50000.0 for b in invoice.available_banks)
    assert [str(q.qr_code_type) for q in invoice.available_qr_codes] == ["QRIS"]
    assert invoice.items[0].quantity == 10.0
    assert invoice.success_redirect_url == "https://shop.example/orders/1?paid=1"
    assert invoice.metadata == {"order_id": external_id}
    assert invoice.merchant_profile_picture_url


def test_get_invoice_follows_its_payment(client: xendit.ApiClient, root: str) -> None:
    api = InvoiceApi(client)
    created = api.create_invoice({"external_id": _order(), "amount": 25000})
    assert str(api.get_invoice_by_id(created.id).status) == "PENDING"
    _control(root, f"xendit/{created.id}/pay?channel=BCA")
    paid = api.get_invoice_by_id(created.id)
    assert str(paid.status) == "PAID"
    assert str(paid.payment_method) == "BANK_TRANSFER"
    assert paid["payment_channel"] == "BCA"
    assert paid["paid_amount"] == 25000
    bca = next(b for b in paid.available_banks if str(b.bank_code) == "BCA")
    assert paid["payment_destination"] == bca.bank_account_number
    _control(root, "clock", advance=24 * 3600)  # funds settle a day later
    assert str(api.get_invoice_by_id(created.id).status) == "SETTLED"


def test_external_id_is_not_unique_and_list_finds_every_invoice(
    client: xendit.ApiClient, root: str
) -> None:
    api = InvoiceApi(client)
    external_id = _order()
    first = api.create_invoice({"external_id": external_id, "amount": 10000})
    second = api.create_invoice({"external_id": external_id, "amount": 10000})
    api.create_invoice({"external_id": _order(), "amount": 10000})
    assert first.id != second.id
    found = api.get_invoices(external_id=external_id)
    assert [i.id for i in found] == [second.id, first.id]  # newest first
    api.expire_invoice(first.id)
    pending = api.get_invoices(external_id=external_id, statuses=["PENDING"], limit=10)
    assert [i.id for i in pending] == [second.id]
    assert len(api.get_invoices(limit=1)) == 1
    page = api.get_invoices(external_id=external_id, last_invoice=second.id)
    assert [i.id for i in page] == [first.id]


def test_expire_invoice_and_expire_it_again(client: xendit.ApiClient) -> None:
    api = InvoiceApi(client)
    created = api.create_invoice({"external_id": _order(), "amount": 10000})
    expired = api.expire_invoice(created.id)
    assert str(expired.status) == "EXPIRED"
    assert expired.expiry_date <= expired.updated
    error = _sdk_error(lambda: api.expire_invoice(created.id))
    assert (error.status, error.errorCode) == ("404", "INVOICE_NOT_FOUND_ERROR")
    assert error.errorMessage == "Could not find and update PENDING invoice"


def test_invoice_expires_on_the_sandbox_clock(client: xendit.ApiClient, root: str) -> None:
    api = InvoiceApi(client)
    created = api.create_invoice(
        {"external_id": _order(), "amount": 10000, "invoice_duration": 600}
    )
    _control(root, "clock", advance=599)
    assert str(api.get_invoice_by_id(created.id).status) == "PENDING"
    _control(root, "clock", advance=2)
    deadline = time.monotonic() + 3
    while str(api.get_invoice_by_id(created.id).status) == "PENDING":
        assert time.monotonic() < deadline, "the invoice did not expire"
        time.sleep(0.02)
    assert str(api.get_invoice_by_id(created.id).status) == "EXPIRED"


def test_payment_methods_restrict_the_channels(client: xendit.ApiClient) -> None:
    invoice = InvoiceApi(client).create_invoice(
        {"external_id": _order(), "amount": 10000, "payment_methods": ["QRIS", "OVO"]}
    )
    assert invoice.available_banks == []
    assert [str(e.ewallet_type) for e in invoice.available_ewallets] == ["OVO"]
    assert [str(q.qr_code_type) for q in invoice.available_qr_codes] == ["QRIS"]


# -- payment requests (QRIS) -----------------------------------------------------------------------


def test_payment_request_with_a_qr_code(client: xendit.ApiClient) -> None:
    api = PaymentRequestApi(client)
    reference = _order()
    created = _qr_request(api, 15000, reference_id=reference)
    assert str(created.status) == "PENDING"
    assert created.reference_id == reference
    assert created.amount == 15000.0
    assert str(created.currency) == "IDR"
    method = created.payment_method
    assert (str(method.type), str(method.reusability)) == ("QR_CODE", "ONE_TIME_USE")
    assert str(method.qr_code.channel_code) == "QRIS"
    payload = method.qr_code.channel_properties.qr_string
    fields = qris.parse(payload)  # a valid EMVCo payload: its CRC checks out
    assert fields["54"] == "15000"
    assert fields["53"] == "360"
    assert "ID.CO.QRIS.WWW" in fields["51"]
    created_at = datetime.fromisoformat(created.created.replace("Z", "+00:00"))
    assert method.qr_code.channel_properties.expires_at - created_at == timedelta(hours=48)
    fetched = api.get_payment_request_by_id(created.id)
    assert fetched.payment_method.qr_code.channel_properties.qr_string == payload
    listed = api.get_all_payment_requests(reference_id=[reference])
    assert [r.id for r in listed.data] == [created.id]
    assert listed.has_more is False


def test_simulating_the_payment_succeeds_the_request(client: xendit.ApiClient) -> None:
    api = PaymentRequestApi(client)
    created = _qr_request(api)
    simulation = api.simulate_payment_request_payment(created.id)
    assert simulation.status == "SUCCEEDED"
    assert str(api.get_payment_request_by_id(created.id).status) == "SUCCEEDED"
    error = _sdk_error(lambda: api.simulate_payment_request_payment(created.id))
    assert error.status == "409"


def test_idempotency_key_replays_the_payment_request(client: xendit.ApiClient) -> None:
    api = PaymentRequestApi(client)
    reference = _order()
    first = _qr_request(api, reference_id=reference, idempotency_key=reference)
    again = _qr_request(api, reference_id=reference, idempotency_key=reference)
    assert again.id == first.id
    error = _sdk_error(
        lambda: _qr_request(api, 20000, reference_id=reference, idempotency_key=reference)
    )
    assert (error.status, error.errorCode) == ("409", "IDEMPOTENCY_ERROR")


def test_control_fails_and_expires_payment_requests(client: xendit.ApiClient, root: str) -> None:
    api = PaymentRequestApi(client)
    failed, expired = _qr_request(api), _qr_request(api)
    _control(root, f"xendit/{failed.id}/fail")
    _control(root, f"xendit/{expired.id}/expire")
    after = api.get_payment_request_by_id(failed.id)
    assert str(after.status) == "FAILED"
    assert after["failure_code"] == "PAYMENT_DECLINED"
    assert str(api.get_payment_request_by_id(expired.id).status) == "EXPIRED"


# -- refunds ---------------------------------------------------------------------------------------


def test_refund_a_paid_qr_payment(client: xendit.ApiClient, root: str) -> None:
    requests, refunds = PaymentRequestApi(client), RefundApi(client)
    paid = _qr_request(requests, 20000)
    requests.simulate_payment_request_payment(paid.id)
    refund = refunds.create_refund(
        idempotency_key=f"rf-{paid.id}",
        create_refund={"payment_request_id": paid.id, "reason": "CANCELLATION", "amount": 5000},
    )
    assert refund.id.startswith("rfd-")
    assert refund.amount == 5000.0
    assert refund.payment_request_id == paid.id
    assert refund["status"] == "PENDING"
    assert refund["reason"] == "CANCELLATION"
    again = refunds.create_refund(
        idempotency_key=f"rf-{paid.id}",
        create_refund={"payment_request_id": paid.id, "reason": "CANCELLATION", "amount": 5000},
    )
    assert again.id == refund.id  # the same key is the same refund
    _control(root, "clock", advance=60)  # refunds finish a minute later
    deadline = time.monotonic() + 3
    while refunds.get_refund(refund.id)["status"] == "PENDING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert refunds.get_refund(refund.id)["status"] == "SUCCEEDED"
    rest = refunds.create_refund(create_refund={"payment_request_id": paid.id, "reason": "OTHERS"})
    assert rest.amount == 15000.0  # no amount: what is left
    error = _sdk_error(
        lambda: refunds.create_refund(
            create_refund={"payment_request_id": paid.id, "reason": "OTHERS", "amount": 1}
        )
    )
    assert (error.status, error.errorCode) == ("400", "MAXIMUM_REFUND_AMOUNT_REACHED")
    listed = refunds.get_all_refunds(payment_request_id=paid.id)
    assert {r.id for r in listed.data} == {refund.id, rest.id}


def test_refund_rules(client: xendit.ApiClient, root: str) -> None:
    requests, refunds, invoices = PaymentRequestApi(client), RefundApi(client), InvoiceApi(client)
    pending = _qr_request(requests, 10000)
    error = _sdk_error(
        lambda: refunds.create_refund(
            create_refund={"payment_request_id": pending.id, "reason": "OTHERS"}
        )
    )
    assert (error.status, error.errorCode) == ("400", "INELIGIBLE_TRANSACTION_STATUS")
    requests.simulate_payment_request_payment(pending.id)
    error = _sdk_error(
        lambda: refunds.create_refund(
            create_refund={"payment_request_id": pending.id, "reason": "OTHERS", "amount": 10001}
        )
    )
    assert (error.status, error.errorCode) == ("400", "REFUND_AMOUNT_EXCEEDED")
    by_va = invoices.create_invoice({"external_id": _order(), "amount": 30000})
    _control(root, f"xendit/{by_va.id}/pay?channel=MANDIRI")
    error = _sdk_error(
        lambda: refunds.create_refund(create_refund={"invoice_id": by_va.id, "reason": "OTHERS"})
    )
    assert (error.status, error.errorCode) == ("400", "REFUND_NOT_SUPPORTED")
    by_qris = invoices.create_invoice({"external_id": _order(), "amount": 30000})
    _control(root, f"xendit/{by_qris.id}/pay")  # QRIS when offered
    refund = refunds.create_refund(create_refund={"invoice_id": by_qris.id, "reason": "OTHERS"})
    assert refund.amount == 30000.0
    assert refund["invoice_id"] == by_qris.id
    _control(root, f"xendit/{refund.id}/fail")
    assert refunds.get_refund(refund.id)["status"] == "FAILED"
    # A failed refund gives its amount back: it can be refunded again.
    assert (
        refunds.create_refund(create_refund={"invoice_id": by_qris.id, "reason": "OTHERS"}).amount
        == 30000.0
    )


# -- errors ------------------------------------------------------------------------------------------


def test_wrong_key_is_401_invalid_api_key(root: str) -> None:
    configuration = xendit.Configuration(host=f"{root}/xendit", api_key="xnd_development_wrong")
    with xendit.ApiClient(configuration=configuration) as wrong:
        error = _sdk_error(lambda: InvoiceApi(wrong).get_invoices())
    assert (error.status, error.errorCode) == ("401", "INVALID_API_KEY")
    bare = httpx.get(f"{root}/xendit/v2/invoices")
    assert bare.status_code == 401
    assert bare.json()["error_code"] == "INVALID_API_KEY"


def test_not_found_errors(client: xendit.ApiClient) -> None:
    error = _sdk_error(lambda: InvoiceApi(client).get_invoice_by_id("5f0000000000000000000000"))
    assert (error.status, error.errorCode) == ("404", "INVOICE_NOT_FOUND_ERROR")
    error = _sdk_error(lambda: PaymentRequestApi(client).get_payment_request_by_id("pr-nope"))
    assert (error.status, error.errorCode) == ("404", "DATA_NOT_FOUND")
    error = _sdk_error(lambda: RefundApi(client).get_refund("rfd-nope"))
    assert (error.status, error.errorCode) == ("404", "DATA_NOT_FOUND")


def test_validation_errors(client: xendit.ApiClient) -> None:
    error = _sdk_error(
        lambda: InvoiceApi(client).create_invoice({"external_id": _order(), "amount": 0})
    )
    assert (error.status, error.errorCode) == ("400", "API_VALIDATION_ERROR")
    assert "amount" in error.errorMessage
    error = _sdk_error(
        lambda: InvoiceApi(client).create_invoice(
            {"external_id": _order(), "amount": 1000, "currency": "USD"}
        )
    )
    assert (error.status, error.errorCode) == ("400", "UNSUPPORTED_CURRENCY")
    error = _sdk_error(
        lambda: PaymentRequestApi(client).create_payment_request(
            payment_request_parameters={
                "amount": 1000,
                "currency": "IDR",
                "payment_method": {
                    "type": "EWALLET",
                    "reusability": "ONE_TIME_USE",
                    "ewallet": {"channel_code": "OVO"},
                },
            }
        )
    )
    assert (error.status, error.errorCode) == ("400", "API_VALIDATION_ERROR")


def test_anything_else_under_the_api_is_a_json_404(root: str) -> None:
    for path in ("/xendit", "/xendit/v2/payouts", "/xendit/qr_codes"):
        answer = httpx.get(f"{root}{path}", auth=(DEMO_XENDIT_SECRET_KEY, ""))
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "NOT_FOUND"


def test_api_error_fault_reaches_the_sdk_as_a_5xx(client: xendit.ApiClient, root: str) -> None:
    _control(root, "faults", kind="api_error", status=503)
    error = _sdk_error(lambda: InvoiceApi(client).get_invoices())
    assert (error.status, error.errorCode) == ("503", "SERVER_ERROR")
    assert InvoiceApi(client).get_invoices() == []


def test_api_hang_fault_times_the_client_out_but_the_call_takes_effect(
    client: xendit.ApiClient, root: str
) -> None:
    _control(root, "faults", kind="api_hang", seconds=1.0)
    external_id = _order()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{root}/xendit/v2/invoices",
            json={"external_id": external_id, "amount": 9000},
            auth=(DEMO_XENDIT_SECRET_KEY, ""),
            timeout=0.3,
        )
    [created] = InvoiceApi(client).get_invoices(external_id=external_id)
    assert str(created.status) == "PENDING"
