"""/healthz, /metrics and the OpenAPI contract."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from harness import Bayar

from bayar.config import Settings
from bayar.sandbox.app import standalone_app
from bayar.storage.db import Database


async def test_healthz_reports_database_and_bus(bayar: Bayar) -> None:
    answer = await bayar.client.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "bus": "ok"}


async def test_healthz_is_503_when_the_database_is_unreachable(bayar: Bayar) -> None:
    # A real database client whose server is not there (nothing listens on port 1).
    unreachable = Database("postgresql://postgres@127.0.0.1:1/bayar")
    bayar.context.db = unreachable
    try:
        answer = await bayar.client.get("/healthz")
    finally:
        await unreachable.close()

    assert answer.status_code == 503
    assert answer.json() == {"status": "unhealthy", "database": "unreachable", "bus": "ok"}


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text, found by name and labels (any order)."""
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    for line in metrics.splitlines():
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample == name and set(rest.rstrip("}").split(",")) == wanted:
            return float(value)
    raise AssertionError(f"no {name}{sorted(wanted)} in /metrics")


async def test_metrics_count_orders_by_status_and_notifications(bayar: Bayar) -> None:
    paid = await bayar.create_order(("cola", 1))
    await bayar.pay(paid)
    await bayar.wait_status(paid, "paid")
    pending = await bayar.create_order(("cola", 1))
    cancelled = await bayar.create_order(("cola", 1))
    assert (await bayar.admin(cancelled, "cancel")).status_code == 200
    await bayar.delivered(paid, count=2)
    await bayar.delivered(pending, count=1)
    await bayar.delivered(cancelled, count=2)

    answer = await bayar.client.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert _sample(text, "bayar_orders", status="paid") == 1
    assert _sample(text, "bayar_orders", status="pending") == 1
    assert _sample(text, "bayar_orders", status="cancelled") == 1
    assert _sample(text, "bayar_orders", status="refunded") == 0
    assert _sample(text, "bayar_notifications_total", outcome="applied") >= 1
    assert _sample(text, "bayar_order_transitions_total", to_status="paid", source="webhook") == 1
    assert pending  # still pending: counted above


async def test_metrics_observe_each_gateway_call_once(bayar: Bayar) -> None:
    for _ in range(3):
        await bayar.create_order(("cola", 1))

    text = (await bayar.client.get("/metrics")).text

    assert _sample(text, "bayar_gateway_call_seconds_count", operation="charge", outcome="ok") == 3


# path: the answers its POST must declare
DECLARED = {
    "/api/payments/create-transaction": {"201", "200", "202", "409", "422", "502"},
    "/api/payments/notification": {"200", "401", "422"},
    "/api/orders/{order_id}/cancel": {"200", "401", "404", "409"},
    "/api/orders/{order_id}/refund": {"200", "401", "404", "409", "422"},
}


