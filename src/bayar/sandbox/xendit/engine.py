"""The emulated Xendit: invoices, QRIS payment requests and refunds, as Xendit behaves (xendit.md).

`Xendit` joins the three products (invoices.py, payment_requests.py, refunds.py) with what they
share: the secret key, the JSON views, the simulated payer's actions and the clock's deadlines.
Every method is synchronous and runs on the event loop thread, so a call sees and changes the state
atomically. A status change stores the object and queues its callback (`notify`), as
`engine.Gateway._transition` does for Midtrans; creating an object sends none.
"""

from __future__ import annotations

import hmac
from base64 import b64decode
from collections.abc import Callable, Iterable
from typing import Any

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.store import SandboxStore
from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.base import Notify
from bayar.sandbox.xendit.errors import XenditError, data_not_found
from bayar.sandbox.xendit.invoices import Invoices, invoice_qr
from bayar.sandbox.xendit.model import Invoice, PaymentRequest, XRefund
from bayar.sandbox.xendit.payment_requests import PaymentRequests
from bayar.sandbox.xendit.refunds import REFUND_SECONDS, Refunds

SETTLE_SECONDS = 24 * 3600.0  # a PAID invoice is SETTLED a day later (no callback)
ACTIONS = ("pay", "expire", "fail")


def _basic_user(authorization: str | None) -> str | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        return b64decode(authorization[6:].strip(), validate=True).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return None


class Xendit(Invoices, PaymentRequests, Refunds):
    def __init__(
        self,
        store: SandboxStore,
        clock: SandboxClock,
        *,
        secret_key: str,
        merchant_id: str,
        notify: Notify,
        wake: Callable[[], None] = lambda: None,
        notify_expired_invoices: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(
            store,
            clock,
            merchant_id=merchant_id,
            notify=notify,
            wake=wake,
            notify_expired_invoices=notify_expired_invoices,
        )
        self._secret_key = secret_key

    def key_ok(self, authorization: str | None) -> bool:
        """HTTP Basic with the secret key as user name and an empty password."""
        user = _basic_user(authorization)
        return user is not None and hmac.compare_digest(user.encode(), self._secret_key.encode())

    # -- JSON views ---------------------------------------------------------------------------------

    def invoice_body(self, invoice: Invoice, base: str) -> dict[str, Any]:
        return wire.invoice_json(
            invoice, merchant_id=self.merchant_id, invoice_url=f"{base}/xendit/web/{invoice.id}"
        )

    def payment_request_body(self, request: PaymentRequest) -> dict[str, Any]:
        return wire.payment_request_json(request, merchant_id=self.merchant_id)

    # -- simulated payer and channel actions (hosted page, simulator, control API) ----------------

    def find(self, id_: str) -> Invoice | PaymentRequest | XRefund | None:
        """An object by id, else the newest invoice or payment request with that external or
        reference id."""
        found = (
            self.store.invoices.get(id_)
            or self.store.payment_requests.get(id_)
            or self.store.xendit_refunds.get(id_)
        )
        if found is not None:
            return found
        candidates: list[Invoice | PaymentRequest] = [
            *(i for i in self.store.invoices.values() if i.external_id == id_),
            *(r for r in self.store.payment_requests.values() if r.reference_id == id_),
        ]
        return max(candidates, key=lambda o: o.created) if candidates else None

    def find_by_qr(self, qr_string: str) -> Invoice | PaymentRequest | None:
        """What a scanned QRIS payload was issued for: a QR payment request's `qr_string`, or
        the QR on an invoice's hosted page; the newest such object."""
        text = qr_string.strip()
        for target in self.newest_first():
            if isinstance(target, PaymentRequest):
                if target.qr_string == text:
                    return target
            elif target.qr_codes and invoice_qr(target) == text:
                return target
        return None

    def act(
        self, id_: str, action: str, channel: str | None = None
    ) -> Invoice | PaymentRequest | XRefund:
        target = self.find(id_)
        if target is None:
            raise data_not_found("Invoice, payment request or refund")
        if action not in ACTIONS:
            raise XenditError(
                404, "NOT_FOUND", f"unknown action {action!r}; use pay, expire or fail"
            )
        if isinstance(target, Invoice):
            if action == "fail":
                raise XenditError(
                    409, "INVOICE_CANNOT_FAIL", "An invoice does not fail: it is paid or it expires"
                )
            if action == "pay":
                return self.pay_invoice(target.id, channel)
            return self.expire_invoice(target.id)
        if isinstance(target, PaymentRequest):
            if action == "pay":
                return self.pay_payment_request(target.id)
            if action == "fail":
                return self.fail_payment_request(target.id)
            return self.expire_payment_request(target.id)
        if action == "expire":
            raise XenditError(409, "REFUND_CANNOT_EXPIRE", "A refund succeeds or fails")
        return self.finish_refund(target.id, succeeded=action == "pay")

    # -- time -----------------------------------------------------------------------------------

    def run_due(self) -> float | None:
        """Expire what is due, finish refunds, settle paid invoices; the next due time, if any."""
        now = self.clock.timestamp()
        upcoming: list[float] = []

        def due(at: float) -> bool:
            if at <= now:
                return True
            upcoming.append(at)
            return False

        for invoice in list(self.store.invoices.values()):
            if invoice.status == "PENDING" and due(invoice.expiry_date):
                self._expire_invoice(invoice)
            elif invoice.status == "PAID" and due((invoice.paid_at or now) + SETTLE_SECONDS):
                invoice.status = "SETTLED"
                invoice.updated = now
                self.store.save_invoice(invoice)
        for request in list(self.store.payment_requests.values()):
            if request.status == "PENDING" and due(request.expires_at):
                self._expire_request(request)
        for refund in list(self.store.xendit_refunds.values()):
            if refund.status == "PENDING" and due(refund.created + REFUND_SECONDS):
                self.finish_refund(refund.id, succeeded=True)
        return min(upcoming) if upcoming else None

    def newest_first(self) -> Iterable[Invoice | PaymentRequest]:
        objects: list[Invoice | PaymentRequest] = [
            *self.store.invoices.values(),
            *self.store.payment_requests.values(),
        ]
        return sorted(objects, key=lambda o: o.created, reverse=True)
