"""The emulated Xendit: invoices, QRIS payment requests and refunds, as Xendit behaves (xendit.md).

Every method is synchronous and runs on the event loop thread, so a call sees and changes the state
atomically. Every status change goes through `_changed`, which stores the object and queues its
callback (`notify`), as `engine.Gateway._transition` does for Midtrans.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import uuid
from base64 import b64decode
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bayar.sandbox.clock import SandboxClock
from bayar.sandbox.qris import QrisMerchant, build_payload
from bayar.sandbox.store import SandboxStore
from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.errors import (
    XenditError,
    data_not_found,
    invalid,
    invoice_not_found,
)
from bayar.sandbox.xendit.model import INVOICE_PAID, Invoice, PaymentRequest, XRefund

DEFAULT_INVOICE_DURATION = 24 * 3600  # Xendit's default (help centre: 24 hours)
MAX_INVOICE_DURATION = 365 * 24 * 3600  # [UNCONFIRMED] commonly one year
DEFAULT_QR_LIFETIME = 48 * 3600  # a dynamic QR without an expiry (QR Codes docs)
REFUND_SECONDS = 60.0  # a refund stays PENDING this long (sandbox time) unless told otherwise
SETTLE_SECONDS = 24 * 3600.0  # a PAID invoice is SETTLED a day later (no callback)
REFUND_REASONS = ("FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS")
# Channels whose payments cannot be refunded through the API [UNCONFIRMED which ones exactly].
NOT_REFUNDABLE = frozenset(wire.BANKS + wire.RETAIL_OUTLETS)
QR_CHANNELS = ("QRIS", "DANA", "LINKAJA", "XENDIT")
LIST_LIMIT_MAX = 100
ACTIONS = ("pay", "expire", "fail")

# product ("invoice", "payment_request", "refund"), object id, reference, status, body
Notify = Callable[[str, str, str, str, dict[str, Any]], None]


def _basic_user(authorization: str | None) -> str | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        return b64decode(authorization[6:].strip(), validate=True).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return None


def _number(value: Any) -> float | None:
    """A JSON number (the SDK sends 50000.0 for 50000); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None  # JSON's NaN and Infinity are not amounts


