"""Dispensing a paid kiosk order exactly once, and giving the money back when it cannot be.

The dispense row moves by compare-and-set: commanded → dispensed, or → failed → refunded /
refund_retry / manual_refund (src/bayar/vending/service.py). These tests drive it over the kiosk
WebSocket of a live app whose gateway is its own sandbox.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import TYPE_CHECKING, Any

import httpx
from harness import Clock
from sqlalchemy import func, select

from bayar.admin import queries
from bayar.storage.models import Dispense, Notification, OrderEvent, Refund
from bayar.worker.reconcile import reconcile_once

if TYPE_CHECKING:  # the fixtures' types; conftest is not importable under --import-mode=importlib
    import concurrent.futures

    from tests.vending.conftest import (
        ConnectKiosk,
        HttpFor,
        Kiosk,
        LiveApp,
        Sandbox,
        SandboxOf,
        StartApp,
        WaitUntil,
    )

LONG_TIMEOUT = 30.0  # for tests that must not meet the dispense timeout
ADMIN_PASSWORD = "vending-admin"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'data-testid="flash">([^<]*)<')


# -- helpers ----------------------------------------------------------------------------------------


async def dispenses(app: LiveApp, order_id: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with app.context.db.session() as session:
            rows = (
                (await session.execute(select(Dispense).where(Dispense.order_id == order_id)))
                .scalars()
                .all()
            )
            return [{"status": r.status, "commands": r.commands, "slot": r.slot_code} for r in rows]

    found: list[dict[str, Any]] = await app.run(read())
    return found


async def dispense_status(app: LiveApp, order_id: str) -> str | None:
    rows = await dispenses(app, order_id)
    return rows[0]["status"] if rows else None


async def refunds(app: LiveApp, order_id: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with app.context.db.session() as session:
            rows = (
                (await session.execute(select(Refund).where(Refund.order_id == order_id)))
                .scalars()
                .all()
            )
            return [{"status": r.status, "amount": r.amount, "key": r.refund_key} for r in rows]

    found: list[dict[str, Any]] = await app.run(read())
    return found


async def sweep(app: LiveApp) -> int:
    handled: int = await app.run(app.context.vending.sweep())
    return handled


async def order_status(http: httpx.AsyncClient, order_id: str) -> str:
    status: str = (await http.get(f"/api/orders/{order_id}")).json()["status"]
    return status


async def paid_and_commanded(k: Kiosk, sandbox: Sandbox, product: str = "cola") -> dict[str, Any]:
    """ORDER, pay at the sandbox, read PAYMENT_SUCCESS and DISPENSE: the command."""
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": product}, "ORDER_CREATED"))["order_id"]
    await sandbox.act(order_id, "pay")
    await k.expect("PAYMENT_SUCCESS")
    command: dict[str, Any] = await k.expect("DISPENSE")
    assert command["order_id"] == order_id
    return command


async def commanded_without_worker(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
    clock: Clock | None = None,
) -> tuple[LiveApp, httpx.AsyncClient, Sandbox, Kiosk, dict[str, Any]]:
    """An app whose sweep runs only when a test calls it, and a paid order it commanded; on
    `clock` (bayar's time stands still until the test moves it) when given."""
    app = start_app(run_worker=False, now=clock, bayar_dispense_timeout=1.0, **db_settings)
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    k = await kiosk(app)
    return app, http, sandbox, k, await paid_and_commanded(k, sandbox)


def result(command: dict[str, Any], ok: bool, detail: str | None = None) -> dict[str, Any]:
    values = {"order_id": command["order_id"], "dispense_id": command["dispense_id"], "ok": ok}
    if detail is not None:
        values["detail"] = detail
    return values


# -- a failed dispense ------------------------------------------------------------------------------


async def test_failed_dispense_is_refunded_in_full(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    command = await paid_and_commanded(k, sandbox)
    order_id = command["order_id"]

    await k.send("DISPENSE_RESULT", result(command, False, "motor jammed"))
    assert await k.expect("REFUNDED") == {"order_id": order_id, "amount": 7000}
    assert await order_status(http, order_id) == "refunded"
    assert await dispense_status(app, order_id) == "refunded"
    assert await refunds(app, order_id) == [
        {"status": "succeeded", "amount": 7000, "key": f"dispense-{order_id}"}
    ]
    gateway = await sandbox.status(order_id)
    assert gateway["transaction_status"] == "refund"
    assert len(gateway.get("refunds", [])) == 1

    state = await k.ask("STATE")
    assert state["screen"] == "home"
    assert state["order"] is None
    await k.settle(0.3)
    assert k.count("DISPENSED") == 0
    assert k.count("REFUNDED") == 1


async def test_unacknowledged_dispense_is_refunded_by_the_worker(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    # app: bayar_dispense_timeout=1.0, bayar_worker_interval=0.2
    k = await kiosk(app)
    command = await paid_and_commanded(k, sandbox)
    order_id = command["order_id"]
    assert await k.expect("REFUNDED", within=3.0) == {"order_id": order_id, "amount": 7000}
    assert await order_status(http, order_id) == "refunded"
    assert await dispense_status(app, order_id) == "refunded"


async def test_sweep_refunds_an_unacknowledged_dispense_and_a_late_result_changes_nothing(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
) -> None:
    # The sweep is called by hand here, so the late result races nothing.
    clock = Clock()
    app, http, sandbox, k, command = await commanded_without_worker(
        db_settings, start_app, kiosk, sandbox_of, http_for, clock
    )
    order_id = command["order_id"]

    assert await sweep(app) == 0  # not late yet
    assert await dispense_status(app, order_id) == "commanded"
    clock.advance(seconds=1.1)
    assert await sweep(app) == 1
    assert await k.expect("REFUNDED") == {"order_id": order_id, "amount": 7000}
    assert await dispense_status(app, order_id) == "refunded"
    assert await order_status(http, order_id) == "refunded"
    assert (await sandbox.status(order_id))["transaction_status"] == "refund"

    # The machine answers after all: recorded as ignored, nothing moves, nothing is announced.
    await k.send("DISPENSE_RESULT", result(command, True))
    await k.send("DISPENSE_RESULT", result(command, False, "late failure"))
    assert await k.ask("PING", answer="PONG") == {}
    await k.settle(0.3)
    assert k.count("DISPENSED") == 0
    assert k.count("REFUNDED") == 1
    assert k.count("ERROR") == 0
    assert await dispense_status(app, order_id) == "refunded"
    assert await order_status(http, order_id) == "refunded"
    assert len(await refunds(app, order_id)) == 1
    assert len((await sandbox.status(order_id)).get("refunds", [])) == 1
    assert await sweep(app) == 0  # nothing left to do


async def test_a_failed_dispense_whose_refund_never_ran_is_refunded_by_the_sweep(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
) -> None:
    """The process stopped between marking the dispense failed and refunding it."""
    clock = Clock()
    app, http, _sandbox, _k, command = await commanded_without_worker(
        db_settings, start_app, kiosk, sandbox_of, http_for, clock
    )
    order_id = command["order_id"]

    async def mark_failed() -> None:
        async with app.context.db.session() as session, session.begin():
            row = await session.get_one(Dispense, order_id)
            row.status, row.finished_at = "failed", app.context.clock()

    await app.run(mark_failed())
    assert await sweep(app) == 0  # it may still be refunding in another process
    clock.advance(seconds=2.1)  # twice the acknowledgement timeout
    assert await sweep(app) == 1
    assert await dispense_status(app, order_id) == "refunded"
    assert await order_status(http, order_id) == "refunded"
    assert [r["key"] for r in await refunds(app, order_id)] == [f"dispense-{order_id}"]
    assert await sweep(app) == 0


async def test_a_failed_dispense_whose_refund_was_refused_goes_to_a_person_not_refunded(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
) -> None:
    """The gateway refused the refund, then the process stopped before recording it: the sweep's
    second try finds the refused refund under the same key and must not call the money returned."""
    clock = Clock()
    app, http, _sandbox, k, command = await commanded_without_worker(
        db_settings, start_app, kiosk, sandbox_of, http_for, clock
    )
    order_id = command["order_id"]

    async def refused_then_stopped() -> None:
        now = app.context.clock()
        async with app.context.db.session() as session, session.begin():
            session.add(
                Refund(
                    order_id=order_id,
                    refund_key=f"dispense-{order_id}",
                    amount=7000,
                    reason="dispense failed",
                    status="failed",
                    created_at=now,
                    updated_at=now,
                )
            )
            row = await session.get_one(Dispense, order_id)
            row.status, row.finished_at = "failed", now

    await app.run(refused_then_stopped())
    clock.advance(seconds=2.1)
    assert await sweep(app) == 1
    assert await dispense_status(app, order_id) == "manual_refund"
    assert await k.expect("MANUAL_REFUND") == {"order_id": order_id, "amount": 7000}
    assert await order_status(http, order_id) == "paid"
    # The refused refund is the one waiting for a person (not a second row beside it).
    assert await refunds(app, order_id) == [
        {"status": "manual", "amount": 7000, "key": f"dispense-{order_id}"}
    ]
    await k.settle(0.3)
    assert k.count("REFUNDED") == 0


# -- exactly once ---------------------------------------------------------------------------------


async def test_duplicate_notifications_reconcile_and_reconnects_dispense_once(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
    wait_until: WaitUntil,
) -> None:
    app = start_app(
        bayar_dispense_timeout=LONG_TIMEOUT, bayar_reconcile_first_check=0.0, **db_settings
    )
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    first = await kiosk(app)
    await first.expect("STATE")
    order_id = (await first.ask("ORDER", {"id": "lemon"}, "ORDER_CREATED"))["order_id"]

    await sandbox.fault("duplicate", copies=5)
    await sandbox.act(order_id, "pay")
    # Reconciliation races the webhooks: the worker's pass and direct checks of the order.
    payments = app.context.payments
    racing: list[concurrent.futures.Future[Any]] = [
        app.submit(payments.reconcile.check(order_id)) for _ in range(3)
    ]
    racing.append(app.submit(reconcile_once(payments)))
    await asyncio.gather(*(asyncio.wrap_future(f) for f in racing))

    await first.expect("PAYMENT_SUCCESS")
    command = await first.expect("DISPENSE")

    async def all_delivered() -> bool:
        log = await sandbox.notifications(order_id)
        settled = [d for d in log if d["transaction_status"] == "settlement"]
        return len(settled) == 5 and all(d["state"] == "delivered" for d in settled)

    await wait_until(all_delivered, within=5, what="5 notifications delivered")
    await first.settle(0.3)
    assert first.count("PAYMENT_SUCCESS") == 1
    assert first.count("DISPENSE") == 1

    # A second connection of the same machine (a reloaded page) gets the command again…
    second = await kiosk(app)
    state = await second.expect("STATE")
    assert state["screen"] == "dispensing"
    assert (await second.expect("DISPENSE"))["dispense_id"] == command["dispense_id"]
    # …and a reconnect after both are gone, once more, with the same dispense_id.
    await first.close()
    await second.close()
    third = await kiosk(app)
    await third.expect("STATE")
    assert (await third.expect("DISPENSE"))["dispense_id"] == command["dispense_id"]

    await third.send("DISPENSE_RESULT", result(command, True))
    assert await third.expect("DISPENSED") == {"order_id": order_id}
    await third.settle(0.3)
    for connection in (first, second, third):
        assert connection.count("DISPENSE") == 1
    # Only the connection that was there when the payment arrived is told of it.
    assert [c.count("PAYMENT_SUCCESS") for c in (first, second, third)] == [1, 0, 0]
    assert third.count("DISPENSED") == 1

    assert await dispenses(app, order_id) == [{"status": "dispensed", "commands": 3, "slot": "A2"}]
    assert await order_status(http, order_id) == "fulfilled"

    async def history() -> tuple[int, int]:
        async with app.context.db.session() as session:
            paid = await session.execute(
                select(func.count())
                .select_from(OrderEvent)
                .where(
                    OrderEvent.order_id == order_id,
                    OrderEvent.to_status == "paid",
                    OrderEvent.from_status == "pending",
                )
            )
            kept = await session.execute(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.order_id == order_id,
                    Notification.transaction_status == "settlement",
                )
            )
            return int(paid.scalar_one()), int(kept.scalar_one())

    paid_once, notifications = await app.run(history())
    assert paid_once == 1
    assert notifications == 1  # five identical settlement deliveries, one inbox row


async def test_payment_while_offline_is_dispensed_on_reconnect(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    app = start_app(bayar_dispense_timeout=LONG_TIMEOUT)
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "kopi-susu"}, "ORDER_CREATED"))["order_id"]
    await k.close()  # the kiosk goes offline

    await sandbox.act(order_id, "pay")
    deadline = asyncio.get_running_loop().time() + 5
    while await order_status(http, order_id) != "paid":
        assert asyncio.get_running_loop().time() < deadline, "never paid"
        await asyncio.sleep(0.05)
    # Nobody to command yet, but the unit is on the books from the moment it was paid.
    assert await dispenses(app, order_id) == [{"status": "pending", "commands": 0, "slot": "B1"}]

    back = await kiosk(app)
    state = await back.expect("STATE")
    assert back.events()[0] == "STATE"
    assert state["screen"] == "dispensing"
    assert state["order"]["order_id"] == order_id
    assert state["order"]["status"] == "paid"
    command = await back.expect("DISPENSE")
    assert command["order_id"] == order_id
    assert command["slot"] == "B1"
    assert command["product_id"] == "kopi-susu"
    await back.send("DISPENSE_RESULT", result(command, True))
    assert await back.expect("DISPENSED") == {"order_id": order_id}
    assert await order_status(http, order_id) == "fulfilled"
    assert back.count("DISPENSE") == 1


