"""The storefront's routes over HTTP: catalog, order pages, Snap's finish redirect, the QR image."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr

from bayar import i18n
from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY
from bayar.storefront.routes import instructions_kind, method_label, view_of

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from tests.storefront.conftest import Shop


def get(shop: Shop, path: str, **kwargs: Any) -> httpx.Response:
    # These tests read the pages' English words; tests/test_i18n.py reads the Indonesian default.
    headers = {"Accept-Language": "en", **kwargs.pop("headers", {})}
    return httpx.get(f"{shop.url}{path}", timeout=10, headers=headers, **kwargs)


def test_catalog_lists_products_with_prices_and_stock(shop: Shop) -> None:
    page = get(shop, "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    products = {p["id"]: p for p in get(shop, "/api/products").json()}
    assert products
    for product in products.values():
        card = re.search(
            rf'<li class="product[^"]*" data-product-id="{re.escape(product["id"])}">(.*?)</li>',
            html,
            re.S,
        )
        assert card is not None, product["id"]
        assert product["name"] in card.group(1)
        assert f'data-stock="{product["stock"]}"' in card.group(1)
        assert f'src="{product["image_url"]}"' in card.group(1)
    assert ">Rp 7.000<" in html  # Cola, the Indonesian way
    assert ">Rp 12.000<" in html
    # snap.js of the configured gateway (the sandbox here) with the public client key only.
    assert f'src="{shop.url}/sandbox/midtrans/snap/snap.js"' in html
    assert f'data-client-key="{DEMO_CLIENT_KEY}"' in html
    assert DEMO_SERVER_KEY not in html
    # The developer footer replaced the old landing page.
    for link in ('href="/sandbox/"', 'href="/docs"', 'href="/healthz"'):
        assert link in html
    assert "bayar up" in html
    # Everything the page loads is served by bayar itself.
    for url in re.findall(r'(?:src|href)="(https?://[^"]+)"', html):
        assert url.startswith(shop.url), url


def test_sold_out_products_are_disabled(shop: Shop) -> None:
    shop.sql("UPDATE products SET stock = 0 WHERE id = 'teh-manis'")
    try:
        html = get(shop, "/").text
    finally:
        shop.sql("UPDATE products SET stock = 50 WHERE id = 'teh-manis'")
    card = re.search(r'data-product-id="teh-manis">(.*?)</li>', html, re.S)
    assert card is not None
    assert "Sold out" in card.group(1)
    assert re.search(r"<button[^>]*data-add=\"teh-manis\" disabled", card.group(1))


def test_unknown_order_is_a_404_page(shop: Shop) -> None:
    page = get(shop, "/orders/BYR-NOPE")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Order not found" in page.text
    assert "BYR-NOPE" in page.text
    assert get(shop, "/orders/BYR-NOPE/qr.svg").status_code == 404


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_an_unknown_url_answers_a_page_in_a_browser(shop: Shop) -> None:
    page = get(shop, "/no-such-page/<b>x</b>", headers=BROWSER)

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert "/no-such-page/&lt;b&gt;x&lt;/b&gt;" in page.text  # said, and escaped
    assert 'href="/"' in page.text  # a way back


@pytest.mark.parametrize(
    ("path", "headers", "detail"),
    [
        ("/no-such-page", {}, "Not Found"),
        ("/no-such-page", {"Accept": "application/json"}, "Not Found"),
        ("/api/no-such-thing", BROWSER, "Not Found"),
        ("/api/orders/BYR-NOPE", BROWSER, None),  # a route's own 404 keeps its words
    ],
    ids=["no Accept", "JSON", "under /api in a browser", "unknown order in a browser"],
)
def test_api_clients_get_json_for_an_unknown_url(
    shop: Shop, path: str, headers: dict[str, str], detail: str | None
) -> None:
    answer = get(shop, path, headers=headers)

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    if detail is not None:
        assert answer.json() == {"detail": detail}
    else:
        assert answer.json()["detail"] != "Not Found"


def test_finish_url_opens_the_order_page_without_trusting_the_query(shop: Shop) -> None:
    created = shop.create(payment_type="snap")
    order_id = created["order_id"]
    finish = get(
        shop,
        "/orders/finish",
        params={"order_id": order_id, "status_code": "200", "transaction_status": "settlement"},
    )
    assert finish.status_code == 303
    assert finish.headers["location"] == f"/orders/{order_id}"
    page = get(shop, finish.headers["location"], params={"transaction_status": "settlement"})
    assert page.status_code == 200
    assert 'data-status="pending"' in page.text  # the backend's word, not the query string's
    assert "Payment received" not in page.text.split('data-panel="paid"')[0]
    # Nothing to open without an order id; odd ids stay a path segment on this site.
    assert get(shop, "/orders/finish").headers["location"] == "/"
    odd = get(shop, "/orders/finish", params={"order_id": "//evil.example/x"})
    assert odd.headers["location"] == "/orders/%2F%2Fevil.example%2Fx"


def test_snap_order_page_offers_to_continue_the_payment(shop: Shop) -> None:
    created = shop.create(payment_type="snap")
    payment = created["payment"]
    html = get(shop, f"/orders/{created['order_id']}").text
    assert 'data-kind="snap"' in html
    assert "Continue payment" in html
    assert f'href="{payment["redirect_url"]}?language=en"' in html  # Snap in the page's language
    assert f'src="{shop.url}/sandbox/midtrans/snap/snap.js"' in html
    assert DEMO_SERVER_KEY not in html
    assert get(shop, f"/orders/{created['order_id']}/qr.svg").status_code == 404


@pytest.mark.parametrize(
    ("body", "kind", "shown"),
    [
        ({"payment_type": "bank_transfer", "bank": "bni"}, "va", ("va_number",)),
        ({"payment_type": "echannel"}, "bill", ("bill_key", "biller_code")),
        ({"payment_type": "cstore", "store": "alfamart"}, "code", ("payment_code",)),
        ({"payment_type": "qris"}, "qr", ()),
    ],
)
def test_pending_order_page_shows_what_the_method_needs(
    shop: Shop, body: dict[str, Any], kind: str, shown: tuple[str, ...]
) -> None:
    created = shop.create(**body)
    html = get(shop, f"/orders/{created['order_id']}").text
    assert 'data-view="pending"' in html
    assert f'data-kind="{kind}"' in html
    assert re.search(rf'data-instr="{kind}">', html)  # the block of this kind is not hidden
    for field in shown:
        assert f'data-field="{field}">{created["payment"][field]}<' in html
    assert "Rp 4.000" in html
    assert DEMO_SERVER_KEY not in html


def test_qr_svg_draws_the_payment_qr_string(shop: Shop) -> None:
    created = shop.create(payment_type="qris")
    answer = get(shop, f"/orders/{created['order_id']}/qr.svg")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(answer.content)  # noqa: S314 - our own server answered
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None  # scanned in the browser test
    html = get(shop, f"/orders/{created['order_id']}").text
    assert f'src="/orders/{created["order_id"]}/qr.svg"' in html


def test_paid_and_failed_orders_render_their_views(shop: Shop) -> None:
    paid = shop.create(payment_type="qris")
    httpx.post(f"{shop.control}/{paid['order_id']}/pay").raise_for_status()
    shop.wait_status(paid["order_id"], "paid")
    html = get(shop, f"/orders/{paid['order_id']}").text
    assert 'data-view="paid"' in html
    assert "Payment received" in html

    denied = shop.create(payment_type="bank_transfer", bank="bca")
    httpx.post(f"{shop.control}/{denied['order_id']}/deny").raise_for_status()
    shop.wait_status(denied["order_id"], "failed")
    html = get(shop, f"/orders/{denied['order_id']}").text
    assert 'data-view="failed"' in html
    assert "Payment failed" in html
    assert "Order again" in html


def test_view_rules() -> None:
    assert view_of("paid") == view_of("fulfilled") == "paid"
    assert view_of("review") == view_of("pending") == "pending"
    assert {view_of(s) for s in ("failed", "expired", "cancelled")} == {"failed"}
    assert view_of("partially_refunded") == "refunded"
    assert instructions_kind(None) == "wait"
    assert instructions_kind({"token": "t", "va_number": "123"}) == "va"
    assert instructions_kind({"token": "t"}) == "snap"
    assert instructions_kind({"qr_string": "000201"}) == "qr"
    assert method_label({"payment_type": "bank_transfer", "bank": "bca"}) == "BCA Virtual Account"
    with i18n.use("en"):
        assert method_label({"payment_type": "snap"}) == "Not chosen yet"
    with i18n.use("id"):
        assert method_label({"payment_type": "snap"}) == "Belum dipilih"
    assert method_label({"payment_type": "akulaku"}) == "Akulaku"


def test_with_real_midtrans_the_shop_loads_midtrans_snap_js(tmp_path: Path) -> None:
    from bayar.app import create_app
    from bayar.config import Settings
    from bayar.storage.migrate import upgrade

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path,
        bayar_sandbox=False,
        midtrans_server_key=SecretStr("SB-Mid-server-REAL-MODE-TEST"),
        midtrans_client_key="SB-Mid-client-REAL-MODE-TEST",
    )
    upgrade(settings.database())

    async def fetch() -> str:
        app = create_app(settings, run_worker=False, seed=False)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://shop.test"
            ) as client:
                return (await client.get("/")).text
        finally:
            await app.state.context.db.close()
            await app.state.context.payments.gateway.aclose()

    html = asyncio.run(fetch())
    assert 'src="https://app.sandbox.midtrans.com/snap/snap.js"' in html
    assert 'data-client-key="SB-Mid-client-REAL-MODE-TEST"' in html
    assert "SB-Mid-server-REAL-MODE-TEST" not in html
    assert 'href="/sandbox/"' not in html  # no simulator without the sandbox
    assert "Sandbox · no real money" not in html
