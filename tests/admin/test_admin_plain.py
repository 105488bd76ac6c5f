"""The admin in plain words (issue 11, item 9): an order shows how the customer paid (the card
chosen on the Snap page, not the "snap" asked for), the customer's full name, and one plain line
above the technical timeline."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from bayar_admin_testkit import Bayar

from bayar import i18n
from bayar.admin.views import refund_words
from bayar.gateways.methods import method_label


def snap_order(bayar: Bayar, customer: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {
        "items": [{"product_id": "cola", "quantity": 2}],
        "payment_type": "snap",
    }
    if customer is not None:
        body["customer"] = customer
    created = httpx.post(f"{bayar.url}/api/payments/create-transaction", json=body, timeout=20)
    assert created.status_code == 201, created.text
    order_id: str = created.json()["order_id"]
    return order_id


def pay_with(bayar: Bayar, order_id: str, payment_type: str) -> None:
    paid = httpx.post(
        f"{bayar.url}/sandbox/_control/midtrans/{order_id}/pay",
        params={"payment_type": payment_type},
        timeout=20,
    )
    assert paid.status_code == 200, paid.text
    bayar.wait_status(order_id, "paid")


def text_of(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:p|dd)>', html, re.S)
    assert found, testid
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_order_page_says_how_the_customer_paid_and_who(
    bayar: Bayar, admin: httpx.Client
) -> None:
    order_id = snap_order(
        bayar,
        {
            "first_name": "Siti",
            "last_name": "Rahma",
            "email": "siti@example.com",
            "phone": "0812 3456 7890",
        },
    )
    pay_with(bayar, order_id, "credit_card")

    html = admin.get(f"/admin/orders/{order_id}").text

    assert text_of(html, "payment-method").startswith("Credit/debit card")
    assert text_of(html, "customer-name") == "Siti Rahma"
    assert "·" not in text_of(html, "customer-name")
    assert "siti@example.com" in html
    summary = text_of(html, "order-summary")
    assert re.fullmatch(
        r"Paid Rp\s?[\d.]+ by Credit/debit card on \d{1,2} \w{3} \d{4}, \d\d:\d\d WIB\.", summary
    ), summary
    # The summary stands above the technical timeline.
    assert html.index('data-testid="order-summary"') < html.index('data-testid="timeline"')

    listing = admin.get("/admin/orders", params={"q": order_id}).text
    row = re.search(rf'<tr data-order="{order_id}".*?</tr>', listing, re.S)
    assert row
    assert "Credit/debit card" in row.group(0)
    assert ">snap<" not in row.group(0)


def test_an_unpaid_snap_order_says_what_it_waits_for(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = snap_order(bayar)

    html = admin.get(f"/admin/orders/{order_id}").text

    with i18n.use("en"):  # the page was asked for in English
        assert text_of(html, "payment-method").startswith(method_label("snap"))
    assert text_of(html, "order-summary").startswith("Waiting for the customer to pay Rp")
    assert 'data-testid="customer-name"' not in html


def test_a_cancelled_order_says_nothing_was_charged(bayar: Bayar, admin: httpx.Client) -> None:
    order_id = snap_order(bayar)
    cancelled = httpx.post(
        f"{bayar.url}/api/orders/{order_id}/cancel",
        headers={"Authorization": f"Bearer {bayar.settings.bayar_admin_token.get_secret_value()}"}
        if bayar.settings.bayar_admin_token
        else {},
        timeout=20,
    )
    assert cancelled.status_code == 200, cancelled.text
    deadline = time.monotonic() + 15
    while bayar.order(order_id)["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    summary = text_of(admin.get(f"/admin/orders/{order_id}").text, "order-summary")

    assert summary.startswith("Cancelled before it was paid on ")
    assert summary.endswith("; nothing was charged.")


def test_what_bayar_wrote_of_a_refund_reads_in_the_pages_language() -> None:
    """A refund's reason and detail are stored as bayar wrote them (English); the admin shows
    bayar's words in the page's language and a person's or the gateway's words as written."""
    stored = {
        "refunded by hand: BCA, reference TRF-1: product withdrawn": {
            "id": "dikembalikan manual: BCA, referensi TRF-1: product withdrawn",
            "en": "refunded by hand: BCA, reference TRF-1: product withdrawn",
        },
        "paid after the order was expired": {
            "id": "dibayar setelah pesanan kedaluwarsa",
            "en": "paid after the order was expired",
        },
        "bank_transfer cannot be refunded through the gateway: refund it by hand": {
            "id": "Transfer bank tidak bisa dikembalikan lewat gateway: kembalikan secara manual",
            "en": "Bank transfer cannot be refunded through the gateway: refund it by hand",
        },
        "dispense failed: no acknowledgement in time": {
            "id": "pengeluaran barang gagal: tidak ada konfirmasi tepat waktu",
            "en": "dispense failed: no acknowledgement in time",
        },
        "machine out of cups": {"id": "machine out of cups", "en": "machine out of cups"},
    }
    for text, said in stored.items():
        for language in ("id", "en"):
            with i18n.use(language):
                assert refund_words(text) == said[language], (text, language)