async def test_reconnect_while_commanded_resends_and_a_double_answer_counts_once(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    app = start_app(bayar_dispense_timeout=LONG_TIMEOUT)
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    k = await kiosk(app)
    command = await paid_and_commanded(k, sandbox)
    order_id = command["order_id"]
    await k.close()

    again = await kiosk(app)
    state = await again.expect("STATE")
    assert state["screen"] == "dispensing"
    assert state["order"]["dispense"] == {
        "dispense_id": command["dispense_id"],
        "status": "commanded",
    }
    assert await again.expect("DISPENSE") == command  # the same command, same dispense_id

    # The machine answers the repeated command (as the protocol asks) and the first one too.
    await again.send("DISPENSE_RESULT", result(command, True))
    await again.send("DISPENSE_RESULT", result(command, True))
    assert await again.expect("DISPENSED") == {"order_id": order_id}
    await again.settle(0.4)
    assert again.count("DISPENSED") == 1
    assert again.count("DISPENSE") == 1
    assert again.count("ERROR") == 0
    assert await dispenses(app, order_id) == [{"status": "dispensed", "commands": 2, "slot": "A1"}]
    assert await order_status(http, order_id) == "fulfilled"

    # Done: a later connection is on the home screen and is not told to dispense.
    later = await kiosk(app)
    assert (await later.expect("STATE"))["screen"] == "home"
    await later.settle(0.3)
    assert later.count("DISPENSE") == 0


async def test_result_for_an_order_never_commanded_is_ignored(
    app: LiveApp, kiosk: ConnectKiosk, http: httpx.AsyncClient
) -> None:
    k = await kiosk(app)
    await k.expect("STATE")
    order_id = (await k.ask("ORDER", {"id": "cola"}, "ORDER_CREATED"))["order_id"]
    await k.send(
        "DISPENSE_RESULT", {"order_id": order_id, "dispense_id": f"dsp-{order_id}", "ok": False}
    )
    await k.send("DISPENSE_RESULT", {"order_id": "BYR-NOPE", "dispense_id": "x", "ok": True})
    assert await k.ask("PING", answer="PONG") == {}
    await k.settle(0.3)
    assert k.count("REFUNDED") == k.count("DISPENSED") == k.count("MANUAL_REFUND") == 0
    assert await order_status(http, order_id) == "pending"
    assert await dispenses(app, order_id) == []


# -- refunds the gateway does not make ------------------------------------------------------------


async def test_refund_meeting_an_unreachable_gateway_is_retried_by_the_sweep(
    db_settings: dict[str, Any],
    start_app: StartApp,
    kiosk: ConnectKiosk,
    sandbox_of: SandboxOf,
    http_for: HttpFor,
) -> None:
    app = start_app(run_worker=False, bayar_dispense_timeout=LONG_TIMEOUT, **db_settings)
    http = await http_for(app)
    sandbox = sandbox_of(http, app)
    k = await kiosk(app)
    command = await paid_and_commanded(k, sandbox)
    order_id = command["order_id"]

    await sandbox.fault("api_error", status=503, count=1)
    await k.send("DISPENSE_RESULT", result(command, False, "no drop sensed"))
    deadline = asyncio.get_running_loop().time() + 5
    while await dispense_status(app, order_id) != "refund_retry":
        assert asyncio.get_running_loop().time() < deadline, "never refund_retry"
        await asyncio.sleep(0.05)
    assert await refunds(app, order_id) == [
        {"status": "unknown", "amount": 7000, "key": f"dispense-{order_id}"}
    ]
    assert (await sandbox.status(order_id))["transaction_status"] == "settlement"
    assert (await k.ask("STATE"))["screen"] == "refunding"
    assert k.count("REFUNDED") == k.count("MANUAL_REFUND") == 0

    # Still unreachable on the next sweep: still to retry, never "failed".
    await sandbox.fault("api_error", status=502, count=1)
    assert await sweep(app) == 1
    assert await dispense_status(app, order_id) == "refund_retry"
    assert k.count("REFUNDED") == 0

    # The gateway is back: the sweep refunds, once.
    assert await sweep(app) == 1
    assert await k.expect("REFUNDED") == {"order_id": order_id, "amount": 7000}
    assert await dispense_status(app, order_id) == "refunded"
    assert await order_status(http, order_id) == "refunded"
    assert await refunds(app, order_id) == [
        {"status": "succeeded", "amount": 7000, "key": f"dispense-{order_id}"}
    ]
    gateway = await sandbox.status(order_id)
    assert gateway["transaction_status"] == "refund"
    assert len(gateway.get("refunds", [])) == 1
    assert await sweep(app) == 0
    await k.settle(0.3)
    assert k.count("REFUNDED") == 1
    assert (await k.ask("STATE"))["screen"] == "home"


async def test_refund_refused_by_the_gateway_needs_a_person(
    app: LiveApp, kiosk: ConnectKiosk, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    """The gateway refuses definitely when nothing is left to refund: here staff refunded the
    payment at the gateway's dashboard and bayar did not hear of it (both notifications lost)."""
    k = await kiosk(app)
    command = await paid_and_commanded(k, sandbox)
    order_id = command["order_id"]

    await sandbox.fault("drop", count=2)  # Midtrans notifies a refund twice
    staff = await sandbox.refund(order_id, "staff-at-the-dashboard")
    assert staff["status_code"] == "200", staff
    assert await order_status(http, order_id) == "paid"  # bayar does not know

    await k.send("DISPENSE_RESULT", result(command, False, "jammed"))
    assert await k.expect("MANUAL_REFUND") == {"order_id": order_id, "amount": 7000}
    assert await dispense_status(app, order_id) == "manual_refund"
    assert await refunds(app, order_id) == [
        {"status": "manual", "amount": 7000, "key": f"dispense-{order_id}"}
    ]
    assert len((await sandbox.status(order_id)).get("refunds", [])) == 1  # only the staff's
    state = await k.ask("STATE")
    assert state["screen"] == "home"  # a person takes it from here
    await k.settle(0.3)
    assert k.count("REFUNDED") == 0
    assert k.count("MANUAL_REFUND") == 1
    assert await sweep(app) == 0  # manual_refund is final for the machine


# -- the one manual-refund queue ----------------------------------------------------------------------


async def admin_login(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/login")
    token = CSRF.search(page.text)
    assert token is not None
    answer = await http.post(
        "/admin/login", data={"password": ADMIN_PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text


async def resolve_by_hand(http: httpx.AsyncClient, refund_key: str, note: str) -> str:
    """Press "Refunded by hand" on the admin's manual-refund page: the flash message shown."""
    page = await http.get("/admin/refunds/manual")
    token = CSRF.search(page.text)
    assert token is not None
    answer = await http.post(
        f"/admin/refunds/manual/{refund_key}/resolve",
        data={"note": note, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    shown = await http.get(answer.headers["location"])
    assert shown.status_code == 200
    flash = FLASH.search(shown.text)
    assert flash is not None
    return html.unescape(flash.group(1))


async def test_a_refused_kiosk_refund_is_queued_once_and_resolved_by_hand(
    start_app: StartApp, kiosk: ConnectKiosk, sandbox_of: SandboxOf, http_for: HttpFor
) -> None:
    """The unit's refund the gateway refuses is one `manual` refund in the admin's one queue
    (beside the shop's); "refunded by hand" there refunds the order and closes the dispense by
    the core's one path, once."""
    app = start_app(run_worker=False, bayar_admin_password=ADMIN_PASSWORD)
    http = await http_for(app)
    http.headers["Accept-Language"] = "en"  # the admin's English words, which this test reads
    sandbox = sandbox_of(http, app)
    k = await kiosk(app)
    command = await paid_and_commanded(k, sandbox)
    order_id, key = command["order_id"], f"dispense-{command['order_id']}"
    await sandbox.fault("drop", count=2)  # staff refunded it at the dashboard, unheard of
    assert (await sandbox.refund(order_id, "staff"))["status_code"] == "200"

    await k.send("DISPENSE_RESULT", result(command, False, "jammed"))
    assert await k.expect("MANUAL_REFUND") == {"order_id": order_id, "amount": 7000}
    # Queued again (a retry after a crash): still one refund waiting.
    await app.run(
        app.context.payments.refunds.queue_manual_refund(
            order_id, refund_key=key, reason="dispense failed", detail="refused again"
        )
    )

    waiting, _ = await app.run(queries.manual_refunds(app.context.db))
    assert [(w.order_id, w.refund_key, w.amount) for w in waiting] == [(order_id, key, 7000)]
    await admin_login(http)
    page = (await http.get("/admin/refunds/manual")).text
    assert page.count(f'data-order="{order_id}"') == 1
    dashboard = (await http.get("/admin")).text
    assert f'data-order="{order_id}" data-kind="manual_refund"' in dashboard

    shown = await resolve_by_hand(http, key, "cash from the till")

    assert shown == f"{order_id}: Rp 7.000 marked as refunded by hand."
    assert await order_status(http, order_id) == "refunded"
    assert await dispense_status(app, order_id) == "refunded"
    assert await refunds(app, order_id) == [{"status": "succeeded", "amount": 7000, "key": key}]
    waiting, resolved = await app.run(queries.manual_refunds(app.context.db))
    assert waiting == []
    assert [r.order_id for r in resolved] == [order_id]
    assert f'data-order="{order_id}"' not in (await http.get("/admin")).text

    again = await resolve_by_hand(http, key, "twice")

    assert again.startswith("Not marked: this refund is not waiting for a person any more")
    assert await refunds(app, order_id) == [{"status": "succeeded", "amount": 7000, "key": key}]
    await k.settle(0.3)
    assert k.count("REFUNDED") == 0  # its customer left long ago
    assert await sweep(app) == 0