async def test_openapi_declares_the_error_answers(bayar: Bayar, subtests: pytest.Subtests) -> None:
    answer = await bayar.client.get("/openapi.json")
    assert answer.status_code == 200
    openapi = answer.json()

    for path, codes in DECLARED.items():
        with subtests.test(path):
            responses = openapi["paths"][path]["post"]["responses"]
            assert codes <= set(responses), sorted(responses)
            for code in codes - {"200", "201", "202"}:
                assert responses[code].get("description"), (path, code)
    assert "404" in openapi["paths"]["/api/orders/{order_id}"]["get"]["responses"]
    schemes = openapi["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    for path in ("/api/orders/{order_id}/cancel", "/api/orders/{order_id}/refund"):
        assert openapi["paths"][path]["post"]["security"], path
    # The interactive docs are served too, with nothing loaded from the internet.
    page = await bayar.client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    assert all(a.startswith("/docs/assets/") for a in assets), assets
    for asset in assets:
        assert (await bayar.client.get(asset)).status_code == 200, asset
    assert (await bayar.client.get("/redoc")).status_code == 404


# -- security headers (issue 8, problem 12) --------------------------------------------------------


def directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


async def test_every_page_sends_a_policy_without_inline_script(
    bayar: Bayar, subtests: pytest.Subtests
) -> None:
    created = await bayar.create(("cola", 1), payment_type="snap")
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]
    pages = {
        "shop": "/",
        "order": f"/orders/{order_id}",
        "kiosk": "/kiosk/demo-1",
        "docs": "/docs",
        "admin": "/admin/login",
        "sandbox": "/sandbox/",
        "api": f"/api/orders/{order_id}",
        "missing": "/no-such-page",
    }
    for name, path in pages.items():
        with subtests.test(name):
            answer = await bayar.client.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff"
            referrer = (
                "strict-origin-when-cross-origin" if name in ("shop", "order") else "same-origin"
            )
            assert answer.headers["referrer-policy"] == referrer
            assert answer.headers["x-frame-options"] == "DENY"
            policy = directives(answer.headers["content-security-policy"])
            assert policy["frame-ancestors"] == ["'none'"]
            assert policy["object-src"] == ["'none'"]
            assert policy["base-uri"] == ["'none'"]
            scripts = policy["script-src"]
            assert "'unsafe-inline'" not in scripts
            assert "'unsafe-eval'" not in scripts
            assert set(scripts) <= {"'self'", "'none'", "http://bayar.test"}, scripts

    shop = directives((await bayar.client.get("/")).headers["content-security-policy"])
    # The shop runs snap.js from the gateway (here the sandbox at the public URL) in a frame.
    assert "http://bayar.test" in shop["script-src"]
    assert "http://bayar.test" in shop["frame-src"]
    kiosk = directives((await bayar.client.get("/kiosk/demo-1")).headers["content-security-policy"])
    assert {"'self'", "ws://bayar.test", "wss://bayar.test"} <= set(kiosk["connect-src"])


async def test_the_snap_payment_page_stays_frameable(bayar: Bayar) -> None:
    created = await bayar.create(("cola", 1), payment_type="snap")
    page = await bayar.client.get(created.json()["payment"]["redirect_url"])

    assert page.status_code == 200
    assert "x-frame-options" not in page.headers
    policy = directives(page.headers["content-security-policy"])
    assert policy.get("frame-ancestors", ["*"]) != ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert page.headers["x-content-type-options"] == "nosniff"
    # snap.js is loaded by other sites' pages: a script, nothing that stops it crossing origins.
    snap_js = await bayar.client.get("/sandbox/midtrans/snap/snap.js")
    assert snap_js.headers["content-type"].startswith("text/javascript")
    assert "cross-origin-resource-policy" not in snap_js.headers


async def test_docs_start_swagger_ui_from_a_file(bayar: Bayar) -> None:
    page = await bayar.client.get("/docs")

    assert page.status_code == 200
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    init = await bayar.client.get("/docs/assets/bayar-init.js")
    assert init.status_code == 200
    assert "SwaggerUIBundle" in init.text


async def test_order_and_admin_answers_are_not_stored(bayar: Bayar) -> None:
    order_id = await bayar.create_order(("cola", 1))

    order = await bayar.client.get(f"/api/orders/{order_id}")
    assert order.headers["cache-control"] == "no-store"
    missing = await bayar.client.get("/api/orders/BYR-nope")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "no-store"
    cancelled = await bayar.admin(order_id, "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.headers["cache-control"] == "no-store"
    refused = await bayar.admin(order_id, "refund", token="wrong")
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"


async def test_the_sandbox_alone_sends_the_headers_too(tmp_path: Path) -> None:
    # `bayar sandbox` has no bayar app around it: its own copy of the rules.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bayar_var_dir=tmp_path,
        bayar_sandbox_state_file=Path(":memory:"),
    )
    app = standalone_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client,
    ):
        for path in ("/", "/sandbox/"):
            answer = await client.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff", path
            assert answer.headers["x-frame-options"] == "DENY", path
            policy = directives(answer.headers["content-security-policy"])
            assert policy["script-src"] == ["'self'"], path
            assert policy["frame-ancestors"] == ["'none'"], path
