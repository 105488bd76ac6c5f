"""Gateway notifications (DESIGN rule 4): verify the signature on the exact strings received, keep
the raw body in the inbox once per dedupe key, act only on a new row, and answer fast.

A signature covers only some fields (Midtrans: order_id, status_code and gross_amount). A body
whose parts contradict each other is refused; every notification that would change an order is
confirmed with the gateway's status API (outside any database transaction) and the order is
moved by that answer; payment instructions are never taken from a notification. Bodies that are not signed (or not readable)
are kept as metadata and a capped prefix, never whole.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from bayar.gateways.base import (
    Gateway,
    GatewayError,
    GatewayReport,
    NotificationMismatch,
    TransactionNotFound,
)
from bayar.payments.audit import HeldCalls, held_calls
from bayar.payments.service import PaymentsService
from bayar.payments.verdicts import Applied, Screening, without_instructions
from bayar.storage.db import lost_connection
from bayar.storage.inbox import InboxStore
from bayar.storage.order_facts import AsRead
from bayar.storage.order_writes import OrderWrites

log = logging.getLogger("bayar.payments.inbox")
KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for", "x-real-ip")
# What is kept of a body whose signature does not hold (or that cannot be read): its size,
# digest and headers, and this much of its text.
UNSIGNED_PREFIX = 2048
# The inbox's text columns (the order id, the gateway's status word): longer values are cut.
ORDER_ID_MAX, STATUS_MAX = 64, 32
MAX_HEADER = 200


@dataclass(frozen=True)
class Receipt:
    """The answer to give the gateway, and what became of the notification."""

    http_status: int
    outcome: str
    order_id: str | None = None
    detail: str | None = None


def dedupe_key(raw: bytes, body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    # A retried notification repeats the same bytes; a different body is a different fact.
    return raw_key(raw)


def raw_key(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# What makes two notifications one (the inbox's unique key): (raw body, parsed body, headers).
DedupeKey = Callable[[bytes, Mapping[str, Any], Mapping[str, str]], str]


def _storable(text: str) -> str:
    # PostgreSQL's text cannot hold NUL.
    return text.replace("\x00", "\ufffd")


class Inbox:
    """The notifications of one gateway (`gateway`: its adapter; None: the service's default),
    deduplicated by `key`."""

    def __init__(
        self,
        service: PaymentsService,
        gateway: Gateway | None = None,
        *,
        key: DedupeKey = dedupe_key,
    ) -> None:
        self.service = service
        self.gateway: Gateway = gateway or service.gateway
        self.key = key
        self.store = InboxStore(service.db)

    async def receive(self, raw: bytes, headers: Mapping[str, str], body: Any) -> Receipt:
        """`body`: `raw` as JSON, parsed once by the edge (None: not JSON)."""
        receipt = await self._receive(raw, headers, body)
        self.service.metrics.notifications.labels(receipt.outcome).inc()
        return receipt

    async def _receive(self, raw: bytes, headers: Mapping[str, str], body: Any) -> Receipt:
        gateway = self.gateway
        kept = {
            k: _storable(v[:MAX_HEADER]) for k, v in headers.items() if k.lower() in KEPT_HEADERS
        }
        if not isinstance(body, dict):
            await self._keep(raw, kept, None, signed=False, outcome="malformed")
            return Receipt(400, "malformed", detail="the body is not a JSON object")
        order_id = gateway.notification_labels(body)[0]
        if not gateway.verify_notification(body, headers):
            await self._keep(raw, kept, body, signed=False, outcome="bad_signature")
            log.warning("notification with a bad signature refused", extra={"order_id": order_id})
            detail = "the signature or callback token does not match"
            return Receipt(401, "bad_signature", order_id, detail)
        try:
            status = gateway.parse_notification(body)
        except NotificationMismatch as error:
            await self._keep(raw, kept, body, signed=True, outcome="status_mismatch")
            log.warning("notification refused: %s", error, extra={"order_id": order_id})
            return Receipt(400, "status_mismatch", order_id, str(error))
        except (ValueError, KeyError, TypeError) as error:
            await self._keep(raw, kept, body, signed=True, outcome="malformed")
            return Receipt(400, "malformed", order_id, f"unreadable notification: {error}")
        try:
            return await self._take(raw, kept, body, status, headers)
        except DBAPIError as error:
            if not lost_connection(error):
                raise
            # A pooled connection had died (the database restarted) and the transaction with
            # it; the pool is renewed: once more, rather than a 500 and Midtrans' retry later.
            return await self._take(raw, kept, body, status, headers)

    async def _take(
        self,
        raw: bytes,
        headers: dict[str, str],
        body: dict[str, Any],
        status: GatewayReport,
        received: Mapping[str, str],
    ) -> Receipt:
        """Recognise the duplicate, or judge the body against its order as read; keep it with
        that outcome (and the order flagged for the worker when it goes on, in the same
        statement); then confirm with the gateway outside any transaction where the body could
        change the order, and apply in one transaction that also records the outcome."""
        key = self.key(raw, body, received)
        order_id = status.order_id
        service = self.service
        async with self.store.visit() as inbox:
            look = await inbox.look(key, order_id)
            if look.seen:
                return Receipt(200, "duplicate", order_id)
            screening = service.screen(look.order, look.payment, status)
            receipt = self._screened(status, screening)
            goes_on = screening.known and screening.applied is None
            row = await inbox.keep(
                self._values(raw, headers, body, key, signed=True, outcome=receipt.outcome),
                flag=order_id if goes_on else None,
                at=service.now() + service.policy.confirm_deadline if goes_on else None,
            )
        if row is None:  # the same body, kept by a request that ran alongside this one
            return Receipt(200, "duplicate", order_id)
        if not goes_on:
            return receipt
        as_read = inbox.as_read
        if screening.confirm:
            gateway = look.payment.gateway if look.payment else None
            return await self._confirm(row, status, gateway, as_read)
        return await self._apply(row, status, without_instructions(status), as_read=as_read)

    async def _confirm(
        self, row: int, claimed: GatewayReport, gateway: str | None, as_read: AsRead | None
    ) -> Receipt:
        """The status API has the last word (reference 3.9): the order moves by its answer.
        `gateway`: the order's, as the look read it (None: read it again); `as_read`: the order
        and its payment as the look and keep left them. The call's audit row is written with
        the notification's outcome."""
        order_id = claimed.order_id
        async with held_calls() as calls:
            try:
                confirmed = await self.service.gateway_status(order_id, gateway)
            except TransactionNotFound:
                detail = "the gateway has no such transaction"
                receipt = Receipt(200, "not_confirmed", order_id, detail)
                return await self._finish(row, order_id, receipt, calls)
            except GatewayError as error:
                # The order is flagged: the worker asks again soon; Midtrans need not retry.
                log.warning(
                    "notification not confirmed yet: %s", error, extra={"order_id": order_id}
                )
                receipt = Receipt(200, "unconfirmed", order_id)
                return await self._finish(row, order_id, receipt, calls)
            if confirmed.order_id != order_id:
                detail = "the status API answered about another order"
                receipt = Receipt(200, "not_confirmed", order_id, detail)
                return await self._finish(row, order_id, receipt, calls)
            return await self._apply(row, claimed, confirmed, calls, as_read)

    async def _apply(
        self,
        row: int,
        claimed: GatewayReport,
        report: GatewayReport,
        calls: HeldCalls | None = None,
        as_read: AsRead | None = None,
    ) -> Receipt:
        """`report` (the status API's answer, or the body when it needs none) by the one path,
        in one transaction with the notification's outcome (and the audit rows of the call
        that brought `report`); the worker need not look again at an order it leaves closed."""
        receipt = Receipt(200, "unknown_order", claimed.order_id)  # unless `finish` runs

        def finish(applied: Applied | None, writes: OrderWrites) -> None:
            nonlocal receipt  # the last run's: the apply may run twice (`Database.quick`)
            receipt = self._receipt(report, applied)
            said = (claimed.event, claimed.gateway_status)
            if claimed.event is None and claimed.refunds:  # a refund's news, as listed?
                confirmed = set(claimed.refunds) <= set(report.refunds)
                detail = "the gateway does not list the refund so"
            else:
                confirmed = (report.event, report.gateway_status) == said
                detail = f"the gateway says {report.gateway_status}"
            if not confirmed and receipt.outcome in ("no_change", "ignored"):
                receipt = Receipt(200, "not_confirmed", claimed.order_id, detail)
            writes.outcome(row, receipt.outcome)
            if applied is not None:  # a move clears the flag itself
                writes.done_checking()

        await self.service.apply_status(
            report, source="webhook", finish=finish, calls=calls, as_read=as_read
        )
        return receipt

    async def _finish(self, row: int, order_id: str, receipt: Receipt, calls: HeldCalls) -> Receipt:
        """A notification its order never saw applied: its outcome, and the call's audit row."""
        audited = calls.rows()
        writes = OrderWrites(order_id)
        writes.outcome(row, receipt.outcome)
        writes.gateway_calls(audited)
        async with self.service.db.transaction() as tx:
            await writes.flush(tx.conn)
        calls.written(audited)
        return receipt

    @classmethod
    def _screened(cls, status: GatewayReport, screening: Screening) -> Receipt:
        if not screening.known:
            log.info("notification for an unknown order", extra={"order_id": status.order_id})
            return Receipt(200, "unknown_order", status.order_id)
        if screening.applied is None:
            return Receipt(200, "confirming" if screening.confirm else "applying", status.order_id)
        return cls._receipt(status, screening.applied)

    @staticmethod
    def _receipt(status: GatewayReport, applied: Applied | None) -> Receipt:
        if applied is None:
            return Receipt(200, "unknown_order", status.order_id)
        if applied.mismatch:
            return Receipt(422, "amount_mismatch", status.order_id, applied.note)
        if applied.ignored:
            return Receipt(200, "ignored", status.order_id, applied.note)
        return Receipt(200, "applied" if applied.changed else "no_change", status.order_id)

    async def _keep(
        self,
        raw: bytes,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        *,
        signed: bool,
        outcome: str,
    ) -> None:
        values = self._values(raw, headers, body, raw_key(raw), signed=signed, outcome=outcome)
        await self.store.keep(values)

    def _values(
        self,
        raw: bytes,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        key: str,
        *,
        signed: bool,
        outcome: str,
    ) -> dict[str, Any]:
        order_id, status = self.gateway.notification_labels(body) if body else (None, None)
        # Only a signed body is kept whole (Midtrans' own, a few KB); anyone can send the rest.
        kept = raw if signed else raw[:UNSIGNED_PREFIX]
        return {
            "dedupe_key": key,
            "order_id": None if order_id is None else _storable(order_id[:ORDER_ID_MAX]),
            "transaction_status": None if status is None else _storable(status[:STATUS_MAX]),
            "body": _storable(kept.decode("utf-8", "replace")),
            "body_bytes": len(raw),
            "headers": headers,
            "signature_valid": signed,
            "outcome": outcome,
            "received_at": self.service.now(),
        }
