"""Xendit invoices: create, get, list, expire, and the payer paying one (xendit.md §5.1)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from bayar.sandbox.qris import QrisMerchant, build_payload
from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.base import (
    LIST_LIMIT_MAX,
    XenditBase,
    number,
    parse_time,
    read_amount,
)
from bayar.sandbox.xendit.errors import XenditError, invalid, invoice_not_found
from bayar.sandbox.xendit.model import Invoice

DEFAULT_INVOICE_DURATION = 24 * 3600  # Xendit's default (help centre: 24 hours)
MAX_INVOICE_DURATION = 365 * 24 * 3600  # [UNCONFIRMED] commonly one year


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def invoice_qr(invoice: Invoice) -> str:
    """The QRIS payload a payer scans to pay the invoice (its hosted page shows it)."""
    return build_payload(
        amount=invoice.amount,
        reference=invoice.id,
        bill_number=invoice.external_id[:25],
        acquirer="xendit",
        merchant=QrisMerchant(),
    )


class Invoices(XenditBase):
    def create_invoice(self, body: Any) -> Invoice:
        if not isinstance(body, dict):
            raise invalid(['"value" must be of type object'])
        errors: list[str] = []
        external_id = body.get("external_id")
        if not isinstance(external_id, str) or not external_id.strip():
            errors.append('"external_id" is required and must be a non-empty string')
        amount = read_amount(body.get("amount"), "amount", errors)
        duration = body.get("invoice_duration", DEFAULT_INVOICE_DURATION)
        seconds = number(duration)
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
    def _items(value: Any, errors: list[str]) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            errors.append('"items" must be an array')
            return None
        items: list[dict[str, Any]] = []
        for i, item in enumerate(value):
            price = number(item.get("price")) if isinstance(item, dict) else None
            quantity = number(item.get("quantity")) if isinstance(item, dict) else None
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
                at = parse_time(raw)
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