def _parse_time(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Xendit:
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
        self.store = store
        self.clock = clock
        self._secret_key = secret_key
        self.merchant_id = merchant_id
        self._notify = notify
        self._wake = wake  # a new object has a deadline (expiry, refund) the timer must know
        self._notify_expired = notify_expired_invoices
        self._merchant = QrisMerchant()

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

    # -- invoices ------------------------------------------------------------------------------------

    def create_invoice(self, body: Any) -> Invoice:
        if not isinstance(body, dict):
            raise invalid(['"value" must be of type object'])
        errors: list[str] = []
        external_id = body.get("external_id")
        if not isinstance(external_id, str) or not external_id.strip():
            errors.append('"external_id" is required and must be a non-empty string')
        amount = self._amount(body.get("amount"), "amount", errors)
        duration = body.get("invoice_duration", DEFAULT_INVOICE_DURATION)
        seconds = _number(duration)
        if seconds is None or not 1 <= seconds <= MAX_INVOICE_DURATION:
            errors.append(f'"invoice_duration" must be a number from 1 to {MAX_INVOICE_DURATION}')
        for key in ("success_redirect_url", "failure_redirect_url"):
            if body.get(key) is not None and not _is_url(body[key]):
                errors.append(f'"{key}" must be a valid uri')
        for key in ("description", "locale", "payer_email"):
            if body.get(key) is not None and not isinstance(body[key], str):
                errors.append(f'"{key}" must be a string')
        for key in ("customer", "metadata"):
            if body.get(key) is not None and not isinstance(body[key], dict):
                errors.append(f'"{key}" must be of type object')
        if body.get("should_send_email") is not None and not isinstance(
            body["should_send_email"], bool
        ):
            errors.append('"should_send_email" must be a boolean')
        items = self._items(body.get("items"), errors)
        channels = self._channels(body.get("payment_methods"), errors)
        if errors:
            raise invalid(errors)
        currency = body.get("currency") or "IDR"
        if currency != "IDR":
            raise XenditError(
                400,
                "UNSUPPORTED_CURRENCY",
                f"Currency {currency} is not supported for this business",
            )
        email = body.get("payer_email")
        if email is not None and "@" not in email:
            raise XenditError(400, "EMAIL_FORMAT_ERROR", "Email format is invalid")
        if not channels:
            raise XenditError(
                400,
                "NO_COLLECTION_METHODS_ERROR",
                "There are no payment methods available for this invoice",
            )
        now = self.clock.timestamp()
        assert amount is not None
        assert seconds is not None
        invoice = Invoice(
            id=uuid.uuid4().hex[:24],
            external_id=str(external_id),
            amount=amount,
            created=now,
            updated=now,
            expiry_date=now + int(seconds),
            payer_email=email,
            description=body.get("description"),
            success_redirect_url=body.get("success_redirect_url"),
            failure_redirect_url=body.get("failure_redirect_url"),
            should_send_email=bool(body.get("should_send_email", False)),
            locale=body.get("locale"),
            banks=[c for c in channels if c in wire.BANKS],
            retail_outlets=[c for c in channels if c in wire.RETAIL_OUTLETS],
            ewallets=[c for c in channels if c in wire.EWALLETS],
            qr_codes=[c for c in channels if c in wire.QR_CODES],
            items=items,
            customer=body.get("customer"),
            fees=body.get("fees") if isinstance(body.get("fees"), list) else None,
            metadata=body.get("metadata"),
        )
        self.store.save_invoice(invoice)  # creation sends no callback
        self._wake()
        return invoice

    @staticmethod
    def _amount(value: Any, name: str, errors: list[str]) -> int | None:
        number = _number(value)
        if value is None:
            errors.append(f'"{name}" is required')
        elif number is None:
            errors.append(f'"{name}" must be a number')
        elif int(number) < 1:  # IDR decimals are truncated (4550.50 -> 4550)
            errors.append(f'"{name}" must be greater than or equal to 1')
        else:
            return int(number)
        return None

    @staticmethod
    def _items(value: Any, errors: list[str]) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            errors.append('"items" must be an array')
            return None
        items: list[dict[str, Any]] = []
        for i, item in enumerate(value):
            price = _number(item.get("price")) if isinstance(item, dict) else None
            quantity = _number(item.get("quantity")) if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                errors.append(f'"items[{i}].name" is required')
            elif price is None or quantity is None or quantity < 1:
                errors.append(
                    f'"items[{i}]" needs a numeric "price" and a "quantity" of at least 1'
                )
            else:
                items.append({**item, "price": int(price), "quantity": int(quantity)})
        return items

    @staticmethod
    def _channels(value: Any, errors: list[str]) -> list[str]:
        if value is None:
            return list(wire.CHANNELS)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append('"payment_methods" must be an array of strings')
            return []
        unknown = [v for v in value if v not in wire.CHANNELS and v not in wire.NOT_OFFERED]
        if unknown:
            errors.append(f'"payment_methods" has unknown values: {", ".join(unknown)}')
        return [c for c in wire.CHANNELS if c in value]

    def invoice(self, id_: str) -> Invoice:
        invoice = self.store.invoices.get(id_)
        if invoice is None:
            raise invoice_not_found()
        return invoice

    def list_invoices(self, query: Mapping[str, list[str]]) -> list[Invoice]:
        """`GET /v2/invoices`: newest first, filtered. Query values as lists (repeated keys)."""

        def values(name: str) -> list[str]:
            found: list[str] = []
            for raw in query.get(name, []) + query.get(f"{name}[]", []):
                if raw.startswith("["):
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        raise invalid([f'"{name}" must be an array']) from None
                    found.extend(str(v) for v in parsed) if isinstance(parsed, list) else None
                else:
                    found.extend(v for v in raw.split(",") if v)
            return found

        limit_raw = (query.get("limit") or ["10"])[0]
        try:
            limit = int(float(limit_raw))
        except ValueError:
            raise invalid(['"limit" must be a number']) from None
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise invalid([f'"limit" must be from 1 to {LIST_LIMIT_MAX}'])
        found = sorted(self.store.invoices.values(), key=lambda i: i.created, reverse=True)
        external = values("external_id")
        if external:
            found = [i for i in found if i.external_id in external]
        statuses = values("statuses")
        if statuses:
            found = [i for i in found if i.status in statuses]
        channels = values("payment_channels")
        if channels:
            found = [i for i in found if i.payment_channel in channels]
        for field, attr in (
            ("created", "created"),
            ("paid", "paid_at"),
            ("expired", "expiry_date"),
        ):
            for bound in ("after", "before"):
                raw = (query.get(f"{field}_{bound}") or [""])[0]
                if not raw:
                    continue
                at = _parse_time(raw)
                if at is None:
                    raise invalid([f'"{field}_{bound}" must be a valid ISO 8601 date'])
                found = [
                    i
                    for i in found
                    if (v := getattr(i, attr)) is not None
                    and (v >= at if bound == "after" else v <= at)
                ]
        cursor = (query.get("last_invoice_id") or query.get("last_invoice") or [""])[0]
        if cursor:
            ids = [i.id for i in found]
            found = found[ids.index(cursor) + 1 :] if cursor in ids else []
        return found[:limit]

    def expire_invoice(self, id_: str) -> Invoice:
        invoice = self.invoice(id_)
        if invoice.status != "PENDING":
            raise XenditError(
                404, "INVOICE_NOT_FOUND_ERROR", "Could not find and update PENDING invoice"
            )
        self._expire_invoice(invoice)
        return invoice

    def _expire_invoice(self, invoice: Invoice) -> None:
        now = self.clock.timestamp()
        invoice.status = "EXPIRED"
        invoice.expiry_date = min(invoice.expiry_date, now)
        invoice.updated = now
        self.store.save_invoice(invoice)
        if self._notify_expired():
            self._notify_invoice(invoice)

    def pay_invoice(self, id_: str, channel: str | None = None) -> Invoice:
        """The payer pays the invoice through a channel it offers (the hosted page, control API)."""
        invoice = self.invoice(id_)
        if invoice.status == "PENDING" and invoice.expiry_date <= self.clock.timestamp():
            self._expire_invoice(invoice)  # its time is up, whether or not the timer has run
        if invoice.status != "PENDING":
            raise XenditError(409, "INVOICE_NOT_PAYABLE", f"The invoice is {invoice.status}")
        offered = invoice.qr_codes + invoice.ewallets + invoice.banks + invoice.retail_outlets
        channel = channel or offered[0]
        if channel not in offered:
            raise XenditError(
                400, "UNAVAILABLE_PAYMENT_METHOD_ERROR", f"{channel} is not offered by this invoice"
            )
        now = self.clock.timestamp()
        invoice.status = "PAID"
        invoice.paid_at = now
        invoice.updated = now
        invoice.payment_method = wire.channel_kind(channel)
        invoice.payment_channel = channel
        invoice.payment_destination = wire.destination(invoice, channel)
        invoice.payment_id = f"py-{uuid.uuid4()}"
        self.store.save_invoice(invoice)
        self._notify_invoice(invoice)
        return invoice

    def _notify_invoice(self, invoice: Invoice) -> None:
        body = wire.invoice_callback(invoice, merchant_id=self.merchant_id)
        self._notify("invoice", invoice.id, invoice.external_id, invoice.status, body)

    # -- payment requests (QR_CODE) --------------------------------------------------------------

    def create_payment_request(self, body: Any, idempotency_key: str | None) -> PaymentRequest:
        if idempotency_key:
            stored = self.store.idempotency.get(f"xendit:pr:{idempotency_key}")
            if stored is not None:
                if stored["digest"] != _digest(body):
                    raise XenditError(
                        409,
                        "IDEMPOTENCY_ERROR",
                        "The idempotency key has been used with a different request",
                    )
                return self.payment_request(str(stored["id"]))
        request = self._create_payment_request(body)
        if idempotency_key:
            self.store.save_idempotent(
                f"xendit:pr:{idempotency_key}", {"digest": _digest(body), "id": request.id}
            )
        return request

    def _create_payment_request(self, body: Any) -> PaymentRequest:
        if not isinstance(body, dict):
            raise invalid(['"value" must be of type object'])
        errors: list[str] = []
        currency = body.get("currency")
        if currency is None:
            errors.append('"currency" is required')
        amount = self._amount(body.get("amount"), "amount", errors)
        reference = body.get("reference_id") or str(uuid.uuid4())
        if not isinstance(reference, str):
            errors.append('"reference_id" must be a string')
        if body.get("payment_method_id") is not None:
            errors.append('"payment_method_id" is not emulated: send a payment_method object')
        method = body.get("payment_method")
        qr: dict[str, Any] = {}
        if not isinstance(method, dict):
            errors.append('"payment_method" is required')
        elif method.get("type") != "QR_CODE":
            errors.append('"payment_method.type": only QR_CODE is emulated')
        elif method.get("reusability", "ONE_TIME_USE") != "ONE_TIME_USE":
            errors.append('"payment_method.reusability": only ONE_TIME_USE is emulated')
        else:
            qr = method.get("qr_code") or {}
            if not isinstance(qr, dict):
                errors.append('"payment_method.qr_code" must be of type object')
                qr = {}
        channel = qr.get("channel_code") or "QRIS"
        if channel not in QR_CHANNELS:
            errors.append(
                f'"payment_method.qr_code.channel_code" must be one of {", ".join(QR_CHANNELS)}'
            )
        for key in ("description",):
            if body.get(key) is not None and not isinstance(body[key], str):
                errors.append(f'"{key}" must be a string')
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            errors.append('"metadata" must be of type object')
        now = self.clock.timestamp()
        expires_at = now + DEFAULT_QR_LIFETIME
        properties = qr.get("channel_properties") or {}
        if isinstance(properties, dict) and properties.get("expires_at"):
            parsed = _parse_time(str(properties["expires_at"]))
            if parsed is None or parsed <= now:
                errors.append(
                    '"payment_method.qr_code.channel_properties.expires_at" must be a future date'
                )
            else:
                expires_at = parsed
        if errors:
            raise invalid(errors)
        if currency != "IDR":
            raise XenditError(
                400, "UNSUPPORTED_CURRENCY", f"Currency {currency} is not supported for QR_CODE"
            )
        assert amount is not None
        request_id = f"pr-{uuid.uuid4()}"
        request = PaymentRequest(
            id=request_id,
            reference_id=str(reference),
            amount=amount,
            currency="IDR",
            created=now,
            updated=now,
            expires_at=expires_at,
            payment_method_id=f"pm-{uuid.uuid4()}",
            channel_code=str(channel),
            qr_string=build_payload(
                amount=amount,
                reference=request_id[3:28],
                bill_number=str(reference),
                acquirer="xendit",
                merchant=self._merchant,
            ),
            description=body.get("description"),
            metadata=body.get("metadata"),
        )
        self.store.save_payment_request(request)  # creation sends no callback
        self._wake()
        return request

    def payment_request(self, id_: str) -> PaymentRequest:
        request = self.store.payment_requests.get(id_)
        if request is None:
            raise data_not_found("Payment request")
        return request

    def list_payment_requests(
        self, query: Mapping[str, list[str]]
    ) -> tuple[list[PaymentRequest], bool]:
        found = sorted(self.store.payment_requests.values(), key=lambda r: r.created, reverse=True)
        for name, attr in (("reference_id", "reference_id"), ("id", "id")):
            wanted = query.get(name, []) + query.get(f"{name}[]", [])
            if wanted:
                found = [r for r in found if getattr(r, attr) in wanted]
        after = (query.get("after_id") or [""])[0]
        if after:
            ids = [r.id for r in found]
            found = found[ids.index(after) + 1 :] if after in ids else []
        try:
            limit = int(float((query.get("limit") or ["10"])[0]))
        except ValueError:
            raise invalid(['"limit" must be a number']) from None
        limit = max(1, min(limit, LIST_LIMIT_MAX))
        return found[:limit], len(found) > limit

    def pay_payment_request(self, id_: str) -> PaymentRequest:
        request = self.payment_request(id_)
        if request.status != "PENDING":
            raise XenditError(
                409, "INVALID_PAYMENT_REQUEST_STATUS", f"The payment request is {request.status}"
            )
        now = self.clock.timestamp()
        request.status = "SUCCEEDED"
        request.paid_at = now
        request.updated = now
        request.payment_id = f"py-{uuid.uuid4()}"
        self._changed_request(request, "payment.succeeded")
        return request

    def fail_payment_request(self, id_: str) -> PaymentRequest:
        request = self.payment_request(id_)
        if request.status != "PENDING":
            raise XenditError(
                409, "INVALID_PAYMENT_REQUEST_STATUS", f"The payment request is {request.status}"
            )
        request.status = "FAILED"
        request.failure_code = "PAYMENT_DECLINED"
        request.updated = self.clock.timestamp()
        request.payment_id = f"py-{uuid.uuid4()}"
        self._changed_request(request, "payment.failed")
        return request

    def expire_payment_request(self, id_: str) -> PaymentRequest:
        request = self.payment_request(id_)
        if request.status != "PENDING":
            raise XenditError(
                409, "INVALID_PAYMENT_REQUEST_STATUS", f"The payment request is {request.status}"
            )
        self._expire_request(request)
        return request

    def _expire_request(self, request: PaymentRequest) -> None:
        now = self.clock.timestamp()
        request.status = "EXPIRED"
        request.expires_at = min(request.expires_at, now)
        request.updated = now
        self._changed_request(request, "payment_request.expiry")

    def _changed_request(self, request: PaymentRequest, event: str) -> None:
        self.store.save_payment_request(request)
        body = wire.payment_callback(
            event, request, merchant_id=self.merchant_id, now=self.clock.timestamp()
        )
        self._notify("payment_request", request.id, request.reference_id, request.status, body)

    # -- refunds -----------------------------------------------------------------------------------

    def create_refund(self, body: Any, idempotency_key: str | None) -> XRefund:
        if idempotency_key:
            stored = self.store.idempotency.get(f"xendit:refund:{idempotency_key}")
            if stored is not None:
                if stored["digest"] != _digest(body):
                    raise XenditError(
                        409,
                        "IDEMPOTENCY_ERROR",
                        "The idempotency key has been used with a different request",
                    )
                return self.refund(str(stored["id"]))
        refund = self._create_refund(body)
        if idempotency_key:
            self.store.save_idempotent(
                f"xendit:refund:{idempotency_key}", {"digest": _digest(body), "id": refund.id}
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
        amount = None if raw_amount is None else self._amount(raw_amount, "amount", errors)
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            errors.append('"metadata" must be of type object')
        if errors:
            raise invalid(errors)
        if body.get("currency") not in (None, "IDR"):
            raise XenditError(400, "API_VALIDATION_ERROR", '"currency" must match the payment')
        target: Invoice | PaymentRequest
        if request_id is not None:
            target = self.store.payment_requests.get(str(request_id)) or _raise(
                data_not_found("Payment request")
            )
            paid = target.status == "SUCCEEDED"
            kind, channel = "QR_CODE", target.channel_code
        else:
            target = self.store.invoices.get(str(invoice_id)) or _raise(data_not_found("Invoice"))
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


def _raise(error: XenditError) -> Any:
    raise error
