"""Bad input is a 4xx with a clear `detail`, never a 500, and it reserves nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from harness import Bayar
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from words import words as catalog_words

from bayar.inputs import InputError, InputGuard, read_json
from bayar.storage.models import Notification

CREATE = "/api/payments/create-transaction"
WEBHOOK = "/api/payments/notification"
JSON = {"Content-Type": "application/json"}
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
    # A number too short says so, not "digits only" (issue 11, item 9).
    "phone 0812": (
        {"items": [GOOD_ITEM], "customer": {"phone": "0812"}},
        422,
        "customer.phone: too short: a phone number has at least 8 digits (4 given)",
    ),
    "phone with letters": (
        {"items": [GOOD_ITEM], "customer": {"phone": "0812-CALL-ME"}},
        422,
        "customer.phone: use digits only",
    ),
    "phone of 16 digits": (
        {"items": [GOOD_ITEM], "customer": {"phone": "+62 8123 4567 8901 23"}},
        422,
        "customer.phone: too long",
    ),
}


def _detail_text(detail: Any) -> str:
    """Every error is one sentence (the `Problem` shape), validation errors included."""
    assert isinstance(detail, str), detail
    assert detail, detail
    return detail


async def test_bad_create_requests_are_4xx_with_a_clear_detail(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
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


async def test_an_overlong_idempotency_key_is_a_422(bayar: Bayar) -> None:
    answer = await bayar.create(("cola", 1), key="k" * 201)

    assert answer.status_code == 422, answer.text
    assert "idempotency-key" in _detail_text(answer.json()["detail"]).lower()
    assert await bayar.count_orders() == 0


async def test_more_than_in_stock_is_a_409_with_what_is_left(bayar: Bayar) -> None:
    await bayar.set_stock("cola", 3)

    answer = await bayar.create(("cola", 4))

    assert answer.status_code == 409
    assert answer.json()["detail"] == "not enough Cola (3 left): 4 asked"
    assert await bayar.stock("cola") == 3


async def test_the_core_says_it_in_the_language_the_request_asks_for(bayar: Bayar) -> None:
    """A page's script shows the sentence to a person (its browser names the page's language);
    a program that names no language gets English."""
    await bayar.set_stock("cola", 3)
    body = {"items": [{"product_id": "cola", "quantity": 4}], "payment_type": "qris"}
    said: dict[str, str] = {}
    for asks in ("id-ID,id;q=0.9", "en-US", "fr"):
        answer = await bayar.client.post(
            "/api/payments/create-transaction", json=body, headers={"Accept-Language": asks}
        )
        assert answer.status_code == 409
        said[asks] = answer.json()["detail"]
    by_cookie = await bayar.client.get("/api/orders/BYR-NOPE", headers={"Cookie": "bayar_lang=id"})
    assert said == {
        "id-ID,id;q=0.9": catalog_words("id")(
            "not enough %(name)s (%(left)s left): %(wanted)s asked", name="Cola", left=3, wanted=4
        ),
        "en-US": "not enough Cola (3 left): 4 asked",
        "fr": "not enough Cola (3 left): 4 asked",
    }
    assert said["id-ID,id;q=0.9"] == "Cola tidak cukup (sisa 3): diminta 4"
    assert by_cookie.json()["detail"] == "tidak ada pesanan BYR-NOPE"


async def test_an_inactive_product_cannot_be_bought(bayar: Bayar) -> None:
    await bayar.set_stock("cola", 5, active=False)

    answer = await bayar.create(("cola", 1))

    assert answer.status_code == 422
    assert answer.json()["detail"] == "unknown product 'cola'"


async def test_an_unknown_order_is_a_404(bayar: Bayar) -> None:
    for order_id in ("BYR-20990101-NOPE", "x" * 200, "%2e%2e", "💸"):
        answer = await bayar.client.get(f"/api/orders/{order_id}")

        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"].startswith("no order "), answer.text


# -- problem 9: limits on every request before any work --------------------------------------------


async def _notifications(bayar: Bayar) -> int:
    async with bayar.db.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
        )


async def _nothing_kept(bayar: Bayar) -> None:
    assert await bayar.count_orders() == 0
    assert await _notifications(bayar) == 0


def _nested(depth: int) -> bytes:
    return b'{"items": ' + b"[" * depth + b"]" * depth + b', "order_id": "x"}'


@pytest.mark.parametrize("depth", [40, 5000])
async def test_deeply_nested_json_is_a_400_on_the_webhook_and_create(
    bayar: Bayar, depth: int
) -> None:
    for path in (CREATE, WEBHOOK):
        answer = await bayar.client.post(path, content=_nested(depth), headers=JSON)

        assert answer.status_code == 400, (path, answer.text)
        assert "nested deeper than 32 levels" in answer.json()["detail"]
    await _nothing_kept(bayar)


NUL_BODIES = {
    "create: product id": (CREATE, {"items": [{"product_id": "cola\u0000", "quantity": 1}]}),
    "create: customer name": (
        CREATE,
        {"items": [GOOD_ITEM], "customer": {"first_name": "Budi\u0000"}},
    ),
    "create: idempotency in a key": (CREATE, {"items": [GOOD_ITEM], "x\u0000": 1}),
    "webhook: order_id": (WEBHOOK, {"order_id": "BYR-\u0000", "transaction_status": "settlement"}),
    "webhook: transaction_status": (
        WEBHOOK,
        {"order_id": "BYR-1", "transaction_status": "settle\u0000ment"},
    ),
    "webhook: a lone surrogate": (WEBHOOK, {"order_id": "BYR-\ud800", "status_code": "200"}),
}


async def test_a_nul_character_in_a_body_is_a_422(bayar: Bayar, subtests: pytest.Subtests) -> None:
    for name, (path, body) in NUL_BODIES.items():
        with subtests.test(name):
            raw = json.dumps(body).replace("\\\\u", "\\u").encode()
            answer = await bayar.client.post(path, content=raw, headers=JSON)

            assert answer.status_code == 422, answer.text
            assert "NUL" in answer.json()["detail"], answer.text
    raw_nul = b'{"order_id": "BYR-\x00", "transaction_status": "settlement"}'
    answer = await bayar.client.post(WEBHOOK, content=raw_nul, headers=JSON)
    assert answer.status_code == 422, answer.text
    await _nothing_kept(bayar)


async def test_a_byte_order_mark_or_a_multipart_type_hides_nothing(bayar: Bayar) -> None:
    """Python's JSON parser skips a UTF-8 byte-order mark, and the webhook reads its body whatever
    its type: neither carries a NUL or a deep body past the guard (a 500 on PostgreSQL before)."""
    cart = b'{"items":[{"product_id":"cola\\u0000","quantity":1}],"payment_type":"qris"}'
    answer = await bayar.client.post(CREATE, content=b"\xef\xbb\xbf" + cart, headers=JSON)
    assert answer.status_code == 422, answer.text
    assert "NUL" in answer.json()["detail"]
    deep = b"[" * 200 + b"]" * 200
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    answer = await bayar.client.post(WEBHOOK, content=deep, headers=multipart)
    assert answer.status_code == 400, answer.text
    assert "nested deeper" in answer.json()["detail"]
    await _nothing_kept(bayar)


@pytest.mark.parametrize(
    "url",
    [
        "/api/orders/BYR-%00",
        "/orders/BYR-%00",
        "/kiosk/lobby-%00",
        "/api/products?q=%00",
        "/api/orders/BYR-1?token=a%00b",
    ],
)
async def test_a_nul_character_in_the_path_or_query_is_a_422(bayar: Bayar, url: str) -> None:
    answer = await bayar.client.get(url)

    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].endswith("contains a NUL character or an invalid one")


async def test_the_admin_pages_judge_their_own_addresses_and_filters() -> None:
    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"Bad address"})

    app = InputGuard(page, max_body=1024, own_targets=("/admin",))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        own = await client.get("/admin/orders?q=BYR%00")
        nul_body = await client.post("/admin/orders/x/refund", data={"amount": "1\x00"})
        elsewhere = await client.get("/administrator?q=%00")

    assert (own.status_code, own.text) == (400, "Bad address")
    assert (nul_body.status_code, nul_body.text) == (400, "Bad address")  # its forms too
    assert elsewhere.status_code == 422


async def test_an_over_long_transaction_status_with_a_bad_signature_is_a_422(bayar: Bayar) -> None:
    body = {
        "order_id": "BYR-20990101-AAAA",
        "status_code": "200",
        "gross_amount": "7000.00",
        "transaction_status": "s" * 40,
        "signature_key": "0" * 128,
    }

    answer = await bayar.notify(body)

    assert answer.status_code == 422, answer.text
    assert answer.json() == {"detail": "transaction_status: at most 32 characters"}
    await _nothing_kept(bayar)


async def test_a_body_over_the_limit_is_a_413_declared_or_streamed(bayar: Bayar) -> None:
    big = json.dumps({"items": [GOOD_ITEM], "pad": "x" * 70_000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    for path in (CREATE, WEBHOOK):
        declared = await bayar.client.post(path, content=big, headers=JSON)
        streamed = await bayar.client.post(path, content=chunks(), headers=JSON)

        for answer in (declared, streamed):
            assert answer.status_code == 413, (path, answer.text)
            assert answer.json() == {"detail": "the body is larger than 65536 bytes"}
    await _nothing_kept(bayar)


async def test_an_over_long_string_is_a_422(bayar: Bayar) -> None:
    body = {"items": [GOOD_ITEM], "note": "x" * 5000}

    answer = await bayar.client.post(CREATE, json=body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == "a string in the body is longer than 4096 characters"
    await _nothing_kept(bayar)


async def _echo(request: Request) -> JSONResponse:
    async with request.form() as form:
        upload = form["picture"]
        assert not isinstance(upload, str)
        return JSONResponse({"size": len(await upload.read())})


async def test_a_multipart_upload_has_its_own_larger_limit() -> None:
    """Where uploads are taken (the admin's pages); anywhere else multipart is a body like any."""
    routes = [Route("/upload", _echo, methods=["POST"]), Route("/api", _echo, methods=["POST"])]
    app = InputGuard(Starlette(routes=routes), max_body=64 * 1024, own_targets=("/upload",))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        picture = await client.post("/upload", files={"picture": ("a.png", b"\x00" * 1_000_000)})
        too_big = await client.post("/upload", files={"picture": ("a.png", b"p" * 3_000_000)})
        elsewhere = await client.post("/api", files={"picture": ("a.png", b"p" * 100_000)})

    assert picture.status_code == 200, picture.text
    assert picture.json() == {"size": 1_000_000}
    assert too_big.status_code == 413
    assert too_big.json() == {"detail": "the body is larger than 2097152 bytes"}
    assert elsewhere.status_code == 413
    assert elsewhere.json() == {"detail": "the body is larger than 65536 bytes"}


async def test_a_nul_character_in_a_websocket_path_closes_it_before_the_app_runs() -> None:
    reached: list[str] = []

    async def kiosk(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    sent: list[dict[str, Any]] = []

    async def send(message: Message) -> None:
        sent.append(dict(message))

    guard = InputGuard(kiosk, max_body=1024)
    for path in ("/ws/kiosk/lobby", "/ws/kiosk/lobby\x00"):
        scope: dict[str, Any] = {
            "type": "websocket",
            "path": path,
            "query_string": b"",
            "headers": [],
        }
        await guard(scope, receive, send)

    assert reached == ["/ws/kiosk/lobby"]
    assert sent == [{"type": "websocket.close", "code": 1008}]


# -- problem 14: one error shape, declared for every route -----------------------------------------


async def test_a_validation_error_is_one_sentence_naming_the_field(bayar: Bayar) -> None:
    answer = await bayar.client.post(
        CREATE, json={"items": [GOOD_ITEM, {"product_id": "cola", "quantity": 0}]}
    )

    assert answer.status_code == 422
    assert answer.json() == {
        "detail": "items[1].quantity: input should be greater than or equal to 1"
    }


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("GET", "/api/nope", 404), ("DELETE", "/api/products", 405), ("GET", CREATE, 405)],
)
async def test_unknown_api_routes_answer_in_the_same_shape(
    bayar: Bayar, method: str, url: str, status: int
) -> None:
    answer = await bayar.client.request(method, url)

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"detail"}
    assert isinstance(answer.json()["detail"], str)


