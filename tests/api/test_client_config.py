"""`GET /api/config` (what a front end on another origin needs, nothing secret) and CORS by
BAYAR_CORS_ORIGINS: an allowed origin gets the headers, on answers and errors alike; others not."""

from __future__ import annotations

from harness import Bayar, StartBayar

from bayar.config import DEMO_CLIENT_KEY, DEMO_SERVER_KEY

SHOP = "http://shop.example:5173"


async def test_config_names_the_gateway_its_client_key_and_snap_js(bayar: Bayar) -> None:
    answer = await bayar.client.get("/api/config")

    assert answer.status_code == 200
    assert answer.json() == {
        "gateway": "midtrans",
        "gateways": ["midtrans", "xendit"],
        "sandbox": True,
        "production": False,
        "client_key": DEMO_CLIENT_KEY,
        "snap_js_url": bayar.context.snap_js_url,
    }
    assert answer.json()["snap_js_url"].endswith("/sandbox/midtrans/snap/snap.js")
    assert DEMO_SERVER_KEY not in answer.text


async def test_config_gives_the_configured_client_key_never_the_server_key(
    start_bayar: StartBayar,
) -> None:
    server_key, client_key = "SB-Mid-server-own-secret", "SB-Mid-client-own"
    async with start_bayar(midtrans_server_key=server_key, midtrans_client_key=client_key) as bayar:
        answer = await bayar.client.get("/api/config")

    assert answer.json()["client_key"] == client_key
    assert server_key not in answer.text


async def test_config_is_in_the_openapi_document(bayar: Bayar) -> None:
    document = (await bayar.client.get("/openapi.json")).json()

    route = document["paths"]["/api/config"]["get"]
    schema = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ClientConfig"}
    fields = document["components"]["schemas"]["ClientConfig"]["properties"]
    assert set(fields) == {
        "gateway",
        "gateways",
        "sandbox",
        "production",
        "client_key",
        "snap_js_url",
    }


async def test_no_cors_headers_by_default(bayar: Bayar) -> None:
    answer = await bayar.client.get("/api/products", headers={"Origin": SHOP})
    preflight = await bayar.client.options(
        "/api/payments/create-transaction",
        headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
    )

    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_an_allowed_origin_gets_cors_headers_and_others_do_not(
    start_bayar: StartBayar,
) -> None:
    async with start_bayar(bayar_cors_origins=f" {SHOP} , http://other.example") as bayar:
        preflight = await bayar.client.options(
            "/api/payments/create-transaction",
            headers={
                "Origin": SHOP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,idempotency-key",
            },
        )
        allowed = await bayar.client.get("/api/config", headers={"Origin": SHOP})
        # An error answer carries them too, or the page could not read its `detail`.
        await bayar.set_stock("cola", 0)
        refused = await bayar.client.post(
            "/api/payments/create-transaction",
            json={"items": [{"product_id": "cola", "quantity": 1}]},
            headers={"Origin": SHOP},
        )
        stranger = await bayar.client.get("/api/config", headers={"Origin": "http://evil.example"})
        stranger_preflight = await bayar.client.options(
            "/api/payments/create-transaction",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert "idempotency-key" in allowed_headers
    assert "content-type" in allowed_headers
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert refused.status_code == 409
    assert refused.headers["access-control-allow-origin"] == SHOP
    assert "detail" in refused.json()
    assert stranger.status_code == 200
    assert "access-control-allow-origin" not in stranger.headers
    assert stranger_preflight.status_code == 400
    assert "access-control-allow-origin" not in stranger_preflight.headers
