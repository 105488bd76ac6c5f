"""The drills' fixtures: the in-process app on SQLite (tests/support/harness.py), a fleet on
PostgreSQL + Redis (tests/drills/drill_fleet.py), the books (tests/drills/books.py) and the report.

`drill` is what every drill ends with: `await drill.converge(books, step)` runs `step` (a worker
pass, a clock tick) until the books balance or the deadline passes, and records one row of the
table `make drills` prints: scenario, backend, orders, wrong final states, money astray, time to
converge. Rows go to the JSON-lines file named by BAYAR_DRILL_REPORT (set by `make drills` to a
temporary file); without it nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# tests/drills' own helpers (books, fleet, steps, report), importable by their names like
# tests/support's; last on the path, so they never shadow an installed module.
sys.path.append(str(Path(__file__).parent))

from books import Audit, Books
from drill_fleet import Fleet, start_fleet
from harness import FIXTURES, Bayar, Clock, make_settings, running_bayar

from bayar.config import DEMO_SERVER_KEY, DEMO_XENDIT_SECRET_KEY

globals().update(FIXTURES)

REPORT_ENV = "BAYAR_DRILL_REPORT"
CONVERGE_WITHIN = 5.0  # seconds an in-process drill's books may take to balance
# Settings of every in-process drill: the rate limit is not what these drills are about.
DRILL_SETTINGS: dict[str, Any] = {"bayar_create_rate_limit": 100_000}


@pytest.fixture
def start_drill_bayar(
    database_url: str, tmp_path: Path, clock: Clock
) -> Callable[..., contextlib.AbstractAsyncContextManager[Bayar]]:
    """`async with start_drill_bayar(**settings) as bayar:` the in-process app for a drill."""

    def start(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Bayar]:
        settings = make_settings(database_url, tmp_path / "var", **{**DRILL_SETTINGS, **overrides})
        return running_bayar(settings, clock)

    return start


@pytest.fixture
async def bayar(
    start_drill_bayar: Callable[..., contextlib.AbstractAsyncContextManager[Bayar]],
) -> AsyncIterator[Bayar]:
    async with start_drill_bayar() as running:
        yield running


def in_process_gateway(bayar: Bayar) -> Callable[[str], Awaitable[dict[str, Any] | None]]:
    async def status(order_id: str) -> dict[str, Any] | None:
        answer = await bayar.gateway_status(order_id)
        if answer.status_code == 404:
            return None
        found: dict[str, Any] = answer.json()
        if str(found.get("status_code")) == "404":
            return None
        return found

    return status


# Xendit's statuses in the Midtrans words the books read (books.EXPECTED).
XENDIT_WORDS = {
    "PENDING": "pending",
    "REQUIRES_ACTION": "pending",
    "PAID": "settlement",
    "SETTLED": "settlement",
    "SUCCEEDED": "settlement",
    "EXPIRED": "expire",
    "FAILED": "deny",
}


def xendit_gateway(bayar: Bayar) -> Callable[[str], Awaitable[dict[str, Any] | None]]:
    """The order as the Xendit sandbox's own API tells it (its invoice, else its payment request,
    a paid one first, and their refunds), in the shape the books read."""

    async def get(path: str, **params: str) -> Any:
        answer = await bayar.client.get(
            f"/sandbox/xendit{path}", params=params, auth=(DEMO_XENDIT_SECRET_KEY, "")
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def status(order_id: str) -> dict[str, Any] | None:
        found, kind = await get("/v2/invoices", external_id=order_id), "invoice_id"
        if not found:
            found = (await get("/payment_requests", reference_id=order_id))["data"]
            kind = "payment_request_id"
        if not found:
            return None
        paid = [t for t in found if XENDIT_WORDS.get(t["status"]) == "settlement"]
        txn = (paid or found)[0]
        # Money the gateway gave back: its SUCCEEDED refunds. A PENDING one may still fail: until
        # Xendit finishes it, its money is still kept (bayar's row is pending, the order paid).
        refunds = [
            r
            for r in (await get("/refunds", **{kind: txn["id"]}))["data"]
            if r["status"] == "SUCCEEDED"
        ]
        refunded = sum(int(r["amount"]) for r in refunds)
        said = XENDIT_WORDS.get(txn["status"], txn["status"])
        if said == "settlement" and refunded:
            said = "refund" if refunded >= int(txn["amount"]) else "partial_refund"
        return {
            "transaction_status": said,
            "gross_amount": str(int(txn["amount"])),
            "refund_amount": str(refunded),
            "refunds": [{"refund_key": r.get("reference_id")} for r in refunds],
        }

    return status


def fleet_gateway(sandbox_url: str) -> Callable[[str], Awaitable[dict[str, Any] | None]]:
    async def status(order_id: str) -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=20) as client:
            answer = await client.get(
                f"{sandbox_url}/sandbox/midtrans/v2/{order_id}/status", auth=(DEMO_SERVER_KEY, "")
            )
        if answer.status_code == 404:
            return None
        found: dict[str, Any] = answer.json()
        if str(found.get("status_code")) == "404":
            return None
        return found

    return status


class Drill:
    """One drill's books and its row of the table."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.backend = "sqlite"
        self.row: dict[str, Any] | None = None

    async def books(self, bayar: Bayar) -> Books:
        """The books of the in-process app, opened now (stock as it is before the drill), read
        against the gateway it runs on."""
        if bayar.settings.bayar_gateway == "xendit":
            return await Books.open(bayar.db, xendit_gateway(bayar))
        return await Books.open(bayar.db, in_process_gateway(bayar))

    async def fleet_books(self, fleet: Fleet) -> Books:
        self.backend = "postgres+redis, 2 serve"
        return await Books.open(fleet.db, fleet_gateway(fleet.sandbox_url))

    async def converge(
        self,
        books: Books,
        step: Callable[[], Awaitable[Any]] | None = None,
        *,
        within: float = CONVERGE_WITHIN,
        pause: float = 0.05,
    ) -> Audit:
        """Run `step` until the books balance; fails with what is still wrong at the deadline."""
        started = time.monotonic()
        while True:
            if step is not None:
                await step()
            audit = await books.audit()
            elapsed = time.monotonic() - started
            if audit.ok or elapsed > within:
                self.record(audit, elapsed if audit.ok else None)
                assert audit.ok, f"the books do not balance after {elapsed:.1f} s: {audit}"
                return audit
            await asyncio.sleep(pause)

    def record(self, audit: Audit | None, converged: float | None) -> None:
        self.row = {
            "scenario": self.scenario,
            "backend": self.backend,
            "orders": None if audit is None else audit.orders,
            "wrong": None if audit is None else len(audit.wrong),
            "astray": None if audit is None else audit.astray,
            "converge": None if converged is None else round(converged, 2),
        }


