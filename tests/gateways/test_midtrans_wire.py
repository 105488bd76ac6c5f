"""Midtrans JSON to and from bayar's gateway types: documentation samples, amounts, requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bayar.gateways.base import (
    ChargeRequest,
    Customer,
    GatewayEvent,
    GatewayRefund,
    LineItem,
    RefundState,
    Rejection,
    SnapRequest,
)
from bayar.gateways.midtrans import wire

SAMPLES = Path(__file__).parents[1] / "fixtures" / "midtrans"  # copied from shared/reference
SAMPLE_FILES = sorted(
    p for p in SAMPLES.glob("*.json") if p.name != "signature_test_vectors_computed.json"
)
WIB = timedelta(hours=7)


def _sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return body


def test_every_sample_is_found() -> None:
    assert len(SAMPLE_FILES) >= 13


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_sample_notification_parses(path: Path) -> None:
    body = json.loads(path.read_text())
    status = wire.parse_status(body)
    assert status.order_id == body["order_id"]
    assert status.transaction_id == body["transaction_id"]
    assert status.gateway_status == body["transaction_status"]
    assert status.event == wire.event_of(body["transaction_status"], body.get("fraud_status"))
    assert status.payment_type == body["payment_type"]
    assert wire.notification_code_fits(body)
    assert isinstance(status.gross_amount, int)
    assert Decimal(status.gross_amount) == Decimal(body["gross_amount"])
    assert status.currency == body.get("currency", "IDR")
    assert status.fraud_verdict == body.get("fraud_status")
    assert status.raw == body
    if "settlement_time" in body:
        assert status.settled_at is not None
        assert status.settled_at.utcoffset() == WIB
        assert status.settled_at.strftime("%Y-%m-%d %H:%M:%S") == body["settlement_time"]
    else:
        assert status.settled_at is None


def test_cstore_notification_has_no_fraud_status() -> None:
    status = wire.parse_status(_sample("notification_cstore_indomaret_settlement.json"))
    assert status.fraud_verdict is None
    assert status.gross_amount == 336000
    assert status.payment_type == "cstore"


def test_settlement_time_is_gmt_plus_7() -> None:
    status = wire.parse_status(_sample("notification_gopay_settlement.json"))
    assert status.settled_at == datetime(2021, 6, 15, 11, 45, 28, tzinfo=UTC)
    assert status.gross_amount == 154600


@pytest.mark.parametrize(
    "amount", ["10000.50", "10000.01", "0.5", "1e4", "10,000.00", "", " ", "-1.00"]
)
def test_amounts_that_are_not_whole_rupiah_are_refused(amount: str) -> None:
    body = _sample("notification_qris_settlement.json") | {"gross_amount": amount}
    with pytest.raises(ValueError, match="gross_amount"):
        wire.parse_status(body)


@pytest.mark.parametrize("amount", [10000.0, True, None, [10000]])
def test_amounts_must_be_text_or_integers(amount: object) -> None:
    body = _sample("notification_qris_settlement.json") | {"gross_amount": amount}
    with pytest.raises(ValueError, match="gross_amount"):
        wire.parse_status(body)


@pytest.mark.parametrize(
    ("text", "value"), [("10000.00", 10000), ("10000", 10000), ("10000.000", 10000), (5539, 5539)]
)
def test_whole_amounts_parse(text: str | int, value: int) -> None:
    assert wire.parse_amount(text) == value


@pytest.mark.parametrize(
    "field", ["order_id", "transaction_id", "transaction_status", "payment_type"]
)
def test_a_missing_field_is_a_value_error(field: str) -> None:
    body = _sample("notification_qris_settlement.json")
    del body[field]
    with pytest.raises(ValueError, match=field):
        wire.parse_status(body)


def test_a_bad_time_is_a_value_error() -> None:
    body = _sample("notification_qris_settlement.json") | {"settlement_time": "23/06/2021"}
    with pytest.raises(ValueError, match="settlement_time"):
        wire.parse_status(body)


def test_times_with_an_offset_parse() -> None:
    parsed = wire.parse_time("2021-06-23 14:06:48 +0700", "t")
    assert parsed == datetime(2021, 6, 23, 7, 6, 48, tzinfo=UTC)
    assert wire.parse_time(None, "t") is None


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2021-06-23 14:06:48", datetime(2021, 6, 23, 7, 6, 48, tzinfo=UTC)),  # GMT+7 implied
        (" 2021-06-23 14:06:48 ", datetime(2021, 6, 23, 7, 6, 48, tzinfo=UTC)),
        ("2021-6-3 4:06:48", datetime(2021, 6, 2, 21, 6, 48, tzinfo=UTC)),
        ("2021-06-23 14:06:48+07:00", datetime(2021, 6, 23, 7, 6, 48, tzinfo=UTC)),
        ("2021-06-23 14:06:48 -0130", datetime(2021, 6, 23, 15, 36, 48, tzinfo=UTC)),
        ("2021-06-23 14:06:48 Z", datetime(2021, 6, 23, 14, 6, 48, tzinfo=UTC)),
    ],
)
def test_the_forms_of_a_midtrans_time(text: str, utc: datetime) -> None:
    assert wire.parse_time(text, "t") == utc


@pytest.mark.parametrize(
    "text", ["2021-06-23", "2021-06-23T14:06:48", "2021-13-01 00:00:00", "2021-06-23 14:06:48 +7"]
)
def test_what_is_not_a_midtrans_time(text: str) -> None:
    with pytest.raises(ValueError, match="expiry_time"):
        wire.parse_time(text, "expiry_time")


def test_refunds_of_a_status_answer() -> None:
    body = _sample("notification_qris_settlement.json") | {
        "transaction_status": "partial_refund",
        "refund_amount": "3000.00",
        "refunds": [
            {
                "refund_chargeback_id": 1,
                "refund_amount": "1000.00",
                "created_at": "2021-06-23 15:00:00",
                "reason": "broken",
                "refund_key": "k1",
                "refund_method": "",
            },
            {"refund_chargeback_id": 2, "refund_amount": "2000.00", "refund_key": "k2"},
        ],
    }
    status = wire.parse_status(body)
    # Midtrans lists a refund once it is made: final, never pending.
    done = RefundState.SUCCEEDED
    assert status.refunds == (GatewayRefund("k1", 1000, done), GatewayRefund("k2", 2000, done))
    assert status.refunded_amount == 3000


def test_refund_of_a_refund_answer() -> None:
    """POST /refund answers with the refund it made, without a `refunds` list."""
    body = _sample("notification_qris_settlement.json") | {
        "status_code": "200",
        "status_message": "Success, refund request is approved",
        "transaction_status": "partial_refund",
        "refund_chargeback_id": 7,
        "refund_amount": "2000.00",
        "refund_key": "k9",
    }
    refund = GatewayRefund("k9", 2000, RefundState.SUCCEEDED)
    assert wire.parse_status(body).refunds == (refund,)


def test_a_fractional_refund_is_refused() -> None:
    body = _sample("notification_qris_settlement.json") | {
        "refunds": [{"refund_amount": "10.50", "refund_key": "k"}]
    }
    with pytest.raises(ValueError, match="refund_amount"):
        wire.parse_status(body)


# -- charge answers ------------------------------------------------------------------------------


def _answer(**fields: Any) -> dict[str, Any]:
    return {
        "status_code": "201",
        "transaction_id": "t-1",
        "order_id": "o-1",
        "gross_amount": "10000.00",
        "currency": "IDR",
        "transaction_status": "pending",
        "transaction_time": "2021-06-23 14:02:42",
        **fields,
    }


def test_permata_answer_has_its_number_at_the_top_level() -> None:
    got = wire.parse_charge(
        _answer(payment_type="bank_transfer", permata_va_number="8562000087926752")
    )
    assert (got.va_number, got.bank) == ("8562000087926752", "permata")


def test_va_answer() -> None:
    got = wire.parse_charge(
        _answer(
            payment_type="bank_transfer",
            va_numbers=[{"bank": "bca", "va_number": "812785002530231"}],
            expiry_time="2021-06-24 14:02:42",
        )
    )
    assert (got.va_number, got.bank) == ("812785002530231", "bca")
    assert got.expiry_time == datetime(2021, 6, 24, 7, 2, 42, tzinfo=UTC)
    assert got.transaction_id == "t-1"
    assert got.gateway_status == "pending"


def test_qris_and_gopay_answers_use_the_actions() -> None:
    qris = wire.parse_charge(
        _answer(
            payment_type="qris",
            qr_string="00020101021226",
            actions=[
                {
                    "name": "generate-qr-code-v2",
                    "method": "GET",
                    "url": "https://x/v4/qris/t-1/qr-code",
                },
                {
                    "name": "generate-qr-code",
                    "method": "GET",
                    "url": "https://x/v2/qris/t-1/qr-code",
                },
            ],
        )
    )
    assert qris.qr_string == "00020101021226"
    assert qris.qr_url == "https://x/v2/qris/t-1/qr-code"
    gopay = wire.parse_charge(
        _answer(
            payment_type="gopay",
            actions=[
                {
                    "name": "generate-qr-code",
                    "method": "GET",
                    "url": "https://x/v2/gopay/t-1/qr-code",
                },
                {
                    "name": "deeplink-redirect",
                    "method": "GET",
                    "url": "gojek://gopay/merchanttransfer",
                },
            ],
        )
    )
    assert gopay.qr_url == "https://x/v2/gopay/t-1/qr-code"
    assert gopay.redirect_url == "gojek://gopay/merchanttransfer"


def test_snap_answer() -> None:
    got = wire.parse_snap({"token": "tok", "redirect_url": "https://app/snap/v2/vtweb/tok"})
    assert (got.payment_type, got.token, got.redirect_url) == (
        "snap",
        "tok",
        "https://app/snap/v2/vtweb/tok",
    )
    with pytest.raises(ValueError, match="token"):
        wire.parse_snap({"redirect_url": "https://app/snap/v2/vtweb/tok"})


def test_error_answers() -> None:
    assert wire.error_of({"status_code": "406", "status_message": "duplicate"}, 200) == (
        "406",
        "duplicate",
    )
    assert wire.error_of({"error_messages": ["a", "b"]}, 400) == ("400", "a; b")
    assert wire.error_of(
        {
            "status_code": "400",
            "status_message": "invalid",
            "validation_messages": ["x is required"],
        },
        400,
    ) == ("400", "invalid; x is required")
    assert wire.error_of({}, 401) == ("401", "HTTP 401")


# -- request bodies ------------------------------------------------------------------------------

ITEMS = (LineItem("sku-1", "Teh botol", 4000, 2), LineItem("sku-2", "Air mineral", 2000, 1))


def _charge(payment_type: str, **extra: Any) -> ChargeRequest:
    return ChargeRequest(
        order_id="o-1", gross_amount=10000, items=ITEMS, payment_type=payment_type, **extra
    )


def test_charge_body_common_fields() -> None:
    body = wire.charge_body(
        _charge(
            "qris", customer=Customer(first_name="Budi", email="b@example.com"), expiry_seconds=900
        )
    )
    assert body == {
        "payment_type": "qris",
        "transaction_details": {"order_id": "o-1", "gross_amount": 10000},
        "item_details": [
            {"id": "sku-1", "name": "Teh botol", "price": 4000, "quantity": 2},
            {"id": "sku-2", "name": "Air mineral", "price": 2000, "quantity": 1},
        ],
        "customer_details": {"first_name": "Budi", "email": "b@example.com"},
        "custom_expiry": {"expiry_duration": 900, "unit": "second"},
    }


def test_charge_body_per_payment_type() -> None:
    assert wire.charge_body(_charge("bank_transfer", bank="bca"))["bank_transfer"] == {
        "bank": "bca"
    }
    assert wire.charge_body(_charge("cstore", store="indomaret"))["cstore"] == {
        "store": "indomaret",
        "message": "bayar",
    }
    assert wire.charge_body(_charge("echannel"))["echannel"] == {
        "bill_info1": "Payment:",
        "bill_info2": "bayar",
    }
    gopay = wire.charge_body(_charge("gopay"))
    assert "custom_expiry" not in gopay
    assert "customer_details" not in gopay


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (ChargeRequest("o-1", 10000, ITEMS, "bank_transfer"), "needs a bank"),
        (ChargeRequest("o-1", 10000, ITEMS, "cstore"), "needs a store"),
        (ChargeRequest("o-1", 10000, ITEMS, "credit_card"), "payment_type"),
        (ChargeRequest("o-1", 0, ITEMS, "qris"), "gross_amount"),
        (ChargeRequest("", 10000, ITEMS, "qris"), "order_id"),
        (ChargeRequest("o-1", 10000, ITEMS, "qris", expiry_seconds=0), "expiry_seconds"),
    ],
)
def test_charge_requests_that_cannot_be_sent(request_: ChargeRequest, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        wire.charge_body(request_)


@pytest.mark.parametrize(("seconds", "minutes"), [(60, 1), (61, 1), (1, 1), (3600, 60), (3599, 59)])
def test_snap_expiry_rounds_down_to_minutes(seconds: int, minutes: int) -> None:
    """Issue 8, problem 5: rounded up, the payment page outlived its order by up to 60 s."""
    body = wire.snap_body(SnapRequest("o-1", 10000, ITEMS, expiry_seconds=seconds))
    assert body["expiry"] == {"duration": minutes, "unit": "minute"}


def test_the_gateway_expiry_counts_from_when_the_order_opened() -> None:
    opened = datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)
    snap = wire.snap_body(
        SnapRequest("o-1", 10000, ITEMS, expiry_seconds=3600, expiry_start=opened)
    )
    assert snap["expiry"] == {
        "duration": 60,
        "unit": "minute",
        "start_time": "2026-12-06 08:02:03 +0700",
    }
    charge = wire.charge_body(
        ChargeRequest("o-1", 10000, ITEMS, "qris", expiry_seconds=900, expiry_start=opened)
    )
    assert charge["custom_expiry"] == {
        "expiry_duration": 900,
        "unit": "second",
        "order_time": "2026-12-06 08:02:03 +0700",
    }


NOTIFICATION_FITS = [
    ("pending", "201", None, True),
    ("settlement", "200", "accept", True),
    ("capture", "200", "accept", True),
    ("capture", "201", "challenge", True),
    ("refund", "200", None, True),
    ("expire", "202", None, True),
    ("cancel", "202", "accept", True),
    ("deny", "202", None, True),
    # A genuine body with its transaction_status edited: the signed code gives it away.
    ("settlement", "201", None, False),
    ("deny", "201", None, False),
    ("cancel", "200", "accept", False),
    ("expire", "201", None, False),
    ("capture", "201", "accept", False),
    ("refund", "202", None, False),
]


@pytest.mark.parametrize(("status", "code", "fraud", "fits"), NOTIFICATION_FITS)
def test_a_notification_status_code_must_fit_its_status(
    status: str, code: str, fraud: str | None, fits: bool
) -> None:
    body = {"transaction_status": status, "status_code": code, "fraud_status": fraud}
    assert wire.notification_code_fits(body) is fits


def test_snap_body() -> None:
    body = wire.snap_body(
        SnapRequest(
            "o-1",
            10000,
            ITEMS,
            customer=Customer(phone="0812"),
            finish_url="https://shop.example/done",
        )
    )
    assert body == {
        "transaction_details": {"order_id": "o-1", "gross_amount": 10000},
        "item_details": wire.charge_body(_charge("qris"))["item_details"],
        "customer_details": {"phone": "0812"},
        "callbacks": {"finish": "https://shop.example/done"},
    }


# Midtrans' transaction_status + fraud_status (reference 3.8) -> the neutral event.
E = GatewayEvent
MIDTRANS_EVENTS = [
    ("pending", None, E.PENDING),
    ("authorize", "accept", E.PENDING),
    ("settlement", None, E.SUCCEEDED),
    ("settlement", "accept", E.SUCCEEDED),
    ("settlement", "", E.SUCCEEDED),
    ("capture", "accept", E.SUCCEEDED),
    ("capture", None, E.SUCCEEDED),
    ("capture", "challenge", E.CHALLENGED),
    ("capture", "deny", E.DENIED),
    ("deny", "deny", E.DENIED),
    ("deny", "accept", E.DENIED),
    ("failure", None, E.DENIED),
    ("expire", None, E.EXPIRED),
    ("cancel", None, E.CANCELLED),
    ("cancel", "accept", E.CANCELLED),
    ("refund", "accept", E.REFUNDED),
    ("chargeback", None, E.REFUNDED),
    ("partial_refund", "accept", E.PARTIALLY_REFUNDED),
    ("partial_chargeback", None, E.PARTIALLY_REFUNDED),
    ("unknown_status", None, None),
    ("", None, None),
    ("SETTLEMENT", None, None),  # Midtrans' values are lower case; anything else is unknown
]


@pytest.mark.parametrize(("transaction_status", "fraud_status", "event"), MIDTRANS_EVENTS)
def test_every_midtrans_status_is_a_neutral_event(
    transaction_status: str, fraud_status: str | None, event: GatewayEvent | None
) -> None:
    assert wire.event_of(transaction_status, fraud_status) == event


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (400, Rejection.INVALID),
        (401, Rejection.UNAUTHORIZED),
        (404, Rejection.NOT_FOUND),
        (406, Rejection.DUPLICATE),
        (412, Rejection.NOT_ALLOWED),
        (414, Rejection.AMOUNT),
        (499, Rejection.OTHER),
    ],
)
def test_midtrans_codes_are_neutral_rejections(code: int, reason: Rejection) -> None:
    assert wire.rejection_of(code) is reason


@pytest.mark.parametrize(
    ("value", "rupiah"),
    [
        ("10000.00", 10000),
        (" 7000.00 ", 7000),
        ("0.00", 0),
        ("99999999999999999.00", 99999999999999999),  # beyond a float's exact integers
        ("12345678901234567", 12345678901234567),
    ],
)
def test_amounts_are_exact(value: str, rupiah: int) -> None:
    parsed = wire.parse_amount(value)
    assert parsed == rupiah
    assert type(parsed) is int


@pytest.mark.parametrize(
    "value",
    ["10000.50", "0.01", "abc", "", "NaN", "Infinity", "1e3.5", "-5000.00", "-1", "1e4", "1_000"],
)
def test_what_is_not_a_whole_amount_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="gross_amount"):
        wire.parse_amount(value)


@pytest.mark.parametrize("value", [None, True, 10000.0, b"10000", -1])
def test_an_amount_of_another_type_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="gross_amount"):
        wire.parse_amount(value)
