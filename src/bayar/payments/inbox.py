"""Gateway notifications (DESIGN rule 4): verify the signature on the exact strings received, keep
the raw body in the inbox once per dedupe key, act only on a new row, confirm "paid" with the
gateway's status API, and answer fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from bayar.gateways.base import GatewayError, GatewayStatus
from bayar.payments.service import Applied, PaymentsService
from bayar.payments.states import Event, gateway_event
from bayar.storage import repositories as repo
from bayar.storage.db import lost_connection
from bayar.storage.models import Order

log = logging.getLogger("bayar.payments.inbox")
KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for", "x-real-ip")


@dataclass(frozen=True)
class Receipt:
    """The answer to give the gateway, and what became of the notification."""

    http_status: int
    outcome: str
    order_id: str | None = None
    detail: str | None = None


def dedupe_key(raw: bytes) -> str:
    # A retried notification repeats the same bytes; a different body is a different fact.
    return hashlib.sha256(raw).hexdigest()


class Inbox:
    def __init__(self, service: PaymentsService) -> None:
        self.service = service

    async def receive(self, raw: bytes, headers: Mapping[str, str]) -> Receipt:
        receipt = await self._receive(raw, headers)
        self.service.metrics.notifications.labels(receipt.outcome).inc()
        return receipt

    async def _receive(self, raw: bytes, headers: Mapping[str, str]) -> Receipt:
        gateway = self.service.gateway
        kept = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            await self._keep(raw, kept, None, signature_valid=False, outcome="malformed")
            return Receipt(400, "malformed", detail="the body is not a JSON object")
        order_id = body.get("order_id") if isinstance(body.get("order_id"), str) else None
        if not gateway.verify_notification(body):
            await self._keep(raw, kept, body, signature_valid=False, outcome="bad_signature")
            log.warning("notification with a bad signature refused", extra={"order_id": order_id})
            return Receipt(401, "bad_signature", order_id, "signature_key does not match")
        try:
            status = gateway.parse_notification(body)
        except (ValueError, KeyError, TypeError) as error:
            await self._keep(raw, kept, body, signature_valid=True, outcome="malformed")
            return Receipt(400, "malformed", order_id, f"unreadable notification: {error}")
        event = gateway_event(status.transaction_status, status.fraud_status)
        if event == Event.PAYMENT_SUCCEEDED and self.service.confirm_paid:
            return await self._confirmed(raw, kept, body, status)
        try:
            return await self._apply(raw, kept, body, status)
        except DBAPIError as error:
            if not lost_connection(error):
                raise
            # A pooled connection had died (the database restarted) and the transaction with
            # it; the pool is renewed: once more, rather than a 500 and Midtrans' retry later.
            return await self._apply(raw, kept, body, status)

    async def _apply(
        self, raw: bytes, headers: dict[str, str], body: dict[str, Any], status: GatewayStatus
    ) -> Receipt:
        """The inbox row and its effect, in one transaction."""
        async with self.service.db.engine.begin() as conn:
            row = await self._insert(conn, raw, headers, body, outcome="received")
            if row is None:
                return Receipt(200, "duplicate", status.order_id)
            applied = await self.service.apply_webhook(conn, status)
            receipt = self._receipt(status, applied)
            await repo.set_notification_outcome(conn, row, receipt.outcome)
        if applied is not None and applied.changed:
            await self.service.publish(applied)
        return receipt

    async def _confirmed(
        self, raw: bytes, headers: dict[str, str], body: dict[str, Any], status: GatewayStatus
    ) -> Receipt:
        """A body saying "paid" is a hint: the status API has the last word (reference 3.9)."""
        async with self.service.db.session() as session, session.begin():
            row = await self._insert(session, raw, headers, body, outcome="confirming")
            order = await session.get(Order, status.order_id)
        if row is None:
            return Receipt(200, "duplicate", status.order_id)
        if order is None:
            return await self._finish(row, Receipt(200, "unknown_order", status.order_id))
        mismatch = PaymentsService.mismatch(order, status)
        if mismatch is not None:
            log.warning("paid notification refused: %s", mismatch, extra={"order_id": order.id})
            return await self._finish(row, Receipt(422, "amount_mismatch", order.id, mismatch))
        try:
            confirmed = await self.service.gateway_status(status.order_id)
        except GatewayError as error:
            # Reconciliation asks again soon; Midtrans need not retry.
            log.warning(
                "paid notification not confirmed yet: %s",
                error,
                extra={"order_id": status.order_id},
            )
            return await self._finish(row, Receipt(200, "unconfirmed", status.order_id))
        if (
            confirmed.order_id != status.order_id
            or confirmed.transaction_id != status.transaction_id
        ):
            return await self._finish(
                row, Receipt(200, "not_confirmed", status.order_id, "the status API disagrees")
            )
        applied = await self.service.apply_status(confirmed, source="webhook")
        return await self._finish(row, self._receipt(confirmed, applied))

    async def _finish(self, row: int, receipt: Receipt) -> Receipt:
        async with self.service.db.session() as session, session.begin():
            await repo.set_notification_outcome(session, row, receipt.outcome)
        return receipt

    @staticmethod
    def _receipt(status: GatewayStatus, applied: Applied | None) -> Receipt:
        if applied is None:
            log.info("notification for an unknown order", extra={"order_id": status.order_id})
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
        signature_valid: bool,
        outcome: str,
    ) -> None:
        async with self.service.db.session() as session, session.begin():
            await repo.insert_notification(
                session,
                self._values(raw, headers, body, signature_valid=signature_valid, outcome=outcome),
            )

    async def _insert(
        self,
        db: Any,
        raw: bytes,
        headers: dict[str, str],
        body: dict[str, Any],
        *,
        outcome: str,
    ) -> int | None:
        return await repo.insert_notification(
            db, self._values(raw, headers, body, signature_valid=True, outcome=outcome)
        )

    def _values(
        self,
        raw: bytes,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        *,
        signature_valid: bool,
        outcome: str,
    ) -> dict[str, Any]:
        def text(key: str) -> str | None:
            value = body.get(key) if body else None
            return value[:64] if isinstance(value, str) else None

        return {
            "dedupe_key": dedupe_key(raw),
            "order_id": text("order_id"),
            "transaction_status": text("transaction_status"),
            "body": raw.decode("utf-8", "replace"),
            "headers": headers,
            "signature_valid": signature_valid,
            "outcome": outcome,
            "received_at": self.service.now(),
        }
