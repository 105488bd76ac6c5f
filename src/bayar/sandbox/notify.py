"""Signed HTTP notifications, delivered and retried the way Midtrans does (reference 3.9), and
Xendit's callbacks the way Xendit does (xendit reference §5.2).

Retries follow Midtrans' rules per response code and its schedule (2, 10, 30, 90, 210 minutes, each
with jitter up to the interval), measured on the sandbox clock so a time scale speeds them up.
Notifications of one transaction go out one at a time, in order; different transactions in parallel.
Midtrans queues the notifications a call causes, so the caller always has the call's answer first:
those queued while a request is handled (`holding`) leave the queue only once its answer has gone
out, and a moment later (`QUEUE_LATENCY`, real time): the caller's own code stores the answer in
that moment, as it does in the seconds Midtrans' queue takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.faults import NOTIFICATION_FAULTS, Faults
from bayar.sandbox.model import Attempt, Delivery, Transaction
from bayar.sandbox.store import SandboxStore

log = logging.getLogger("bayar.sandbox.notify")

RETRY_MINUTES = (2, 10, 30, 90, 210)
# How many retries each answer earns; anything else (timeouts too) gets the full five.
RETRIES_BY_STATUS = {500: 1, 503: 4, 400: 2, 404: 2, 301: 0, 302: 0, 303: 0}
MAX_REDIRECTS = 5
STOP_GRACE = 5.0  # seconds a stopping sandbox lets the deliveries under way finish
# Deliveries on the wire at once; the rest wait their turn in due order. Unbounded, a wave of
# thousands (a bench paying its orders) queued inside httpx's pool, whose bookkeeping grows with
# the queue on every answer, and the sandbox had no time left to answer status calls.
MAX_IN_FLIGHT = 32
# How long (real seconds) after a call's answer has gone out its notifications leave the queue:
# time for the caller to read and store the answer (Midtrans' own queue takes seconds).
QUEUE_LATENCY = 0.25
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": "Veritrans",
}
# Xendit: a failed callback is retried 6 times over 24 hours, at these intervals after the one
# before, without jitter; a delivery that timed out is not retried (only resent by hand).
XENDIT_RETRY_MINUTES = (15, 45, 120, 180, 360, 720)


@dataclass
class _Hold:
    """The notifications queued while one request is handled, held until its answer has gone out."""

    owner: Notifier
    ids: list[str] = field(default_factory=list)
    open: bool = True


# The hold of the request being handled; tasks a request starts share it (contextvars copy).
_HOLD: ContextVar[_Hold | None] = ContextVar("bayar_sandbox_notification_hold", default=None)


class Notifier:
    def __init__(
        self,
        store: SandboxStore,
        clock: SandboxClock,
        faults: Faults,
        *,
        default_url: Callable[[], str | None],
        timeout: float,
        xendit_token: Callable[[], str] = lambda: "",
        jitter: bool,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        local: tuple[str, httpx.AsyncBaseTransport] | None = None,
        queue_latency: float = QUEUE_LATENCY,
    ) -> None:
        self._store = store
        self._queue_latency = queue_latency
        self._clock = clock
        self._faults = faults
        self._default_url = default_url
        self._xendit_token = xendit_token
        self._timeout = timeout
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._transport = transport
        # URLs under this prefix are the embedding application's own: delivered in-process.
        self._local = local
        self._local_client: httpx.AsyncClient | None = None
        self._seq = itertools.count()
        self._order: dict[str, int] = {}
        self._busy: set[str] = set()
        # Deliveries a request queued: None while its answer has not gone out, then the sandbox
        # time they may leave the queue. Until then they, and later ones of their transaction, wait.
        self._gates: dict[str, float | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        # The deliveries still to send, so the loop need not walk every one ever made.
        self._queued: dict[str, Delivery] = {}
        for delivery in store.deliveries.values():
            self._order[delivery.id] = next(self._seq)
            if delivery.state == "queued":
                self._queued[delivery.id] = delivery
        clock.on_change(self._wake.set)

    # -- queueing ---------------------------------------------------------------------------------

    def urls_for(self, txn: Transaction) -> list[str]:
        if txn.override_urls:
            return list(txn.override_urls)
        default = self._default_url()
        return ([default] if default else []) + list(txn.append_urls)

    def enqueue(self, txn: Transaction, body: dict[str, Any]) -> list[Delivery]:
        """Queue the notification of the transaction's current state to each of its URLs."""
        urls = self.urls_for(txn)
        if not urls:
            log.info("no notification URL for order %s; nothing sent", txn.order_id)
        return self._enqueue(txn.transaction_id, txn.order_id, txn.transaction_status, urls, body)

    def enqueue_xendit(
        self, object_id: str, reference: str, status: str, url: str | None, body: dict[str, Any]
    ) -> list[Delivery]:
        """Queue a Xendit callback (an invoice, payment request or refund in `status`) to `url`."""
        if not url:
            log.info("no Xendit callback URL for %s; nothing sent", reference)
            return []
        return self._enqueue(object_id, reference, status, [url], body, gateway="xendit")

    def _enqueue(
        self,
        key: str,
        reference: str,
        status: str,
        urls: list[str],
        body: dict[str, Any],
        gateway: str = "midtrans",
    ) -> list[Delivery]:
        raw = json.dumps(body, separators=(",", ":"))
        fault = self._faults.take(NOTIFICATION_FAULTS)
        now = self._clock.timestamp()
        # Xendit's stale callback may be another object's of the same order (an earlier invoice
        # of the same external_id, the invoice a refund is for): its reference's log.
        previous = self.log_for(reference if gateway == "xendit" else key)
        event_id = uuid.uuid4().hex if gateway == "xendit" else ""
        created: list[Delivery] = []
        for url in urls:
            copies = fault.copies if fault and fault.kind == "duplicate" else 1
            for _ in range(copies):
                delivery = self._new(key, reference, url, raw, now, status, gateway, event_id)
                if fault and fault.kind == "drop":
                    delivery.state = "dropped"
                    delivery.attempts.append(
                        Attempt(at=now, outcome="dropped", detail="fault drill")
                    )
                elif fault and fault.kind == "delay":
                    delivery.due_at = now + fault.seconds
                created.append(delivery)
            if fault and fault.kind == "out_of_order":
                stale = [d for d in previous if d.url == url and d.transaction_status != status]
                if stale:
                    # The older notification arrives again after the newer one.
                    old = stale[-1]
                    created.append(
                        self._new(
                            key,
                            reference,
                            url,
                            old.body,
                            now,
                            old.transaction_status,
                            gateway,
                            old.event_id,
                        )
                    )
        hold = _HOLD.get()
        for delivery in created:
            self._save(delivery)
            if hold is not None and hold.open and hold.owner is self and delivery.state == "queued":
                hold.ids.append(delivery.id)
                self._gates[delivery.id] = None
        self._wake.set()
        return created

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Notifications queued inside the block (the handling of one request, and whatever it
        starts) wait until the block ends: then the request's answer has gone out, or the caller
        gave up on it. Either way the change happened, so they are sent then."""
        hold = _Hold(self)
        token = _HOLD.set(hold)
        try:
            yield
        finally:
            _HOLD.reset(token)
            hold.open = False
            leave_at = self._clock.timestamp() + self._queue_latency * self._clock.scale
            for id_ in hold.ids:
                if id_ in self._gates:
                    self._gates[id_] = leave_at
            if hold.ids:  # most requests (a status call) queue nothing: no need to look
                self._wake.set()

    def enqueue_account(
        self, account_id: str, status: str, body: dict[str, Any], url: str | None = None
    ) -> Delivery | None:
        """Queue a GoPay account's notification (accounts.py) to `url`, else to the payment
        notification URL."""
        url = url or self._default_url()
        if not url:
            log.info("no notification URL for account %s; nothing sent", account_id)
            return None
        now = self._clock.timestamp()
        delivery = Delivery(
            id=uuid.uuid4().hex,
            transaction_id=account_id,
            order_id=account_id,
            url=url,
            body=json.dumps(body, separators=(",", ":")),
            created_at=now,
            transaction_status=status,
            due_at=now,
        )
        self._order[delivery.id] = next(self._seq)
        self._save(delivery)
        self._wake.set()
        return delivery

    def _new(
        self,
        key: str,
        reference: str,
        url: str,
        raw: str,
        now: float,
        status: str,
        gateway: str,
        event_id: str,
    ) -> Delivery:
        delivery = Delivery(
            id=uuid.uuid4().hex,
            transaction_id=key,
            order_id=reference,
            url=url,
            body=raw,
            created_at=now,
            transaction_status=status,
            due_at=now,
            gateway=gateway,
            event_id=event_id,
        )
        self._order[delivery.id] = next(self._seq)
        return delivery

    def log_for(self, id_: str) -> list[Delivery]:
        """Every delivery of a transaction (by transaction_id or order_id), oldest first."""
        found = [
            d for d in self._store.deliveries.values() if id_ in (d.transaction_id, d.order_id)
        ]
        return sorted(found, key=lambda d: self._order.get(d.id, 0))

    def _save(self, delivery: Delivery) -> None:
        self._store.save_delivery(delivery)
        if delivery.state == "queued":
            self._queued[delivery.id] = delivery

    def pending(self) -> list[Delivery]:
        """The deliveries still queued (the ones sent, given up or reset away are forgotten)."""
        kept = self._store.deliveries
        for gone in [
            i for i, d in self._queued.items() if d.state != "queued" or kept.get(i) is not d
        ]:
            del self._queued[gone]
        return list(self._queued.values())

    # -- the delivery loop -----------------------------------------------------------------------

    async def start(self) -> None:
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        if self._local is not None:
            self._local_client = httpx.AsyncClient(transport=self._local[1], follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="sandbox-notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A delivery under way is let finish (briefly): cut in the middle, the receiver (bayar,
        # in the same process) would be cancelled inside its own transaction.
        if self._sending:
            await asyncio.wait(list(self._sending), timeout=STOP_GRACE)
        for task in list(self._sending):
            task.cancel()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        for client in (self._client, self._local_client):
            if client is not None:
                await client.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self._clock.timestamp()
            next_due: float | None = None
            waiting: set[str] = set()  # transactions whose next notification is still queued
            for gone in [i for i in self._gates if i not in self._store.deliveries]:
                del self._gates[gone]  # the sandbox was reset
            for delivery in sorted(
                self.pending(), key=lambda d: (d.due_at, self._order.get(d.id, 0))
            ):
                if delivery.transaction_id in self._busy or delivery.transaction_id in waiting:
                    continue
                if delivery.id in self._gates:
                    leave_at = self._gates[delivery.id]
                    if leave_at is None or leave_at > now:
                        waiting.add(delivery.transaction_id)  # its later ones stay behind it
                        if leave_at is not None:
                            next_due = leave_at if next_due is None else min(next_due, leave_at)
                        continue
                    del self._gates[delivery.id]
                if delivery.due_at > now:
                    next_due = (
                        delivery.due_at if next_due is None else min(next_due, delivery.due_at)
                    )
                    continue
                if len(self._sending) >= MAX_IN_FLIGHT:
                    break  # a delivery ending wakes this loop again
                self._busy.add(delivery.transaction_id)
                task = asyncio.create_task(self._send(delivery))
                self._sending.add(task)
                task.add_done_callback(self._sent)
            wait = None if next_due is None else self._clock.real_seconds_until(next_due)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wake.set()  # its place on the wire is free

    async def _send(self, delivery: Delivery) -> None:
        try:
            status, outcome, detail = await self._post(delivery)
            self._record(delivery, status, outcome, detail)
        except Exception:
            log.exception("notification delivery %s crashed", delivery.id)
            self._record(delivery, None, "error", "sandbox error while sending")
        finally:
            self._busy.discard(delivery.transaction_id)
            self._wake.set()

    async def _post(self, delivery: Delivery) -> tuple[int | None, str, str]:
        url = delivery.url
        for _ in range(MAX_REDIRECTS + 1):
            local = self._local is not None and url.startswith(self._local[0])
            client = self._local_client if local else self._client
            assert client is not None
            try:
                async with asyncio.timeout(
                    self._timeout
                ):  # in-process calls have no socket timeout
                    response = await client.post(
                        url,
                        content=delivery.body.encode(),
                        headers=self._headers(delivery),
                        timeout=self._timeout,
                    )
            except (TimeoutError, httpx.TimeoutException):
                return None, "timeout", f"no answer in {self._timeout:g} s"
            except httpx.HTTPError as error:
                return None, "connection error", type(error).__name__
            if response.status_code in (307, 308) and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            return response.status_code, str(response.status_code), response.text[:200]
        return None, "redirect", f"more than {MAX_REDIRECTS} redirects"

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        if delivery.gateway != "xendit":
            return HEADERS
        # The token is read at send time, never stored with the delivery.
        return {
            "Content-Type": "application/json",
            "x-callback-token": self._xendit_token(),
            "webhook-id": delivery.event_id,
        }

    def _record(self, delivery: Delivery, status: int | None, outcome: str, detail: str) -> None:
        now = self._clock.timestamp()
        delivery.attempts.append(Attempt(at=now, outcome=outcome, detail=detail))
        if status is not None and 200 <= status < 300:
            delivery.state = "delivered"
        elif delivery.gateway == "xendit":
            if outcome != "timeout" and delivery.retries < len(XENDIT_RETRY_MINUTES):
                delivery.due_at = now + XENDIT_RETRY_MINUTES[delivery.retries] * 60.0
                delivery.retries += 1
            else:
                delivery.state = "failed"
        elif delivery.retries < self.retries_allowed(status, outcome):
            interval = RETRY_MINUTES[delivery.retries] * 60.0
            delay = self._rng.uniform(0, interval) if self._jitter else interval
            delivery.retries += 1
            delivery.due_at = now + delay
        else:
            delivery.state = "failed"
        log.info(
            "notification order=%s status=%s url=%s outcome=%s state=%s",
            delivery.order_id,
            delivery.transaction_status,
            delivery.url,
            outcome,
            delivery.state,
        )
        self._save(delivery)

    @staticmethod
    def retries_allowed(status: int | None, outcome: str) -> int:
        if outcome == "redirect":
            return 0
        if status is None:
            return len(RETRY_MINUTES)
        return RETRIES_BY_STATUS.get(status, len(RETRY_MINUTES))
