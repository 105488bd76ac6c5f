"""Xendit refunds of a paid payment request or invoice (xendit.md §5.4)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.base import LIST_LIMIT_MAX, XenditBase, digest, fail, read_amount
from bayar.sandbox.xendit.errors import XenditError, data_not_found, invalid
from bayar.sandbox.xendit.model import INVOICE_PAID, Invoice, PaymentRequest, XRefund

REFUND_SECONDS = 60.0  # a refund stays PENDING this long (sandbox time) unless told otherwise
REFUND_REASONS = ("FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS")
# Channels whose payments cannot be refunded through the API [UNCONFIRMED which ones exactly].
NOT_REFUNDABLE = frozenset(wire.BANKS + wire.RETAIL_OUTLETS)


class Refunds(XenditBase):
    def create_refund(self, body: Any, idempotency_key: str | None) -> XRefund:
        if idempotency_key:
            stored = self.store.idempotency.get(f"xendit:refund:{idempotency_key}")
            if stored is not None:
                if stored["digest"] != digest(body):
                    raise XenditError(
                        409,
                        "IDEMPOTENCY_ERROR",
                        "The idempotency key has been used with a different request",
                    )
                return self.refund(str(stored["id"]))
        refund = self._create_refund(body)
        if idempotency_key:
            self.store.save_idempotent(
                f"xendit:refund:{idempotency_key}", {"digest": digest(body), "id": refund.id}
            )
        return refund

    def _create_refund(self, body: Any) -> XRefund:
        if not isinstance(body, dict):
            raise invalid(['"value" must be of type object'])
        errors: list[str] = []
        request_id, invoice_id = body.get("payment_request_id"), body.get("invoice_id")
        if (request_id is None) == (invoice_id is None):
            errors.append('one of "payment_request_id" or "invoice_id" is required')
        reason = body.get("reason")
        if reason not in REFUND_REASONS:
            errors.append(f'"reason" must be one of {", ".join(REFUND_REASONS)}')
        raw_amount = body.get("amount")
        amount = None if raw_amount is None else read_amount(raw_amount, "amount", errors)
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            errors.append('"metadata" must be of type object')
        if errors:
            raise invalid(errors)
        if body.get("currency") not in (None, "IDR"):
            raise XenditError(400, "API_VALIDATION_ERROR", '"currency" must match the payment')
        target: Invoice | PaymentRequest
        if request_id is not None:
            target = self.store.payment_requests.get(str(request_id)) or fail(
                data_not_found("Payment request")
            )
            paid = target.status == "SUCCEEDED"
            kind, channel = "QR_CODE", target.channel_code
        else:
            target = self.store.invoices.get(str(invoice_id)) or fail(data_not_found("Invoice"))
            paid = target.status in INVOICE_PAID
            kind = target.payment_method or ""
            channel = target.payment_channel or ""
        if not paid:
            raise XenditError(
                400,
                "INELIGIBLE_TRANSACTION_STATUS",
                f"Only paid transactions can be refunded; this one is {target.status}",
            )
        if channel in NOT_REFUNDABLE:
            raise XenditError(
                400, "REFUND_NOT_SUPPORTED", f"Refunds are not supported for {channel} payments"
            )
        remaining = target.amount - target.refunded
        if remaining <= 0:
            raise XenditError(
                400, "MAXIMUM_REFUND_AMOUNT_REACHED", "The payment has been refunded in full"
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise XenditError(
                400,
                "REFUND_AMOUNT_EXCEEDED",
                f"The refund amount exceeds the refundable {remaining}",
            )
        now = self.clock.timestamp()
        target.refunded += amount  # reserved now, released if the refund fails
        refund = XRefund(
            id=f"rfd-{uuid.uuid4()}",
            amount=amount,
            currency="IDR",
            reason=str(reason),
            created=now,
            updated=now,
            payment_id=target.payment_id or "",
            payment_method_type=kind,
            channel_code=channel,
            payment_request_id=str(request_id) if request_id is not None else None,
            invoice_id=str(invoice_id) if invoice_id is not None else None,
            reference_id=body.get("reference_id")
            if isinstance(body.get("reference_id"), str)
            else None,
            metadata=body.get("metadata"),
        )
        self._save_target(target)
        self.store.save_xendit_refund(refund)
        self._wake()
        return refund

    def _save_target(self, target: Invoice | PaymentRequest) -> None:
        if isinstance(target, Invoice):
            self.store.save_invoice(target)
        else:
            self.store.save_payment_request(target)

    def _target_of(self, refund: XRefund) -> Invoice | PaymentRequest | None:
        return self.store.invoices.get(refund.invoice_id or "") or self.store.payment_requests.get(
            refund.payment_request_id or ""
        )

    def _order_of(self, refund: XRefund) -> str:
        """The external_id / reference_id of what the refund is for (its callbacks' order)."""
        target = self._target_of(refund)
        if isinstance(target, Invoice):
            return target.external_id
        return target.reference_id if target is not None else refund.id

    def refund(self, id_: str) -> XRefund:
        refund = self.store.xendit_refunds.get(id_)
        if refund is None:
            raise data_not_found("Refund")
        return refund

    def list_refunds(self, query: Mapping[str, list[str]]) -> list[XRefund]:
        found = sorted(self.store.xendit_refunds.values(), key=lambda r: r.created, reverse=True)
        for name in ("payment_request_id", "invoice_id"):
            wanted = query.get(name, [])
            if wanted:
                found = [r for r in found if getattr(r, name) in wanted]
        try:
            limit = int(float((query.get("limit") or ["10"])[0]))
        except ValueError:
            raise invalid(['"limit" must be a number']) from None
        return found[: max(1, min(limit, LIST_LIMIT_MAX))]

    def finish_refund(self, id_: str, *, succeeded: bool) -> XRefund:
        refund = self.refund(id_)
        if refund.status != "PENDING":
            raise XenditError(409, "REFUND_NOT_PENDING", f"The refund is {refund.status}")
        refund.status = "SUCCEEDED" if succeeded else "FAILED"
        refund.updated = self.clock.timestamp()
        if not succeeded:
            refund.failure_code = "REFUND_FAILED"
            target = self._target_of(refund)
            if target is not None:
                target.refunded -= refund.amount
                self._save_target(target)
        self.store.save_xendit_refund(refund)
        body = wire.refund_callback(refund, merchant_id=self.merchant_id, now=refund.updated)
        self._notify("refund", refund.id, self._order_of(refund), refund.status, body)
        return refund