async def test_every_api_route_declares_its_errors_as_a_problem(bayar: Bayar) -> None:
    schema = (await bayar.client.get("/openapi.json")).json()
    problem = {"$ref": "#/components/schemas/Problem"}

    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "413", "422", "500"):
                declared = operation["responses"].get(status)
                assert declared is not None, (method, path, status)
                assert declared["content"]["application/json"]["schema"] == problem, (
                    method,
                    path,
                    status,
                )


def _request(body: bytes, content_type: bytes = b"application/json") -> tuple[Any, Any]:
    """An ASGI scope and receive for a POST of `body`."""
    scope = {"type": "http", "headers": [(b"content-type", content_type)]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return scope, receive


@pytest.mark.parametrize(
    ("body", "content_type", "value"),
    [
        (b'{"order_id": "BYR-1"}', b"application/json", {"order_id": "BYR-1"}),
        (b"\xef\xbb\xbf [1, 2]", b"text/plain", [1, 2]),  # JSON whatever its type says
        (b"order_id=BYR-1", b"application/x-www-form-urlencoded", None),
        (b"not json", b"application/json", None),
        (b"12", b"application/json", 12),
    ],
)
async def test_read_json_gives_the_body_and_its_json_value(
    body: bytes, content_type: bytes, value: Any
) -> None:
    scope, receive = _request(body, content_type)

    assert await read_json(scope, receive, 1024) == (body, value)


async def test_read_json_refuses_what_the_guard_refuses() -> None:
    for body, status in (
        (b'{"a": "\\u0000"}', 422),
        (b"[" * 40 + b"]" * 40, 400),
        (b"x" * 2000, 413),
    ):
        scope, receive = _request(body)
        with pytest.raises(InputError) as refused:
            await read_json(scope, receive, 1024)
        assert refused.value.status == status
