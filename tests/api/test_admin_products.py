"""The owner's catalog through the admin API (`/api/admin/products`, bearer token): add, edit,
hide and show, archive; an archived product leaves sale (shop list, kiosk menu, create-transaction)
but stays on the orders that name it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from harness import ADMIN_TOKEN, Bayar

from bayar.vending.machines import create_machine

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ES_TEH = {
    "name": "Es Teh Tarik",
    "description": "Teh susu dingin, 350 ml",
    "price": 9000,
    "stock": 12,
    "category": "Minuman dingin",
}


async def _add(bayar: Bayar, **body: Any) -> httpx.Response:
    return await bayar.client.post("/api/admin/products", json=body or ES_TEH, headers=AUTH)


async def _patch(bayar: Bayar, product_id: str, **body: Any) -> httpx.Response:
    return await bayar.client.patch(f"/api/admin/products/{product_id}", json=body, headers=AUTH)


async def _on_sale(bayar: Bayar) -> dict[str, dict[str, Any]]:
    answer = await bayar.client.get("/api/products")
    assert answer.status_code == 200, answer.text
    return {p["id"]: p for p in answer.json()}


async def test_every_catalog_route_needs_the_admin_token(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
    calls = (
        ("GET", "/api/admin/products", None),
        ("POST", "/api/admin/products", ES_TEH),
        ("PATCH", "/api/admin/products/cola", {"price": 1}),
        ("POST", "/api/admin/products/cola/archive", None),
    )
    for method, path, body in calls:
        for token in (None, "wrong"):
            with subtests.test(f"{method} {path} with {token!r}"):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                answer = await bayar.client.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, answer.text
                assert answer.json() == {"detail": "a valid admin token is required"}
    assert (await _on_sale(bayar))["cola"]["price"] == 7000
    assert "es-teh-tarik" not in await _on_sale(bayar)


async def test_a_product_added_is_on_sale_and_can_be_bought(bayar: Bayar) -> None:
    answer = await _add(bayar)

    assert answer.status_code == 201, answer.text
    assert answer.json() == {
        "id": "es-teh-tarik",
        **ES_TEH,
        "image_url": None,
        "active": True,
        "archived": False,
        "held": 0,
    }
    shop = (await _on_sale(bayar))["es-teh-tarik"]
    assert (shop["price"], shop["description"], shop["category"]) == (
        9000,
        "Teh susu dingin, 350 ml",
        "Minuman dingin",
    )
    order_id = await bayar.create_order(("es-teh-tarik", 2))
    assert (await bayar.order(order_id))["gross_amount"] == 18000
    listed = await bayar.client.get("/api/admin/products", headers=AUTH)
    mine = [p for p in listed.json() if p["id"] == "es-teh-tarik"]
    assert [(p["stock"], p["held"]) for p in mine] == [(10, 2)]


async def test_refused_products_say_why(bayar: Bayar, subtests: pytest.Subtests) -> None:
    assert (await _add(bayar, id="kopi", name="Kopi", price=5000)).status_code == 201
    cases = (
        ({"id": "kopi", "name": "Kopi lagi", "price": 5000}, 409, "exists already"),
        ({"name": "Gratis", "price": 0}, 422, "price"),
        ({"name": "Mahal", "price": 7000.5}, 422, "price"),
        ({"id": "Bad Id", "name": "X", "price": 1000}, 422, "id"),
        ({"name": "   ", "price": 1000}, 422, "name"),
        ({"name": "X", "price": 1000, "stock": -1}, 422, "stock"),
        ({"name": "X", "price": 1000, "colour": "red"}, 422, "colour"),
    )
    for body, status, word in cases:
        with subtests.test(str(body)):
            answer = await _add(bayar, **body)
            assert answer.status_code == status, answer.text
            assert word in answer.json()["detail"]
    assert (await _patch(bayar, "no-such", price=1000)).status_code == 404
    assert (
        await bayar.client.post("/api/admin/products/no-such/archive", headers=AUTH)
    ).status_code == 404


async def test_edit_hide_and_show_a_product(bayar: Bayar) -> None:
    await _add(bayar)

    edited = await _patch(
        bayar, "es-teh-tarik", name="Es Teh Tarik Besar", price=11000, stock=30, category=""
    )

    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["name"], body["price"], body["stock"], body["category"]) == (
        "Es Teh Tarik Besar",
        11000,
        30,
        None,
    )
    assert body["description"] == ES_TEH["description"]  # not sent: left as it was
    hidden = await _patch(bayar, "es-teh-tarik", active=False)
    assert hidden.json()["active"] is False
    assert "es-teh-tarik" not in await _on_sale(bayar)
    refused = await bayar.create(("es-teh-tarik", 1))
    assert refused.status_code == 422, refused.text
    shown = await _patch(bayar, "es-teh-tarik", active=True)
    assert shown.json()["active"] is True
    assert (await _on_sale(bayar))["es-teh-tarik"]["name"] == "Es Teh Tarik Besar"


async def test_an_archived_product_leaves_sale_but_stays_on_its_orders(bayar: Bayar) -> None:
    await _add(bayar)
    await create_machine(bayar.db, "lobby-9", "Lobby", None, [("A1", "es-teh-tarik", 5, 5)])
    assert [i["id"] for i in await bayar.context.vending.menu("lobby-9")] == ["es-teh-tarik"]
    paid = await bayar.create_order(("es-teh-tarik", 1))
    await bayar.pay(paid)
    await bayar.wait_status(paid, "paid")
    still_open = await bayar.create_order(("es-teh-tarik", 1))

    answer = await bayar.client.post("/api/admin/products/es-teh-tarik/archive", headers=AUTH)

    assert answer.status_code == 200, answer.text
    assert (answer.json()["archived"], answer.json()["active"]) == (True, False)
    assert "es-teh-tarik" not in await _on_sale(bayar)
    assert await bayar.context.vending.menu("lobby-9") == []
    refused = await bayar.create(("es-teh-tarik", 1))
    assert refused.status_code == 422, refused.text
    assert "unknown product" in refused.json()["detail"]
    # The orders that name it keep it; the one still open can still be paid.
    assert [i["name"] for i in (await bayar.order(paid))["items"]] == ["Es Teh Tarik"]
    await bayar.pay(still_open)
    await bayar.wait_status(still_open, "paid")
    # The owner's list leaves it out unless asked; it can be neither changed nor shown again.
    listed = await bayar.client.get("/api/admin/products", headers=AUTH)
    assert "es-teh-tarik" not in [p["id"] for p in listed.json()]
    everything = await bayar.client.get("/api/admin/products?archived=true", headers=AUTH)
    assert "es-teh-tarik" in [p["id"] for p in everything.json()]
    again = await _patch(bayar, "es-teh-tarik", active=True)
    assert again.status_code == 409, again.text
    assert "archived" in again.json()["detail"]
    twice = await bayar.client.post("/api/admin/products/es-teh-tarik/archive", headers=AUTH)
    assert twice.status_code == 200, twice.text
    # Its id stays taken: an old order's product never changes underneath it.
    assert (await _add(bayar)).status_code == 409


async def test_the_catalog_routes_are_declared_with_the_problem_shape(bayar: Bayar) -> None:
    schema = (await bayar.client.get("/openapi.json")).json()
    problem = {"$ref": "#/components/schemas/Problem"}
    routes = schema["paths"]
    expected = {
        ("/api/admin/products", "get"): {"200", "401"},
        ("/api/admin/products", "post"): {"201", "401", "409", "422"},
        ("/api/admin/products/{product_id}", "patch"): {"200", "401", "404", "409", "422"},
        ("/api/admin/products/{product_id}/archive", "post"): {"200", "401", "404"},
    }
    for (path, method), statuses in expected.items():
        responses = routes[path][method]["responses"]
        assert statuses <= set(responses), (path, method, sorted(responses))
        for status in statuses - {"200", "201"}:
            assert responses[status]["content"]["application/json"]["schema"] == problem
        assert routes[path][method]["security"] == [{"HTTPBearer": []}]
