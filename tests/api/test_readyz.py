"""Issue 12: /readyz beside /healthz. Ready means a load balancer may send the process traffic: the
database and the bus answer, and so does the gateway every order is confirmed with."""

from __future__ import annotations

from typing import Any

from bayar.storage.db import Database


async def test_readyz_when_database_bus_and_gateway_answer(bayar: Any) -> None:
    answer = await bayar.client.get("/readyz")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "database": "ok", "bus": "ok", "gateway": "ok"}


async def test_readyz_is_503_when_the_gateway_does_not_answer(bayar: Any) -> None:
    await bayar.fault("api_error", status=503, count=1)

    answer = await bayar.client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json() == {"detail": "not ready: the gateway is unreachable"}
    assert (await bayar.client.get("/healthz")).status_code == 200  # alive all the same


async def test_readyz_is_503_when_the_database_is_unreachable(bayar: Any) -> None:
    unreachable = Database("postgresql://postgres@127.0.0.1:1/bayar")
    bayar.context.db = unreachable
    try:
        answer = await bayar.client.get("/readyz")
    finally:
        await unreachable.close()

    assert answer.status_code == 503
    assert answer.json() == {"detail": "not ready: the database is unreachable"}
