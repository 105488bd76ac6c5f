"""Snap's front end over HTTP: the payment page, its JSON endpoints, snap.js and the 3-D Secure page."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

AUTH = (SERVER_KEY, "")
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser asks for
ACCEPT_3DS = "4811111111111114"  # VISA, full 3-D Secure, accepted (reference 3.11)


def _order() -> str:
    return f"snap-{uuid.uuid4().hex[:12]}"


def _snap(api_base: str, order_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_details": {"order_id": order_id or _order(), "gross_amount": 10000},
        "item_details": [
            {"id": "tea", "name": "Teh Botol", "price": 4000, "quantity": 2},
            {"id": "water", "name": "Air Mineral", "price": 2000, "quantity": 1},
        ],
        **extra,
    }
    answer = httpx.post(f"{api_base}/snap/v1/transactions", json=body, auth=AUTH)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    created["order_id"] = body["transaction_details"]["order_id"]
    return created


def _page(api_base: str, token: str) -> str:
    return f"{api_base}/snap/v2/vtweb/{token}"


def _charge(api_base: str, token: str, **choice: str) -> httpx.Response:
    return httpx.post(f"{_page(api_base, token)}/charge", json=choice)


def _status(api_base: str, token: str) -> dict[str, Any]:
    answer = httpx.get(f"{_page(api_base, token)}/status")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _card_token(api_base: str, number: str = ACCEPT_3DS) -> str:
    answer = httpx.get(
        f"{api_base}/v2/token",
        params={
            "client_key": CLIENT_KEY,
            "card_number": number,
            "card_exp_month": "12",
            "card_exp_year": "2040",
            "card_cvv": "123",
        },
    )
    body = answer.json()
    assert body["status_code"] == "200", body
    token: str = body["token_id"]
    return token


def _core_status(api_base: str, order_id: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{api_base}/v2/{order_id}/status", auth=AUTH).json()
    return result


# -- the page ------------------------------------------------------------------------------------


def test_page_shows_the_order_and_never_the_server_key(api_base: str) -> None:
    snap = _snap(api_base)
    answer = httpx.get(snap["redirect_url"])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "Rp 10.000" in html
    assert snap["order_id"] in html
    assert "Teh Botol" in html
    assert "2 × Rp 4.000" in html
    assert "Rp 8.000" in html
    assert SERVER_KEY not in html
    assert "Pilih metode pembayaran" in html  # Indonesian by default
    for method in ("qris", "gopay", "bca_va", "bni_va", "bri_va", "permata_va", "echannel"):
        assert f'data-method="{method}"' in html
    for method in ("credit_card", "indomaret", "alfamart"):
        assert f'data-method="{method}"' in html
    # Every script and style is the sandbox's own.
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(s.startswith(api_base) or s.startswith("data:") for s in sources), sources
    assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_page_escapes_merchant_text(api_base: str) -> None:
    snap = _snap(
        api_base,
        item_details=[
            {"id": "x", "name": "<script>alert(1)</script>", "price": 10000, "quantity": 1}
        ],
    )
    html = httpx.get(snap["redirect_url"]).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_speaks_english_on_request(api_base: str) -> None:
    snap = _snap(api_base)
    html = httpx.get(snap["redirect_url"], params={"language": "en"}).text
    assert '<html lang="en">' in html
    assert "Choose a payment method" in html
    assert "Pilih metode pembayaran" not in html


def test_assets_and_snap_js_are_served_by_the_sandbox(api_base: str) -> None:
    js = httpx.get(f"{api_base}/snap/snap.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert "window.snap" in js.text
    assert "postMessage" in js.text
    assert SERVER_KEY not in js.text
    css = httpx.get(f"{api_base}/snap/assets/page.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    page_js = httpx.get(f"{api_base}/snap/assets/page.js")
    assert "javascript" in page_js.headers["content-type"]
    assert httpx.get(f"{api_base}/snap/assets/../snap.py").status_code == 404
    assert httpx.get(f"{api_base}/snap/assets/snap.py").status_code == 404


# -- choosing a method ------------------------------------------------------------------------------


def test_bank_transfer_charge_gives_a_va_number_and_status_follows(
    api_base: str, sandbox_url: str
) -> None:
    snap = _snap(api_base, callbacks={"finish": "https://shop.example/finish?from=snap"})
    token = snap["token"]
    assert _status(api_base, token) == {"transaction_status": None}

    answer = _charge(api_base, token, payment_type="bank_transfer", bank="bca")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status_code"] == "201"
    assert result["transaction_status"] == "pending"
    assert result["payment_type"] == "bank_transfer"
    assert result["va_numbers"][0]["bank"] == "bca"
    assert result["va_numbers"][0]["va_number"].isdigit()
    assert result["gross_amount"] == "10000.00"
    assert "signature_key" not in result
    assert result["finish_redirect_url"] == (
        "https://shop.example/finish?from=snap"
        f"&order_id={snap['order_id']}&status_code=201&transaction_status=pending"
    )

    status = _status(api_base, token)
    assert status["transaction_id"] == result["transaction_id"]
    assert status["va_numbers"] == result["va_numbers"]
    assert status["transaction_status"] == "pending"
    # The Snap order is a Core transaction now, as the merchant's back end sees it.
    core = _core_status(api_base, snap["order_id"])
    assert core["transaction_status"] == "pending"
    assert core["va_numbers"] == result["va_numbers"]

    # Choosing again does not make a second payment: the order is locked to the first.
    again = _charge(api_base, token, payment_type="qris").json()
    assert again["transaction_id"] == result["transaction_id"]
    assert again["payment_type"] == "bank_transfer"

    # The page's "Simulate payment" button: the control API, by order_id.
    paid = httpx.post(f"{sandbox_url}/_control/midtrans/{snap['order_id']}/pay")
    assert paid.status_code == 200, paid.text
    settled = _status(api_base, token)
    assert settled["transaction_status"] == "settlement"
    assert settled["status_code"] == "200"
    assert settled["finish_redirect_url"].endswith("status_code=200&transaction_status=settlement")


@pytest.mark.parametrize(
    ("choice", "fields"),
    [
        ({"payment_type": "qris"}, {"qr_string", "actions"}),
        ({"payment_type": "gopay"}, {"actions"}),
        ({"payment_type": "bank_transfer", "bank": "permata"}, {"permata_va_number"}),
        ({"payment_type": "echannel"}, {"bill_key", "biller_code"}),
        ({"payment_type": "cstore", "store": "alfamart"}, {"payment_code", "store"}),
    ],
)
def test_each_method_answers_what_the_page_shows(
    api_base: str, choice: dict[str, str], fields: set[str]
) -> None:
    snap = _snap(api_base)
    answer = _charge(api_base, snap["token"], **choice)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["transaction_status"] == "pending"
    assert fields <= set(result), result
    assert result["expiry_time"]
    if "actions" in fields:
        qr = next(a for a in result["actions"] if a["name"] == "generate-qr-code")
        image = httpx.get(qr["url"])
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"


def test_charge_rejects_bad_requests(api_base: str) -> None:
    snap = _snap(api_base)
    bad_json = httpx.post(
        f"{_page(api_base, snap['token'])}/charge",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert "error" in bad_json.json()
    missing = _charge(api_base, snap["token"])
    assert missing.status_code == 400
    unknown = _charge(api_base, snap["token"], payment_type="bitcoin")
    assert unknown.status_code == 400
    assert "bitcoin" in unknown.json()["error"]
    # Nothing was created by the failures.
    assert _status(api_base, snap["token"]) == {"transaction_status": None}


def test_enabled_payments_are_honoured(api_base: str) -> None:
    snap = _snap(api_base, enabled_payments=["bca_va", "gopay"])
    html = httpx.get(snap["redirect_url"]).text
    assert 'data-method="bca_va"' in html
    assert 'data-method="gopay"' in html
    for hidden in ("qris", "bni_va", "permata_va", "echannel", "credit_card", "indomaret"):
        assert f'data-method="{hidden}"' not in html

    refused = _charge(api_base, snap["token"], payment_type="qris")
    assert refused.status_code == 400
    assert "not enabled" in refused.json()["error"]
    assert (
        _charge(api_base, snap["token"], payment_type="bank_transfer", bank="bni").status_code
        == 400
    )
    assert _status(api_base, snap["token"]) == {"transaction_status": None}

    accepted = _charge(api_base, snap["token"], payment_type="bank_transfer", bank="bca")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["va_numbers"][0]["bank"] == "bca"


# -- unusable links ----------------------------------------------------------------------------


def test_unknown_token_is_a_404_page(api_base: str) -> None:
    token = str(uuid.uuid4())
    answer = httpx.get(_page(api_base, token), headers=BROWSER)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Link pembayaran tidak ditemukan" in answer.text
    assert "does not exist" in answer.text
    english = httpx.get(_page(api_base, token), params={"language": "en"}, headers=BROWSER)
    assert english.status_code == 404
    assert "Payment link not found" in english.text
    status = httpx.get(f"{_page(api_base, token)}/status")
    assert status.status_code == 404
    assert "error" in status.json()
    assert _charge(api_base, token, payment_type="qris").status_code == 404


def test_replaced_token_is_a_410_page(api_base: str) -> None:
    first = _snap(api_base)
    second = _snap(api_base, order_id=first["order_id"])  # re-created before a method was chosen
    assert second["token"] != first["token"]

    old = httpx.get(first["redirect_url"], headers=BROWSER)
    assert old.status_code == 410
    assert old.headers["content-type"].startswith("text/html")
    assert "tidak berlaku lagi" in old.text
    assert "replaced" in old.text
    assert httpx.get(f"{_page(api_base, first['token'])}/status").status_code == 410
    assert _charge(api_base, first["token"], payment_type="qris").status_code == 410

    assert httpx.get(second["redirect_url"]).status_code == 200


def test_expired_token_is_a_410_page(api_base: str, sandbox_url: str) -> None:
    snap = _snap(api_base, expiry={"unit": "minute", "duration": 1})
    assert httpx.get(snap["redirect_url"]).status_code == 200
    httpx.post(f"{sandbox_url}/_control/clock", json={"advance": 120}).raise_for_status()
    answer = httpx.get(snap["redirect_url"], params={"language": "en"})
    assert answer.status_code == 410
    assert "expired" in answer.text


# -- cards and 3-D Secure ------------------------------------------------------------------------


def _card_charge(api_base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    snap = _snap(api_base)
    answer = _charge(
        api_base, snap["token"], payment_type="credit_card", token_id=_card_token(api_base)
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["transaction_status"] == "pending"
    assert result["status_code"] == "201"
    assert "/v2/token/rba/redirect/" in result["redirect_url"]
    assert result["masked_card"] == "481111-1114"
    return snap, result


def test_card_with_the_right_otp_is_captured(api_base: str) -> None:
    snap, _ = _card_charge(api_base)
    answer = httpx.post(f"{_page(api_base, snap['token'])}/3ds", json={"otp": "112233"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["transaction_status"] == "capture"
    assert result["fraud_status"] == "accept"
    assert result["status_code"] == "200"
    assert "redirect_url" not in result
    assert _core_status(api_base, snap["order_id"])["transaction_status"] == "capture"
    # 3-D Secure is over: a second OTP is refused.
    again = httpx.post(f"{_page(api_base, snap['token'])}/3ds", json={"otp": "112233"})
    assert again.status_code == 409


def test_card_with_a_wrong_otp_is_denied(api_base: str) -> None:
    snap, _ = _card_charge(api_base)
    answer = httpx.post(f"{_page(api_base, snap['token'])}/3ds", json={"otp": "000000"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["transaction_status"] == "deny"
    assert result["status_code"] == "202"
    assert _status(api_base, snap["token"])["transaction_status"] == "deny"


def test_3ds_before_a_card_charge_is_refused(api_base: str) -> None:
    snap = _snap(api_base)
    answer = httpx.post(f"{_page(api_base, snap['token'])}/3ds", json={"otp": "112233"})
    assert answer.status_code == 409
    assert "error" in answer.json()


def test_core_api_redirect_url_is_an_otp_page(api_base: str) -> None:
    def charge() -> dict[str, Any]:
        body = {
            "payment_type": "credit_card",
            "transaction_details": {"order_id": _order(), "gross_amount": 25000},
            "credit_card": {"token_id": _card_token(api_base), "authentication": True},
        }
        result: dict[str, Any] = httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH).json()
        assert result["transaction_status"] == "pending", result
        return result

    good = charge()
    page = httpx.get(good["redirect_url"])
    assert page.status_code == 200
    assert 'name="otp"' in page.text
    assert "Rp 25.000" in page.text
    assert SERVER_KEY not in page.text
    done = httpx.post(good["redirect_url"], data={"otp": "112233"})
    assert done.status_code == 200
    assert 'id="rba-status">capture<' in done.text
    assert _core_status(api_base, good["order_id"])["transaction_status"] == "capture"
    # Opening it again shows the outcome, not a new form.
    assert 'name="otp"' not in httpx.get(good["redirect_url"]).text
    assert httpx.post(good["redirect_url"], data={"otp": "112233"}).status_code == 409

    bad = charge()
    denied = httpx.post(bad["redirect_url"], data={"otp": "999999"})
    assert 'id="rba-status">deny<' in denied.text
    assert _core_status(api_base, bad["order_id"])["transaction_status"] == "deny"

    unknown = httpx.get(f"{api_base}/v2/token/rba/redirect/{uuid.uuid4()}")
    assert unknown.status_code == 404
