"""The sandbox driven through the official Python SDK, as an outside client would (reference 1.7)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import midtransclient
import pytest

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY
from bayar.sandbox import qris


def _order() -> str:
    return f"sdk-{uuid.uuid4().hex[:12]}"


def _point(client: Any, api_base: str) -> Any:
    # Per-instance base URLs (reference 1.7, option 2); the SDK has no setting for them.
    client.api_config.CORE_SANDBOX_BASE_URL = api_base
    client.api_config.SNAP_SANDBOX_BASE_URL = f"{api_base}/snap/v1"
    return client


@pytest.fixture
def core(api_base: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return _point(
        midtransclient.CoreApi(is_production=False, server_key=SERVER_KEY, client_key=CLIENT_KEY),
        api_base,
    )


@pytest.fixture
def snap(api_base: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return _point(
        midtransclient.Snap(is_production=False, server_key=SERVER_KEY, client_key=CLIENT_KEY),
        api_base,
    )


def _charge(core: Any, payment_type: str, amount: int = 10000, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "payment_type": payment_type,
        "transaction_details": {"order_id": _order(), "gross_amount": amount},
        **extra,
    }
    result: dict[str, Any] = core.charge(body)
    return result


def _card_token(core: Any, number: str, **extra: str) -> str:
    answer = core.card_token(
        {
            "card_number": number,
            "card_exp_month": "12",
            "card_exp_year": "2035",
            "card_cvv": "123",
            "client_key": CLIENT_KEY,
            **extra,
        }
    )
    assert answer["status_code"] == "200"
    token: str = answer["token_id"]
    return token


def _charge_order(core: Any, order_id: str) -> dict[str, Any]:
    result: dict[str, Any] = core.charge(
        {
            "payment_type": "qris",
            "transaction_details": {"order_id": order_id, "gross_amount": 7000},
        }
    )
    return result


def _api_error(call: Any) -> midtransclient.MidtransAPIError:
    with pytest.raises(midtransclient.MidtransAPIError) as caught:
        call()
    return caught.value


# -- charges of every payment type -----------------------------------------------------------


def test_qris_charge_gives_a_valid_qris_payload_and_working_actions(
    core: Any, api_base: str
) -> None:
    answer = _charge(core, "qris", 7000, qris={"acquirer": "gopay"})
    assert answer["status_code"] == "201"
    assert answer["status_message"] == "QRIS transaction is created"
    assert answer["transaction_status"] == "pending"
    assert answer["gross_amount"] == "7000.00"
    assert answer["currency"] == "IDR"
    assert answer["acquirer"] == "gopay"
    fields = qris.parse(answer["qr_string"])  # raises on a bad CRC
    assert fields["54"] == "7000"
    assert fields["53"] == "360"
    [action] = answer["actions"]
    assert action["name"] == "generate-qr-code"
    assert action["url"].startswith(api_base)
    image = httpx.get(action["url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_gopay_charge_has_the_four_actions_on_the_sandbox(core: Any, api_base: str) -> None:
    answer = _charge(core, "gopay", 15000, gopay={"enable_callback": True})
    assert answer["status_code"] == "201"
    assert answer["transaction_status"] == "pending"
    names = {a["name"]: a for a in answer["actions"]}
    assert set(names) == {"generate-qr-code", "deeplink-redirect", "get-status", "cancel"}
    assert names["cancel"]["method"] == "POST"
    sandbox_root = api_base.removesuffix("/midtrans")
    assert all(a["url"].startswith(sandbox_root) for a in answer["actions"])
    assert httpx.get(names["generate-qr-code"]["url"]).headers["content-type"] == "image/png"
    status = httpx.get(names["get-status"]["url"], auth=(SERVER_KEY, "")).json()
    assert status["transaction_id"] == answer["transaction_id"]


@pytest.mark.parametrize("bank", ["bca", "bni", "bri"])
def test_bank_transfer_charge_gives_a_va_number(core: Any, bank: str) -> None:
    answer = _charge(core, "bank_transfer", 25000, bank_transfer={"bank": bank})
    assert answer["status_code"] == "201"
    assert answer["status_message"] == "Success, Bank Transfer transaction is created"
    [va] = answer["va_numbers"]
    assert va["bank"] == bank
    assert va["va_number"].isdigit()


def test_permata_charge_gives_a_top_level_va_number(core: Any) -> None:
    answer = _charge(core, "bank_transfer", 25000, bank_transfer={"bank": "permata"})
    assert answer["permata_va_number"].isdigit()
    assert "va_numbers" not in answer


def test_echannel_charge_gives_bill_key_and_biller_code(core: Any) -> None:
    answer = _charge(
        core, "echannel", 30000, echannel={"bill_info1": "Payment:", "bill_info2": "Online"}
    )
    assert answer["status_message"] == "OK, Mandiri Bill transaction is successful"
    assert answer["biller_code"] == "70012"
    assert len(answer["bill_key"]) == 12


@pytest.mark.parametrize("store", ["indomaret", "alfamart"])
def test_cstore_charge_gives_a_payment_code(core: Any, store: str) -> None:
    answer = _charge(core, "cstore", 12000, cstore={"store": store, "message": "bayar"})
    assert answer["store"] == store
    assert answer["payment_code"]
    assert ("fraud_status" in answer) is (store == "alfamart")


def test_card_charge_with_an_accepted_card_is_captured(core: Any) -> None:
    token = _card_token(core, "4811111111111114")
    answer = _charge(core, "credit_card", 10000, credit_card={"token_id": token})
    assert answer["status_code"] == "200"
    assert (answer["transaction_status"], answer["fraud_status"]) == ("capture", "accept")
    assert answer["masked_card"] == "481111-1114"
    assert answer["channel_response_code"] == "00"


def test_card_charge_with_a_bank_deny_card_is_denied_without_raising(core: Any) -> None:
    token = _card_token(core, "4711111111111115")
    answer = _charge(core, "credit_card", 10000, credit_card={"token_id": token})
    assert answer["status_code"] == "202"
    assert answer["transaction_status"] == "deny"


def test_card_challenge_then_approve_and_deny(core: Any) -> None:
    first = _charge(
        core, "credit_card", 10000, credit_card={"token_id": _card_token(core, "4511111111111117")}
    )
    assert (first["transaction_status"], first["fraud_status"]) == ("capture", "challenge")
    approved = core.transactions.approve(first["transaction_id"])
    assert approved["status_message"] == "Success, transaction is approved"
    assert (approved["transaction_status"], approved["fraud_status"]) == ("capture", "accept")
    second = _charge(
        core, "credit_card", 10000, credit_card={"token_id": _card_token(core, "5510111111111115")}
    )
    denied = core.transactions.deny(second["order_id"])
    assert (denied["transaction_status"], denied["fraud_status"]) == ("deny", "deny")
    assert (
        _api_error(lambda: core.transactions.approve(first["transaction_id"])).api_response_dict[
            "status_code"
        ]
        == "412"
    )


def test_card_3ds_charge_is_pending_with_a_redirect_url(core: Any, api_base: str) -> None:
    token = _card_token(core, "4811111111111114")
    answer = _charge(
        core, "credit_card", 10000, credit_card={"token_id": token, "authentication": True}
    )
    assert answer["status_code"] == "201"
    assert answer["transaction_status"] == "pending"
    assert answer["redirect_url"].startswith(f"{api_base}/v2/token/rba/redirect/")


def test_card_token_errors_and_register_and_point_inquiry(core: Any) -> None:
    bad = _api_error(
        lambda: core.card_token(
            {
                "card_number": "4811111111111115",
                "card_exp_month": "12",
                "card_exp_year": "2035",
                "card_cvv": "123",
                "client_key": CLIENT_KEY,
            }
        )
    )
    assert bad.api_response_dict["status_code"] == "400"
    assert "luhn" in " ".join(bad.api_response_dict["validation_messages"])
    registered = core.card_register(
        {
            "card_number": "5264221038874659",
            "card_exp_month": "12",
            "card_exp_year": "2035",
            "client_key": CLIENT_KEY,
        }
    )
    assert registered["status_code"] == "200"
    assert registered["masked_card"] == "52642210-4659"
    saved = registered["saved_token_id"]
    charged = _charge(core, "credit_card", 5000, credit_card={"token_id": saved})
    assert charged["transaction_status"] == "capture"
    points = core.card_point_inquiry(saved)
    assert points["point_balance_amount"] == "10000.00"


def test_card_token_takes_the_client_key_as_basic_auth_user(core: Any, api_base: str) -> None:
    card = {
        "card_number": "4811111111111114",
        "card_exp_month": "12",
        "card_exp_year": "2035",
        "card_cvv": "123",
    }
    # The official SDK sends its server key as Basic user; one built with the client key in that
    # place sends what unofficial clients send: the client key as Basic user, no query parameter.
    as_client = _point(midtransclient.CoreApi(is_production=False, server_key=CLIENT_KEY), api_base)
    token = as_client.card_token(card)
    assert token["status_code"] == "200"
    charged = _charge(core, "credit_card", 10000, credit_card={"token_id": token["token_id"]})
    assert charged["transaction_status"] == "capture"
    assert as_client.card_register(card)["status_code"] == "200"
    plain = httpx.get(f"{api_base}/v2/token", params=card, auth=(CLIENT_KEY, ""))
    assert plain.json()["status_code"] == "200"
    # Neither a wrong key nor the server key (a secret: never in a page) stands for it.
    for user in ("SB-Mid-client-wrong", SERVER_KEY):
        refused = httpx.get(f"{api_base}/v2/token", params=card, auth=(user, ""))
        assert (refused.status_code, refused.json()["status_code"]) == (401, "401")
    assert httpx.get(f"{api_base}/v2/token", params=card).status_code == 401


def test_preauthorized_card_is_captured(core: Any) -> None:
    token = _card_token(core, "4811111111111114")
    auth = _charge(core, "credit_card", 10000, credit_card={"token_id": token, "type": "authorize"})
    assert auth["transaction_status"] == "authorize"
    captured = core.capture({"transaction_id": auth["transaction_id"], "gross_amount": 10000})
    assert captured["transaction_status"] == "capture"


# -- status and actions ----------------------------------------------------------------------


def test_status_by_order_id_and_by_transaction_id(core: Any) -> None:
    charge = _charge(core, "bank_transfer", 50000, bank_transfer={"bank": "bca"})
    by_order = core.transactions.status(charge["order_id"])
    by_id = core.transactions.status(charge["transaction_id"])
    assert by_order == by_id
    assert by_order["status_code"] == "201"
    assert by_order["status_message"] == "Success, transaction is found"
    assert by_order["va_numbers"] == charge["va_numbers"]
    assert len(by_order["signature_key"]) == 128
    b2b = core.transactions.statusb2b(charge["order_id"])
    assert [t["transaction_id"] for t in b2b["transactions"]] == [charge["transaction_id"]]
    # The SDK's notification() re-reads the status by transaction_id.
    assert core.transactions.notification({"transaction_id": charge["transaction_id"]}) == by_id


def test_unknown_transaction_is_404(core: Any) -> None:
    error = _api_error(lambda: core.transactions.status("no-such-order"))
    assert error.api_response_dict["status_code"] == "404"
    assert error.api_response_dict["status_message"] == "Transaction doesn't exist."
    assert "exist" in error.message
    assert (
        _api_error(lambda: core.transactions.cancel("no-such-order")).api_response_dict[
            "status_code"
        ]
        == "404"
    )


def test_cancel_a_pending_payment_then_412_on_a_second_cancel(core: Any) -> None:
    charge = _charge(core, "qris", 7000)
    cancelled = core.transactions.cancel(charge["order_id"])
    assert cancelled["status_code"] == "200"
    assert cancelled["transaction_status"] == "cancel"
    again = _api_error(lambda: core.transactions.cancel(charge["order_id"]))
    assert again.api_response_dict["status_code"] == "412"
    assert again.api_response_dict["status_message"] == (
        "Merchant cannot modify the status of the transaction"
    )


def test_expire_answers_407_without_an_error_and_frees_the_order_id(core: Any) -> None:
    charge = _charge(core, "gopay", 9000)
    expired = core.transactions.expire(charge["transaction_id"])
    assert expired["status_code"] == "407"
    assert expired["transaction_status"] == "expire"
    assert core.transactions.status(charge["order_id"])["status_code"] == "407"
    again = core.charge(
        {
            "payment_type": "gopay",
            "transaction_details": {"order_id": charge["order_id"], "gross_amount": 9000},
        }
    )
    assert again["transaction_id"] != charge["transaction_id"]
    assert core.transactions.status(charge["order_id"])["transaction_id"] == again["transaction_id"]


def test_reused_order_id_is_406(core: Any) -> None:
    charge = _charge(core, "qris", 7000)
    error = _api_error(
        lambda: core.charge(
            {
                "payment_type": "qris",
                "transaction_details": {"order_id": charge["order_id"], "gross_amount": 7000},
            }
        )
    )
    assert error.api_response_dict["status_code"] == "406"


def _settle(sandbox_url: str, order_id: str) -> None:
    httpx.post(f"{sandbox_url}/_control/midtrans/{order_id}/pay").raise_for_status()


def test_full_refund(core: Any, sandbox_url: str) -> None:
    charge = _charge(core, "qris", 20000)
    _settle(sandbox_url, charge["order_id"])
    refund = core.transactions.refund(
        charge["order_id"], {"refund_key": "r-1", "reason": "sold out"}
    )
    assert refund["status_message"] == "Success, refund request is approved"
    assert refund["transaction_status"] == "refund"
    assert refund["refund_amount"] == "20000.00"
    assert isinstance(refund["refund_chargeback_id"], int)
    status = core.transactions.status(charge["order_id"])
    assert status["refund_amount"] == "20000.00"
    assert [r["refund_key"] for r in status["refunds"]] == ["r-1"]


def test_partial_refunds_duplicate_key_and_amount_checks(core: Any, sandbox_url: str) -> None:
    charge = _charge(core, "gopay", 20000)
    _settle(sandbox_url, charge["order_id"])
    first = core.transactions.refund(
        charge["transaction_id"], {"refund_key": "p-1", "amount": 5000}
    )
    assert first["transaction_status"] == "partial_refund"
    duplicate = _api_error(
        lambda: core.transactions.refund(
            charge["transaction_id"], {"refund_key": "p-1", "amount": 5000}
        )
    )
    assert duplicate.api_response_dict["status_code"] == "406"
    too_much = _api_error(
        lambda: core.transactions.refund(
            charge["transaction_id"], {"refund_key": "p-2", "amount": 15001}
        )
    )
    assert too_much.api_response_dict["status_code"] == "414"
    direct = core.transactions.refundDirect(
        charge["transaction_id"], {"refund_key": "p-3", "amount": 15000}
    )
    assert direct["status_message"] == "Success, refund request is approved by the bank"
    assert direct["transaction_status"] == "refund"


def test_a_captured_card_is_refunded_only_once_settled(core: Any, sandbox_url: str) -> None:
    charge = _charge(
        core, "credit_card", 20000, credit_card={"token_id": _card_token(core, "4811111111111114")}
    )
    assert charge["transaction_status"] == "capture"
    params = {"refund_key": "order1-ref1", "amount": 5000, "reason": "for some reason"}
    for refund in (core.transactions.refund, core.transactions.refundDirect):
        # The second call reuses the refund_key: still 412, the state is checked first.
        error = _api_error(lambda refund=refund: refund(charge["order_id"], params))
        assert error.api_response_dict["status_code"] == "412"
        assert (
            error.api_response_dict["status_message"]
            == "Merchant cannot modify the status of the transaction"
        )
    status = core.transactions.status(charge["order_id"])
    assert (status["transaction_status"], status.get("refunds")) == ("capture", None)
    _settle(sandbox_url, charge["order_id"])  # the card settles (D+1 at Midtrans)
    refunded = core.transactions.refund(charge["order_id"], params)
    assert (refunded["transaction_status"], refunded["refund_key"]) == (
        "partial_refund",
        "order1-ref1",
    )


def test_refund_of_an_unpaid_payment_is_412(core: Any) -> None:
    charge = _charge(core, "qris", 20000)
    error = _api_error(lambda: core.transactions.refund(charge["order_id"], {"amount": 1000}))
    assert error.api_response_dict["status_code"] == "412"


def test_idempotency_key_returns_the_first_answer(core: Any) -> None:
    core.api_config.custom_headers = {"Idempotency-Key": uuid.uuid4().hex}
    body = {
        "payment_type": "qris",
        "transaction_details": {"order_id": _order(), "gross_amount": 7000},
    }
    first = core.charge(body)
    second = core.charge(body)
    assert first == second
    assert len(core.transactions.statusb2b(first["order_id"])["transactions"]) == 1


def test_custom_expiry_sets_the_expiry_time(core: Any) -> None:
    answer = _charge(core, "qris", 7000, custom_expiry={"expiry_duration": 2, "unit": "hour"})
    start = answer["transaction_time"]
    hours = int(answer["expiry_time"][11:13]) - int(start[11:13])
    assert hours % 24 == 2
    assert answer["expiry_time"][14:] == start[14:]


# -- validation and auth errors ------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -5, "abc"])
def test_zero_or_invalid_amount_is_400(core: Any, amount: Any) -> None:
    error = _api_error(lambda: _charge(core, "qris", amount))
    assert error.http_status_code == 400
    assert (
        error.api_response_dict["status_message"]
        == "One or more parameters in the payload is invalid."
    )
    assert any("gross_amount" in m for m in error.api_response_dict["validation_messages"])


def test_item_details_must_sum_to_gross_amount(core: Any) -> None:
    error = _api_error(
        lambda: _charge(
            core,
            "qris",
            10000,
            item_details=[{"id": "a", "price": 3000, "quantity": 2, "name": "Cola"}],
        )
    )
    assert (
        "transaction_details.gross_amount is not equal to the sum of item_details"
        in (error.api_response_dict["validation_messages"])
    )
    ok = _charge(
        core, "qris", 6000, item_details=[{"id": "a", "price": 3000, "quantity": 2, "name": "Cola"}]
    )
    assert ok["transaction_status"] == "pending"


def test_null_body_is_500_in_midtrans_words(core: Any) -> None:
    error = _api_error(lambda: core.charge(None))  # the SDK sends the JSON literal null
    assert error.http_status_code == 500
    assert error.api_response_dict["status_code"] == "500"  # JSON, as always
    assert error.api_response_dict["status_message"].startswith("An unexpected error occurred")
    assert "500" in error.message
    assert "unexpected" in error.message


# What the official SDKs' own tests and Midtrans' examples send: a date and time with a space.
SDK_ORDER_ID = "py-midtransclient-test-2026-12-06 11:30:00"


def test_order_ids_with_a_space_and_colons_are_accepted(core: Any, snap: Any) -> None:
    charged = _charge_order(core, SDK_ORDER_ID)
    assert (charged["order_id"], charged["transaction_status"]) == (SDK_ORDER_ID, "pending")
    assert core.transactions.status(SDK_ORDER_ID)["transaction_id"] == charged["transaction_id"]
    token = snap.create_transaction_token(
        {
            "transaction_details": {
                "order_id": "py-midtransclient-test-2026-12-06 11:31:00",
                "gross_amount": 7000,
            }
        }
    )
    uuid.UUID(token)
    longest = "a:b ~.-_" + "9" * 42  # 50 characters, every symbol allowed
    assert _charge_order(core, longest)["order_id"] == longest


@pytest.mark.parametrize(
    "order_id",
    [
        "a#1",
        "a/1",
        "a?1",
        "a%201",
        "a&b",
        "a+b",
        "a@b",
        "a'b",
        'a"b',
        "a<b>",
        "pesanan-é",
        "a\tb",
        "a" * 51,
    ],
)
def test_other_order_ids_are_400_on_core_and_snap(core: Any, snap: Any, order_id: str) -> None:
    core_error = _api_error(lambda: _charge_order(core, order_id))
    assert core_error.http_status_code == 400
    snap_error = _api_error(
        lambda: snap.create_transaction(
            {"transaction_details": {"order_id": order_id, "gross_amount": 7000}}
        )
    )
    assert snap_error.http_status_code == 400
    for messages in (
        core_error.api_response_dict["validation_messages"],
        snap_error.api_response_dict["error_messages"],
    ):
        assert len(messages) == 1
        assert messages[0].startswith("transaction_details.order_id")


def test_wrong_server_key_is_401_on_core_and_snap(api_base: str) -> None:
    core = _point(
        midtransclient.CoreApi(is_production=False, server_key="SB-Mid-server-wrong"), api_base
    )
    error = _api_error(lambda: core.transactions.status("x"))
    assert error.http_status_code == 401
    assert error.api_response_dict["status_code"] == "401"
    snap = _point(
        midtransclient.Snap(is_production=False, server_key="SB-Mid-server-wrong"), api_base
    )
    snap_error = _api_error(
        lambda: snap.create_transaction(
            {"transaction_details": {"order_id": _order(), "gross_amount": 1000}}
        )
    )
    assert snap_error.http_status_code == 401
    assert "error_messages" in snap_error.api_response_dict


# -- Snap --------------------------------------------------------------------------------------


def test_snap_create_and_recreate_issues_a_new_token(
    snap: Any, api_base: str, sandbox_url: str
) -> None:
    order_id = _order()
    params = {
        "transaction_details": {"order_id": order_id, "gross_amount": 17000},
        "item_details": [
            {"id": "cola", "price": 7000, "quantity": 1, "name": "Cola"},
            {"id": "lemon", "price": 10000, "quantity": 1, "name": "Lemon"},
        ],
        "customer_details": {"first_name": "Budi", "email": "budi@example.com"},
    }
    first = snap.create_transaction(params)
    uuid.UUID(first["token"])
    assert first["redirect_url"] == f"{api_base}/snap/v2/vtweb/{first['token']}"
    assert snap.create_transaction_token(params) != first["token"]
    # Before a method is chosen there is no Core transaction (reference 3.3).
    assert (
        _api_error(lambda: snap.transactions.status(order_id)).api_response_dict["status_code"]
        == "404"
    )
    _settle(sandbox_url, order_id)  # pays as the payment page would, with QRIS
    status = snap.transactions.status(order_id)
    assert (status["payment_type"], status["transaction_status"]) == ("qris", "settlement")
    # Once paid the order_id is locked.
    error = _api_error(lambda: snap.create_transaction(params))
    assert error.http_status_code == 400


def test_snap_with_empty_item_details_is_as_without(snap: Any, sandbox_url: str) -> None:
    order_id = _order()
    created = snap.create_transaction(
        {"transaction_details": {"order_id": order_id, "gross_amount": 12000}, "item_details": []}
    )
    uuid.UUID(created["token"])
    _settle(sandbox_url, order_id)  # the payment page charges it, items and all
    status = snap.transactions.status(order_id)
    assert (status["transaction_status"], status["gross_amount"]) == ("settlement", "12000.00")


def test_snap_validation_errors(snap: Any) -> None:
    error = _api_error(
        lambda: snap.create_transaction(
            {
                "transaction_details": {"order_id": _order(), "gross_amount": 5000},
                "item_details": [{"id": "a", "price": 1000, "quantity": 1, "name": "A"}],
            }
        )
    )
    assert error.http_status_code == 400
    assert error.api_response_dict["error_messages"] == [
        "transaction_details.gross_amount is not equal to the sum of item_details"
    ]
    empty = _api_error(lambda: snap.create_transaction({}))
    assert any("is required" in m for m in empty.api_response_dict["error_messages"])
