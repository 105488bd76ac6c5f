"""Xendit payment requests with a QR_CODE payment method: QRIS for the kiosks (xendit.md §4.4, §5.3)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from bayar.sandbox.qris import build_payload
from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.base import (
    LIST_LIMIT_MAX,
    XenditBase,
    digest,
    parse_time,
    read_amount,
)
from bayar.sandbox.xendit.errors import XenditError, data_not_found, invalid
from bayar.sandbox.xendit.model import PaymentRequest

DEFAULT_QR_LIFETIME = 48 * 3600  # a dynamic QR without an expiry (QR Codes docs)
QR_CHANNELS = ("QRIS", "DANA", "LINKAJA", "XENDIT")


class PaymentRequests(XenditBase):
    def create_payment_request(self, body: Any, idempotency_key: str | None) -> PaymentRequest:
        if idempotency_key:
            stored = self.store.idempotency.get(f"xendit:pr:{idempotency_key}")
            if stored is not None:
                if stored["digest"] != digest(body):
                    raise XenditError(
                        409,
                        "IDEMPOTENCY_ERROR",
                        "The idempotency key has been used with a different request",
                    )
                return self.payment_request(str(stored["id"]))
        request = self._create_payment_request(body)
        if idempotency_key:
            self.store.save_idempotent(
                f"xendit:pr:{idempotency_key}", {"digest": digest(body), "id": request.id}
            )
        return request

    def _create_payment_request(self, body: Any) -> PaymentRequest:
        if not isinstance(body, dict):
            raise invalid(['"value" must be of type object'])
        errors: list[str] = []
        currency = body.get("currency")
        if currency is None:
            errors.append('"currency" is required')
        amount = read_amount(body.get("amount"), "amount", errors)
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
            parsed = parse_time(str(properties["expires_at"]))
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
