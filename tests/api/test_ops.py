"""/healthz, /metrics and the OpenAPI contract."""

from __future__ import annotations

import re
from typing import Any

from bayar.storage.db import Database


async def test_healthz_reports_database_and_bus(bayar: Any) -> None:
    answer = await bayar.client.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "bus": "ok"}


async def test_healthz_is_503_when_the_database_is_unreachable(bayar: Any) -> None:
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


async def test_metrics_count_orders_by_status_and_notifications(bayar: Any) -> None:
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


async def test_metrics_observe_each_gateway_call_once(bayar: Any) -> None:
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


async def test_openapi_declares_the_error_answers(bayar: Any, subtests: Any) -> None:
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
