"""Bad input is a 4xx with a clear `detail`, never a 500, and it reserves nothing."""

from __future__ import annotations

from typing import Any

GOOD_ITEM = {"product_id": "cola", "quantity": 1}

# name: (request body (bytes are sent raw), status, text the detail must contain)
BAD_CREATES: dict[str, tuple[Any, int, str]] = {
    "unknown product": (
        {"items": [{"product_id": "nope", "quantity": 1}], "payment_type": "qris"},
        422,
        "unknown product 'nope'",
    ),
    "unknown product after a good line": (
        {"items": [GOOD_ITEM, {"product_id": "nope", "quantity": 1}], "payment_type": "qris"},
        422,
        "unknown product 'nope'",
    ),
    "quantity 0": ({"items": [{"product_id": "cola", "quantity": 0}]}, 422, "quantity"),
    "quantity -1": ({"items": [{"product_id": "cola", "quantity": -1}]}, 422, "quantity"),
    "quantity 101": ({"items": [{"product_id": "cola", "quantity": 101}]}, 422, "quantity"),
    "quantity 1.5": ({"items": [{"product_id": "cola", "quantity": 1.5}]}, 422, "quantity"),
    "quantity as text": ({"items": [{"product_id": "cola", "quantity": "two"}]}, 422, "quantity"),
    "no quantity": ({"items": [{"product_id": "cola"}]}, 422, "quantity"),
    "empty product id": ({"items": [{"product_id": "", "quantity": 1}]}, 422, "product_id"),
    "empty items": ({"items": [], "payment_type": "qris"}, 422, "items"),
    "no items": ({"payment_type": "qris"}, 422, "items"),
    "items not a list": ({"items": "cola"}, 422, "items"),
    "51 lines": ({"items": [GOOD_ITEM] * 51}, 422, "items"),
    "malformed JSON": (b'{"items": [', 422, "JSON"),
    "JSON array": (b"[]", 422, "object"),
    "empty body": (b"", 422, "body"),
    "wrong payment_type": ({"items": [GOOD_ITEM], "payment_type": "bitcoin"}, 422, "payment_type"),
    "bank_transfer without bank": (
        {"items": [GOOD_ITEM], "payment_type": "bank_transfer"},
        422,
        "bank must be one of bca, bni, bri, permata",
    ),
    "bank_transfer with an unknown bank": (
        {"items": [GOOD_ITEM], "payment_type": "bank_transfer", "bank": "hsbc"},
        422,
        "bank",
    ),
    "cstore without store": (
        {"items": [GOOD_ITEM], "payment_type": "cstore"},
        422,
        "store must be one of indomaret, alfamart",
    ),
    "bad customer email": (
        {"items": [GOOD_ITEM], "customer": {"email": "not-an-email"}},
        422,
        "email",
    ),
}


def _detail_text(detail: Any) -> str:
    """FastAPI's validation errors are a list of {loc, msg}; our own errors a sentence."""
    if isinstance(detail, str):
        return detail
    assert isinstance(detail, list), detail
    assert detail, detail
    return " ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail)


async def test_bad_create_requests_are_4xx_with_a_clear_detail(bayar: Any, subtests: Any) -> None:
    stock = await bayar.stock("cola")

    for name, (body, status, words) in BAD_CREATES.items():
        with subtests.test(name):
            if isinstance(body, bytes):
                answer = await bayar.client.post(
                    "/api/payments/create-transaction",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            else:
                answer = await bayar.client.post("/api/payments/create-transaction", json=body)
            assert answer.status_code == status, answer.text
            assert words in _detail_text(answer.json()["detail"]), answer.text

    assert await bayar.count_orders() == 0
    assert await bayar.stock("cola") == stock


async def test_an_overlong_idempotency_key_is_a_422(bayar: Any) -> None:
    answer = await bayar.create(("cola", 1), key="k" * 201)

    assert answer.status_code == 422, answer.text
    assert "idempotency-key" in _detail_text(answer.json()["detail"]).lower()
    assert await bayar.count_orders() == 0


async def test_more_than_in_stock_is_a_409_with_what_is_left(bayar: Any) -> None:
    await bayar.set_stock("cola", 3)

    answer = await bayar.create(("cola", 4))

    assert answer.status_code == 409
    assert answer.json()["detail"] == "not enough Cola (3 left): 4 asked"
    assert await bayar.stock("cola") == 3


async def test_an_inactive_product_cannot_be_bought(bayar: Any) -> None:
    await bayar.set_stock("cola", 5, active=False)

    answer = await bayar.create(("cola", 1))

    assert answer.status_code == 422
    assert answer.json()["detail"] == "unknown product 'cola'"


async def test_an_unknown_order_is_a_404(bayar: Any) -> None:
    for order_id in ("BYR-20990101-NOPE", "x" * 200, "%2e%2e", "💸"):
        answer = await bayar.client.get(f"/api/orders/{order_id}")

        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"].startswith("no order "), answer.text
