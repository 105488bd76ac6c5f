"""Two bayar servers (two create_app instances, as two `bayar serve` processes would be) on one
PostgreSQL database and one Redis: a kiosk connected to server A learns of a payment that server B
handled, through the Redis bus, and either server sees the kiosk as online (Redis presence).

With BAYAR_SANDBOX=true each app has its own sandbox. The order is created through A, so its
transaction lives in A's sandbox; A's sandbox is told to deliver its notifications to B.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

import pytest

from bayar.vending.machines import create_machine
from bayar.vending.presence import RedisPresence

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    from tests.vending.conftest import ConnectKiosk, HttpFor, SandboxOf, StartApp, WaitUntil

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LONG_TIMEOUT = 30.0


async def online(redis_url: str, machine_id: str, prefix: str) -> bool:
    """Presence as a third process of the install sees it: its own connection to Redis, in the
    install's namespace (BAYAR_REDIS_PREFIX, derived from the database)."""
    presence = RedisPresence(redis_url, prefix=prefix)
    try:
        return await presence.online(machine_id)
    finally:
        await presence.close()


async def test_payment_handled_by_server_b_reaches_the_kiosk_on_server_a(
    fresh_postgres: str,
    redis_url: str,
    start_app: StartApp,
    kiosk: ConnectKiosk,
    http_for: HttpFor,
    sandbox_of: SandboxOf,
    wait_until: WaitUntil,
) -> None:
    shared: dict[str, Any] = {
        "database_url": fresh_postgres,
        "redis_url": redis_url,
        "bayar_dispense_timeout": LONG_TIMEOUT,
    }
    server_a = start_app(**shared)
    # B confirms a "paid" notification by asking ITS gateway, which is its own sandbox and does
    # not know A's transaction: so B trusts the signed body (bayar_confirm_paid=False).
    # seed=False: A made the catalog; B would only rotate the demo machine's token.
    server_b = start_app(seed=False, bayar_confirm_paid=False, **shared)
    http_a, http_b = await http_for(server_a), await http_for(server_b)
    prefix = server_a.context.settings.redis_prefix()
    assert server_b.context.settings.redis_prefix() == prefix  # one database, one namespace
    sandbox_a = sandbox_of(http_a, server_a)

    # A machine of this test only: Redis pub/sub channels are shared by every database index.
    machine_id = f"mp-{secrets.token_hex(4)}"
    token = await server_a.run(
        create_machine(server_a.context.db, machine_id, "Multi", "Hall", [("A1", "cola", 5, 5)])
    )
    assert not await online(redis_url, machine_id, prefix)

    k = await kiosk(server_a, machine_id, token)
    assert (await k.expect("STATE"))["machine"]["id"] == machine_id
    assert await online(redis_url, machine_id, prefix)
    assert await server_b.run(server_b.context.presence.online(machine_id))

    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    # Both servers read the same ledger.
    assert (await http_b.get(f"/api/orders/{order_id}")).json()["status"] == "pending"

    notification_url = f"{server_b.url}/api/payments/notification"
    await sandbox_a.set_notification_url(notification_url)
    await sandbox_a.act(order_id, "pay")

    assert await k.expect("PAYMENT_SUCCESS", within=10) == {"order_id": order_id}
    command = await k.expect("DISPENSE")
    assert command["order_id"] == order_id
    assert command["slot"] == "A1"

    # It was B that took the notification: A's sandbox delivered it there, B answered 200.
    log = await sandbox_a.notifications(order_id)
    settled = [d for d in log if d["transaction_status"] == "settlement"]
    assert len(settled) == 1
    assert settled[0]["url"] == notification_url
    assert settled[0]["state"] == "delivered"

    # The same signed body again, straight to B: a duplicate, and nothing new for the kiosk.
    again = await http_b.post(
        "/api/payments/notification",
        content=settled[0]["body"],
        headers={"content-type": "application/json"},
    )
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert json.loads(settled[0]["body"])["order_id"] == order_id

    await k.send(
        "DISPENSE_RESULT",
        {"order_id": order_id, "dispense_id": command["dispense_id"], "ok": True},
    )
    assert await k.expect("DISPENSED") == {"order_id": order_id}
    assert (await http_b.get(f"/api/orders/{order_id}")).json()["status"] == "fulfilled"
    await k.settle(0.3)
    assert k.count("PAYMENT_SUCCESS") == 1
    assert k.count("DISPENSE") == 1
    assert k.count("DISPENSED") == 1

    await k.close()

    async def gone() -> bool:
        return not await online(redis_url, machine_id, prefix)

    await wait_until(gone, what="the kiosk offline in Redis")
    assert not await server_b.run(server_b.context.presence.online(machine_id))


async def test_kiosk_on_server_b_is_commanded_once_when_a_handles_the_payment(
    fresh_postgres: str,
    redis_url: str,
    start_app: StartApp,
    kiosk: ConnectKiosk,
    http_for: HttpFor,
    sandbox_of: SandboxOf,
) -> None:
    """The other way round, with a kiosk connected to each server for the same machine: the
    DISPENSE command is claimed once across processes (the dispense row), not once per server."""
    shared: dict[str, Any] = {
        "database_url": fresh_postgres,
        "redis_url": redis_url,
        "bayar_dispense_timeout": LONG_TIMEOUT,
    }
    server_a = start_app(**shared)
    server_b = start_app(seed=False, **shared)
    http_a = await http_for(server_a)
    sandbox_a = sandbox_of(http_a, server_a)
    machine_id = f"mp-{secrets.token_hex(4)}"
    token = await server_a.run(
        create_machine(server_a.context.db, machine_id, "Multi", "Hall", [("A1", "cola", 5, 5)])
    )
    on_a = await kiosk(server_a, machine_id, token)
    on_b = await kiosk(server_b, machine_id, token)
    await on_a.expect("STATE")
    await on_b.expect("STATE")

    order_id = (await on_a.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await sandbox_a.act(order_id, "pay")  # delivered to A itself, handled (and confirmed) by A

    await on_a.expect("PAYMENT_SUCCESS", within=10)
    await on_b.expect("PAYMENT_SUCCESS", within=10)
    await on_a.settle(0.5)
    commands = on_a.count("DISPENSE") + on_b.count("DISPENSE")
    assert commands == 1, (on_a.events(), on_b.events())