@pytest.fixture
def drill(request: pytest.FixtureRequest) -> Iterator[Drill]:
    """The drill's recorder (in-process drills run on SQLite and on PostgreSQL: the harness's
    `database_url`); its row is written when the test ends (a drill that failed before
    its books is written too, with nothing counted)."""
    name = request.node.originalname
    scenario = name.removeprefix("test_").replace("_", " ").replace(" x20", " ×20")
    scenario = scenario.replace("kill 9", "kill -9")
    params = dict(request.node.callspec.params) if hasattr(request.node, "callspec") else {}
    database = params.pop("database_url", None)  # the harness's sqlite | postgres
    others = [str(v) for v in params.values()]
    if others:
        scenario += f" [{'-'.join(others)}]"
    recorder = Drill(scenario)
    if database == "postgres":
        recorder.backend = "postgres, 1 process"
    yield recorder
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    row = recorder.row or {
        "scenario": recorder.scenario,
        "backend": recorder.backend,
        "orders": None,
        "wrong": None,
        "astray": None,
        "converge": None,
    }
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


@pytest.fixture
def open_books() -> Callable[[Bayar], Awaitable[Books]]:
    """`await open_books(bayar)`: the in-process app's books, without a row in the table."""

    async def open_(bayar: Bayar) -> Books:
        return await Books.open(bayar.db, in_process_gateway(bayar))

    return open_


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A sandbox process, two `bayar serve` processes and a `bayar worker` on one fresh PostgreSQL
    database and Redis, for the drills of one module."""
    with start_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


@pytest.fixture
async def fleet_ready(fleet: Fleet) -> AsyncIterator[Fleet]:
    """The fleet with every process up (a drill before may have killed one) and the test loop's
    own database connection."""
    fleet.ensure_running()
    await fleet.connect()
    try:
        yield fleet
    finally:
        await fleet.disconnect()
