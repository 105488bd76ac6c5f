"""The simulator pages at /sandbox/: what a person sees and what its buttons do, over real HTTP."""

from __future__ import annotations

import json
import re
import time
import uuid
from html import unescape
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bayar.config import DEMO_CLIENT_KEY as CLIENT_KEY
from bayar.config import DEMO_SERVER_KEY as SERVER_KEY

if TYPE_CHECKING:  # the fixture's type; conftest is not importable under --import-mode=importlib
    from tests.sandbox.conftest import Receiver

AUTH = (SERVER_KEY, "")


def _charge(
    api_base: str, payment_type: str = "qris", amount: int = 10000, **extra: Any
) -> dict[str, Any]:
    body = {
        "payment_type": payment_type,
        "transaction_details": {
            "order_id": f"page-{uuid.uuid4().hex[:10]}",
            "gross_amount": amount,
        },
        **extra,
    }
    answer = httpx.post(f"{api_base}/v2/charge", json=body, auth=AUTH)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    assert result["transaction_status"] == "pending", result
    return result


def _status(api_base: str, id_: str) -> str:
    answer = httpx.get(f"{api_base}/v2/{id_}/status", auth=AUTH)
    answer.raise_for_status()
    status: str = answer.json()["transaction_status"]
    return status


def _press(
    sandbox_url: str, transaction_id: str, action: str, next_path: str = "/"
) -> httpx.Response:
    """Press an action button: the form POST, checked to redirect (303) inside the sandbox."""
    answer = httpx.post(
        f"{sandbox_url}/actions/{transaction_id}/{action}", data={"next": next_path}
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/sandbox/"), location
    page = httpx.get(httpx.URL(sandbox_url).join(location))
    assert page.status_code == 200
    return page


def _text(page: httpx.Response) -> str:
    """The page's visible text, tags stripped and whitespace folded."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page.text, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _action_forms(page: httpx.Response, transaction_id: str) -> set[str]:
    """The transaction's action buttons: forms POSTing to the sandbox's actions route."""
    return set(
        re.findall(
            rf'method="post" action="/sandbox/actions/{re.escape(transaction_id)}/(\w+)"', page.text
        )
    )


def _notifications_for(
    receiver: Receiver, order_id: str, status: str, timeout: float = 5.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        bodies = [json.loads(r.body) for r in receiver.received]
        found = [
            b
            for b in bodies
            if b.get("order_id") == order_id and b.get("transaction_status") == status
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


# -- the list ------------------------------------------------------------------------------------


def test_list_shows_charges_newest_first_with_their_buttons(
    api_base: str, sandbox_url: str
) -> None:
    older = _charge(api_base, "bank_transfer", 150000, bank_transfer={"bank": "bca"})
    newer = _charge(api_base, "qris", 10000)

    page = httpx.get(f"{sandbox_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = _text(page)
    assert text.index(newer["order_id"]) < text.index(older["order_id"])
    assert "Rp 10.000" in text
    assert "Rp 150.000" in text
    assert newer["transaction_id"][:8] in text
    assert "QRIS" in text
    assert "BCA" in text
    assert "pending" in text
    assert _action_forms(page, newer["transaction_id"]) == {"pay", "deny", "expire", "cancel"}
    # A live countdown to the QRIS expiry (15 minutes) and the expiry time in WIB.
    assert re.search(r'data-remaining="(8\d\d|9\d\d)(\.\d+)?"', page.text)
    assert "WIB" in text


def test_header_links_and_how_to_use(sandbox_url: str, receiver: Receiver) -> None:
    page = httpx.get(f"{sandbox_url}/")
    for path in ("/sandbox/qris", "/sandbox/pay-code", "/sandbox/control"):
        assert f'href="{path}"' in page.text
    text = _text(page)
    assert f"{sandbox_url}/midtrans" in text
    assert CLIENT_KEY in text
    assert f"{receiver.url}/hook" in text


def test_an_empty_sandbox_says_how_to_start(sandbox_url: str) -> None:
    text = _text(httpx.get(f"{sandbox_url}/"))
    assert "No transactions yet" in text
    assert f"{sandbox_url}/midtrans/v2/charge" in text


# -- the buttons ---------------------------------------------------------------------------------


def test_pay_button_settles_and_the_merchant_is_notified(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base, "qris", 25000)

    page = _press(sandbox_url, charge["transaction_id"], "pay")

    assert _status(api_base, charge["order_id"]) == "settlement"
    assert f"Paid: {charge['order_id']} is now settlement." in _text(page)
    assert (
        _action_forms(page, charge["transaction_id"]) == set()
    )  # a settled payment has no buttons
    settled = _notifications_for(receiver, charge["order_id"], "settlement")
    assert len(settled) == 1
    assert settled[0]["gross_amount"] == "25000.00"
    assert settled[0]["transaction_id"] == charge["transaction_id"]


@pytest.mark.parametrize(
    ("action", "status"), [("deny", "deny"), ("expire", "expire"), ("cancel", "cancel")]
)
def test_deny_expire_and_cancel_buttons(
    api_base: str, sandbox_url: str, receiver: Receiver, action: str, status: str
) -> None:
    charge = _charge(
        api_base, "echannel", 50000, echannel={"bill_info1": "Pay", "bill_info2": "Test"}
    )

    page = _press(sandbox_url, charge["transaction_id"], action)

    assert _status(api_base, charge["transaction_id"]) == status
    assert f"is now {status}" in _text(page)
    assert _action_forms(page, charge["transaction_id"]) == set()
    assert _notifications_for(receiver, charge["order_id"], status)


def test_an_action_the_state_does_not_allow_shows_an_error(api_base: str, sandbox_url: str) -> None:
    charge = _charge(api_base, "qris")
    _press(sandbox_url, charge["transaction_id"], "expire")

    page = _press(sandbox_url, charge["transaction_id"], "pay")

    assert "cannot pay a transaction that is expire" in _text(page)
    assert 'class="flash flash-error"' in page.text
    assert _status(api_base, charge["transaction_id"]) == "expire"


def test_unknown_transaction_or_action_is_a_message_not_a_crash(
    api_base: str, sandbox_url: str
) -> None:
    charge = _charge(api_base, "qris")
    assert "Transaction doesn't exist." in _text(_press(sandbox_url, "no-such-id", "pay"))
    assert "unknown action 'refund'" in _text(
        _press(sandbox_url, charge["transaction_id"], "refund")
    )
    assert _status(api_base, charge["transaction_id"]) == "pending"


def test_buttons_go_back_only_inside_the_sandbox(api_base: str, sandbox_url: str) -> None:
    charge = _charge(api_base, "qris")
    answer = httpx.post(
        f"{sandbox_url}/actions/{charge['transaction_id']}/cancel",
        data={"next": "//evil.example/x"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/sandbox/?")


# -- one transaction -----------------------------------------------------------------------------


def test_transaction_page_shows_status_fields_qr_and_the_notification_log(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base, "qris", 12000)
    _press(sandbox_url, charge["transaction_id"], "pay")
    assert _notifications_for(receiver, charge["order_id"], "settlement")
    deadline = time.monotonic() + 5
    while True:  # the delivery log records the answer just after the receiver has it
        log = httpx.get(
            f"{sandbox_url}/_control/midtrans/{charge['order_id']}/notifications"
        ).json()
        if (
            all(d["state"] == "delivered" for d in log) and len(log) == 2
        ) or time.monotonic() > deadline:
            break
        time.sleep(0.02)

    page = httpx.get(f"{sandbox_url}/transactions/{charge['transaction_id']}")

    assert page.status_code == 200
    text = _text(page)
    status = httpx.get(f"{api_base}/v2/{charge['transaction_id']}/status", auth=AUTH).json()
    table = re.search(r'<table class="fields">(.*?)</table>', page.text, re.S)
    assert table is not None
    shown = dict(re.findall(r"<tr><th>(.*?)</th><td><code>(.*?)</code></td></tr>", table.group(1)))
    del status["signature_key"]
    assert shown == status  # every status field, and no signature
    qr_url = f"/sandbox/midtrans/v2/qris/{charge['transaction_id']}/qr-code"
    assert f'src="{qr_url}"' in page.text
    image = httpx.get(httpx.URL(sandbox_url).join(qr_url))
    assert image.headers["content-type"] == "image/png"
    # The delivery log: both notifications, where they went, their attempts and bodies.
    assert text.count(f"{receiver.url}/hook") >= 2
    assert text.count("delivered") >= 2
    assert re.search(r"Attempt Time Outcome Answer 1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d WIB 200", text)
    bodies = re.findall(
        r"<details[^>]*><summary>Body</summary><pre>(.*?)</pre></details>", page.text, re.S
    )
    assert [json.loads(unescape(b))["transaction_status"] for b in bodies] == [
        "pending",
        "settlement",
    ]


def test_transaction_page_of_an_unknown_id_is_404(sandbox_url: str) -> None:
    page = httpx.get(f"{sandbox_url}/transactions/nope")
    assert page.status_code == 404
    assert "Transaction doesn't exist." in _text(page)


def test_a_failing_notification_shows_its_retries(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    receiver.script.extend([500])
    charge = _charge(api_base, "qris")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = httpx.get(
            f"{sandbox_url}/_control/midtrans/{charge['order_id']}/notifications"
        ).json()
        if log and log[0]["attempts"]:
            break
        time.sleep(0.02)
    text = _text(httpx.get(f"{sandbox_url}/transactions/{charge['transaction_id']}"))
    assert "queued · 1 retry" in text
    assert "next attempt" in text
    assert "Attempt Time Outcome Answer 1" in text
    assert " 500 no" in text


# -- the notification URL ------------------------------------------------------------------------


def test_notification_url_form_saves_like_the_control_api(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    wanted = f"{receiver.url}/elsewhere"
    answer = httpx.post(f"{sandbox_url}/notification-url", data={"notification_url": wanted})
    assert answer.status_code == 303
    assert httpx.get(f"{sandbox_url}/_control/config").json() == {"notification_url": wanted}
    assert wanted in _text(httpx.get(httpx.URL(sandbox_url).join(answer.headers["location"])))

    charge = _charge(api_base, "qris")
    assert receiver.wait_for(1, path="/elsewhere")
    assert (
        json.loads(receiver.wait_for(1, path="/elsewhere")[0].body)["order_id"]
        == charge["order_id"]
    )

    bad = httpx.post(
        f"{sandbox_url}/notification-url",
        data={"notification_url": "ftp://x"},
        follow_redirects=True,
    )
    assert bad.status_code == 200
    assert "must start with http:// or https://" in _text(bad)
    assert httpx.get(f"{sandbox_url}/_control/config").json() == {"notification_url": wanted}

    httpx.post(f"{sandbox_url}/notification-url", data={"notification_url": ""})
    assert httpx.get(f"{sandbox_url}/_control/config").json() == {
        "notification_url": f"{receiver.url}/hook"
    }


# -- QRIS simulator ------------------------------------------------------------------------------


def test_qris_simulator_by_qr_string_then_pay(
    api_base: str, sandbox_url: str, receiver: Receiver
) -> None:
    charge = _charge(api_base, "qris", 15000)
    assert httpx.get(f"{sandbox_url}/qris").status_code == 200

    page = httpx.post(f"{sandbox_url}/qris", data={"qr": f"  {charge['qr_string']}\n"})

    assert page.status_code == 200
    text = _text(page)
    assert "BAYAR SANDBOX" in text
    assert "Rp 15.000" in text
    assert charge["order_id"] in text
    assert "pending" in text
    assert _action_forms(page, charge["transaction_id"]) == {"pay"}
    assert f'name="next" value="/result/{charge["transaction_id"]}"' in page.text

    result = _press(
        sandbox_url, charge["transaction_id"], "pay", f"/result/{charge['transaction_id']}"
    )

    assert "Payment successful" in _text(result)
    assert _status(api_base, charge["transaction_id"]) == "settlement"
    assert _notifications_for(receiver, charge["order_id"], "settlement")
    again = httpx.post(f"{sandbox_url}/qris", data={"qr": charge["qr_string"]})
    assert "already been paid" in _text(again)
    assert _action_forms(again, charge["transaction_id"]) == set()


@pytest.mark.parametrize("payment_type", ["qris", "gopay"])
def test_qris_simulator_by_qr_image_url(api_base: str, sandbox_url: str, payment_type: str) -> None:
    charge = _charge(api_base, payment_type, 8000)
    image_url = next(a["url"] for a in charge["actions"] if a["name"] == "generate-qr-code")

    page = httpx.post(f"{sandbox_url}/qris", data={"qr": image_url})

    assert page.status_code == 200
    assert charge["order_id"] in _text(page)
    assert "Rp 8.000" in _text(page)
    assert _action_forms(page, charge["transaction_id"]) == {"pay"}


def test_qris_simulator_accepts_midtrans_own_image_url(api_base: str, sandbox_url: str) -> None:
    charge = _charge(api_base, "qris")
    url = f"https://api.sandbox.midtrans.com/v2/qris/{charge['transaction_id']}/qr-code"
    page = httpx.post(f"{sandbox_url}/qris/index", data={"qr": url})
    assert page.status_code == 200
    assert charge["order_id"] in _text(page)


@pytest.mark.parametrize(
    "qr",
    [
        "00020101021226610014ID.CO.QRIS.WWW6304ABCD",
        "http://127.0.0.1/sandbox/midtrans/v2/qris/0000-no-such-id/qr-code",
    ],
)
def test_qris_simulator_unknown_qr_is_404(api_base: str, sandbox_url: str, qr: str) -> None:
    _charge(api_base, "qris")
    page = httpx.post(f"{sandbox_url}/qris", data={"qr": qr})
    assert page.status_code == 404
    assert "No transaction was issued with this QR code." in _text(page)
    assert "/actions/" not in page.text


def test_qris_simulator_image_url_of_the_wrong_kind_is_404(api_base: str, sandbox_url: str) -> None:
    charge = _charge(api_base, "bank_transfer", bank_transfer={"bank": "bni"})
    page = httpx.post(
        f"{sandbox_url}/qris", data={"qr": f"/v2/qris/{charge['transaction_id']}/qr-code"}
    )
    assert page.status_code == 404


# -- GoPay checkout ------------------------------------------------------------------------------


def test_gopay_deeplink_checkout_pays_or_cancels(api_base: str, sandbox_url: str) -> None:
    paid = _charge(api_base, "gopay", 30000)
    cancelled = _charge(api_base, "gopay", 31000)
    for charge, amount in ((paid, "Rp 30.000"), (cancelled, "Rp 31.000")):
        deeplink = next(a["url"] for a in charge["actions"] if a["name"] == "deeplink-redirect")
        page = httpx.get(deeplink)
        assert page.status_code == 200
        assert amount in _text(page)
        assert _action_forms(page, charge["transaction_id"]) == {"pay", "cancel"}

    assert "Payment successful" in _text(
        _press(sandbox_url, paid["transaction_id"], "pay", f"/result/{paid['transaction_id']}")
    )
    assert "Payment cancel" in _text(
        _press(
            sandbox_url,
            cancelled["transaction_id"],
            "cancel",
            f"/result/{cancelled['transaction_id']}",
        )
    )
    assert _status(api_base, paid["transaction_id"]) == "settlement"
    assert _status(api_base, cancelled["transaction_id"]) == "cancel"
    assert httpx.get(f"{sandbox_url}/gopay/checkout?referenceid=nope").status_code == 404


# -- pay by code ---------------------------------------------------------------------------------


def test_pay_code_by_bca_va_number(api_base: str, sandbox_url: str, receiver: Receiver) -> None:
    charge = _charge(api_base, "bank_transfer", 75000, bank_transfer={"bank": "bca"})
    va = charge["va_numbers"][0]["va_number"]
    _charge(api_base, "bank_transfer", 1000, bank_transfer={"bank": "bni"})  # another, not matched
    assert httpx.get(f"{sandbox_url}/pay-code").status_code == 200

    page = httpx.post(f"{sandbox_url}/pay-code", data={"code": f" {va} "})

    assert page.status_code == 200
    text = _text(page)
    assert charge["order_id"] in text
    assert "Rp 75.000" in text
    assert "BCA" in text
    assert _action_forms(page, charge["transaction_id"]) == {"pay"}
    result = _press(
        sandbox_url, charge["transaction_id"], "pay", f"/result/{charge['transaction_id']}"
    )
    assert "Payment successful" in _text(result)
    assert _status(api_base, charge["transaction_id"]) == "settlement"
    assert _notifications_for(receiver, charge["order_id"], "settlement")


def test_pay_code_by_mandiri_bill_key(api_base: str, sandbox_url: str) -> None:
    charge = _charge(
        api_base, "echannel", 42000, echannel={"bill_info1": "Pay", "bill_info2": "Test"}
    )

    page = httpx.post(f"{sandbox_url}/pay-code", data={"code": charge["bill_key"]})

    assert page.status_code == 200
    assert charge["order_id"] in _text(page)
    assert "Mandiri bill key" in _text(page)
    _press(sandbox_url, charge["transaction_id"], "pay", f"/result/{charge['transaction_id']}")
    assert _status(api_base, charge["transaction_id"]) == "settlement"


def test_pay_code_by_permata_va_and_store_code(api_base: str, sandbox_url: str) -> None:
    permata = _charge(api_base, "bank_transfer", 5000)
    store = _charge(api_base, "cstore", 6000, cstore={"store": "alfamart"})
    for charge, code in ((permata, permata["permata_va_number"]), (store, store["payment_code"])):
        page = httpx.post(f"{sandbox_url}/pay-code", data={"code": code.lower()})
        assert page.status_code == 200
        assert _action_forms(page, charge["transaction_id"]) == {"pay"}


def test_pay_code_unknown_is_404(sandbox_url: str) -> None:
    page = httpx.post(f"{sandbox_url}/pay-code", data={"code": "99999999999"})
    assert page.status_code == 404
    assert "No payment uses the number 99999999999." in _text(page)


# -- control API page and the server key ---------------------------------------------------------


def test_control_page_documents_the_control_api(sandbox_url: str) -> None:
    page = httpx.get(f"{sandbox_url}/control")
    assert page.status_code == 200
    text = _text(page)
    for expected in (
        f"curl -X POST {sandbox_url}/_control/midtrans/order-1/pay",
        f"{sandbox_url}/_control/reset",
        f"{sandbox_url}/_control/faults",
        f"{sandbox_url}/_control/clock",
        f"{sandbox_url}/_control/config",
        "/_control/midtrans/{id}/notifications",
    ):
        assert expected in text
    for kind in ("api_error", "api_hang", "duplicate", "out_of_order", "drop", "delay"):
        assert kind in text


def test_the_server_key_is_on_no_page(api_base: str, sandbox_url: str, receiver: Receiver) -> None:
    qr = _charge(api_base, "qris")
    gopay = _charge(api_base, "gopay")
    va = _charge(api_base, "bank_transfer", bank_transfer={"bank": "bri"})
    _press(sandbox_url, qr["transaction_id"], "pay")
    assert _notifications_for(receiver, qr["order_id"], "settlement")
    pages = [
        httpx.get(f"{sandbox_url}{path}")
        for path in (
            "/",
            "/qris",
            "/pay-code",
            "/control",
            f"/transactions/{qr['transaction_id']}",
            f"/transactions/{va['transaction_id']}",
            f"/result/{qr['transaction_id']}",
            f"/gopay/checkout?referenceid={gopay['transaction_id']}",
            "/static/pages/simulator.css",
            "/static/pages/simulator.js",
        )
    ]
    pages.append(httpx.post(f"{sandbox_url}/qris", data={"qr": qr["qr_string"]}))
    pages.append(
        httpx.post(f"{sandbox_url}/pay-code", data={"code": va["va_numbers"][0]["va_number"]})
    )
    for page in pages:
        assert page.status_code == 200, page.url
        assert SERVER_KEY not in page.text, page.url
    assert CLIENT_KEY in pages[0].text  # the public key is shown, so the check above can see keys
