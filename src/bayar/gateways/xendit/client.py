"""`XenditGateway`: invoices (the shop), QRIS payment requests (the kiosk) and refunds over httpx,
as `bayar.gateways.base.Gateway`.

bayar's order id is the invoice's `external_id` and the payment request's `reference_id`; Xendit
does not keep either unique, so the adapter finds an order's transaction by listing them, and a
create first looks for one it made already (a retried create reuses it). Every call has a
deadline. No httpx exception escapes: a timeout, a connection failure, an HTTP 5xx or 429, or an
answer that cannot be read raise `GatewayUnavailable`; Xendit's `{"error_code", "message"}`
refusals raise `GatewayRejected`. The secret key appears in no log line, message or repr.

Callbacks carry the account's verification token in `x-callback-token` (compared in constant
time), not a signature: they are hints, confirmed with the API before anything changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from bayar.gateways import http
from bayar.gateways.base import (
    CallObserver,
    ChargeRequest,
    GatewayCallRecord,
    GatewayEvent,
    GatewayRejected,
    GatewayReport,
    GatewayUnavailable,
    PaymentInstructions,
    Rejection,
    SnapRequest,
    TransactionNotFound,
)
from bayar.gateways.secrets import Secrets
from bayar.gateways.xendit import wire

log = logging.getLogger("bayar.gateways.xendit")
T = TypeVar("T")

BASE_URL = "https://api.xendit.co"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
HEADERS = {"Accept": "application/json", "User-Agent": "bayar-xendit"}
TOKEN_HEADER = "x-callback-token"  # noqa: S105 (a header name)
WEBHOOK_ID_HEADERS = ("webhook-id", "x-webhook-id")
LIST_LIMIT = 10
# Invoices a retried create may reuse: anything but EXPIRED (which nobody can pay any more).
REUSABLE = frozenset({"PENDING", "PAID", "SETTLED", "SUCCEEDED", "REQUIRES_ACTION"})


def _path_id(object_id: str) -> str:
    if not object_id or object_id.strip(".") == "":
        raise ValueError("the id must be a non-empty id, not a path")
    return quote(object_id, safe="")


def _newest_paid_first(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one transaction of an order to report: a paid one if any (a duplicate invoice someone
    paid must never hide behind an expired one), else the newest (lists are newest first)."""
    for item in found:
        if str(item.get("status", "")).upper() in wire.PAID:
            return item
    return found[0] if found else None


class XenditGateway:
    """The Xendit adapter. Pass `transport` to talk to an in-process app (tests, the sandbox)."""

    name = "xendit"
    refundable_types = wire.REFUNDABLE_TYPES

    def __init__(
        self,
        secret_key: str,
        *,
        callback_token: str,
        base_url: str = BASE_URL,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: CallObserver | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not secret_key or any(c.isspace() for c in secret_key):
            raise ValueError("the Xendit secret key is empty or contains whitespace")
        if not callback_token:
            raise ValueError("the Xendit callback token is empty")
        self._secrets = Secrets(secret_key, callback_token)
        self._token = callback_token.encode()
        self._base = base_url.rstrip("/")
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        if self._timeout.connect is None or self._timeout.read is None:
            raise ValueError("the Xendit client needs connect and read timeouts")
        self._deadline = self._timeout.connect + self._timeout.read
        self._observer = observer
        self._now = now
        self._client = http.client(secret_key, HEADERS, self._timeout, transport)

    def __repr__(self) -> str:
        return f"XenditGateway(base_url={self._base!r})"

    async def __aenter__(self) -> XenditGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- creating ---------------------------------------------------------------------------------

    async def create_snap(self, request: SnapRequest) -> PaymentInstructions:
        """An invoice: Xendit's hosted page, where the customer picks a method and pays."""
        return await self._timed("create_snap", request.order_id, lambda: self._invoice(request))

    async def _invoice(self, request: SnapRequest) -> PaymentInstructions:
        body = wire.invoice_body(request)
        existing = await self._invoices(request.order_id)
        for invoice in existing:  # a retried create: the invoice made before, never a second
            if str(invoice.get("status", "")).upper() in REUSABLE:
                return self._parse("create_snap", wire.invoice_instructions, invoice)
        return await self._call(
            "create_snap", "POST", "/v2/invoices", wire.invoice_instructions, json=body
        )

    async def charge(self, request: ChargeRequest) -> PaymentInstructions:
        """A QRIS payment request (the kiosk's QR code); other direct methods are refused."""
        return await self._timed("charge", request.order_id, lambda: self._qr(request))

    async def _qr(self, request: ChargeRequest) -> PaymentInstructions:
        try:
            body = wire.qr_body(request, self._now())
        except ValueError as error:
            raise GatewayRejected(
                Rejection.INVALID, "UNSUPPORTED_PAYMENT_TYPE", str(error)
            ) from None
        existing = await self._payment_requests(request.order_id)
        for found in existing:
            if str(found.get("status", "")).upper() in REUSABLE:
                return self._parse("charge", wire.qr_instructions, found)
        headers = {"idempotency-key": request.idempotency_key} if request.idempotency_key else None
        return await self._call(
            "charge", "POST", "/payment_requests", wire.qr_instructions, json=body, headers=headers
        )

    # -- reading ----------------------------------------------------------------------------------

    async def status(self, order_id: str) -> GatewayReport:
        """The order's invoice, else its payment request, with its refunds. `TransactionNotFound`
        if Xendit has neither."""
        return await self._timed("status", order_id, lambda: self._status(order_id))

    async def _status(self, order_id: str) -> GatewayReport:
        kind, found = await self._find(order_id)
        return await self._report(kind, found)

    async def _find(self, order_id: str) -> tuple[str, dict[str, Any]]:
        invoice = _newest_paid_first(await self._invoices(order_id))
        if invoice is not None:
            return "invoice", invoice
        request = _newest_paid_first(await self._payment_requests(order_id))
        if request is not None:
            return "payment_request", request
        raise TransactionNotFound("NOT_FOUND", f"no invoice or payment request for {order_id}")

    async def _report(self, kind: str, found: dict[str, Any]) -> GatewayReport:
        refunds: list[dict[str, Any]] = []
        if str(found.get("status", "")).upper() in wire.PAID:
            refunds = await self._refunds(kind, str(found.get("id", "")))
        parse = wire.parse_invoice if kind == "invoice" else wire.parse_payment_request
        return self._parse("status", lambda body: parse(body, refunds), found)

    async def _invoices(self, order_id: str) -> list[dict[str, Any]]:
        found = await self._call(
            "status",
            "GET",
            "/v2/invoices",
            _objects,
            params={"external_id": order_id, "limit": LIST_LIMIT},
        )
        return [i for i in found if i.get("external_id") == order_id]

    async def _payment_requests(self, order_id: str) -> list[dict[str, Any]]:
        found = await self._call(
            "status",
            "GET",
            "/payment_requests",
            _data_objects,
            params={"reference_id": order_id, "limit": LIST_LIMIT},
        )
        return [r for r in found if r.get("reference_id") == order_id]

    async def _refunds(self, kind: str, object_id: str) -> list[dict[str, Any]]:
        field = "invoice_id" if kind == "invoice" else "payment_request_id"
        found = await self._call(
            "status", "GET", "/refunds", _data_objects, params={field: object_id, "limit": 100}
        )
        return [r for r in found if r.get(field) == object_id]

    # -- changing ---------------------------------------------------------------------------------

    async def expire(self, order_id: str) -> GatewayReport:
        """Expire a pending invoice. A QRIS payment request cannot be expired through the API: it
        expires at its own `expires_at` (the order's deadline); until then it is reported as it
        is, and the order waits for it. `GatewayRejected` if the invoice is not pending."""
        return await self._timed("expire", order_id, lambda: self._expire(order_id))

    async def _expire(self, order_id: str) -> GatewayReport:
        kind, found = await self._find(order_id)
        status = str(found.get("status", "")).upper()
        if kind == "payment_request":
            return await self._report(kind, found)
        if status != "PENDING":
            raise GatewayRejected(
                Rejection.NOT_ALLOWED, "INVOICE_NOT_PENDING", f"the invoice is {status}"
            )
        expired = await self._call(
            "expire",
            "POST",
            f"/invoices/{_path_id(str(found.get('id', '')))}/expire!",
            wire.parse_invoice,
        )
        return expired

    async def cancel(self, order_id: str) -> GatewayReport:
        """Xendit cancels an invoice by expiring it, which is reported as cancelled. A QRIS payment
        request cannot be cancelled (`Rejection.CANNOT_CANCEL`): it stays payable until its own
        `expires_at`."""
        return await self._timed("cancel", order_id, lambda: self._cancel(order_id))

    async def _cancel(self, order_id: str) -> GatewayReport:
        kind, _found = await self._find(order_id)
        if kind == "payment_request":
            raise GatewayRejected(
                Rejection.CANNOT_CANCEL,
                "CANNOT_CANCEL",
                "a QRIS payment request cannot be cancelled; it expires at its time",
            )
        report = await self._expire(order_id)
        if report.event is GatewayEvent.EXPIRED:
            return GatewayReport(**{**vars(report), "event": GatewayEvent.CANCELLED})
        return report

    async def refund(
        self, order_id: str, *, amount: int | None, refund_key: str, reason: str
    ) -> GatewayReport:
        """Refund `amount` rupiah (None: all that is left) under `refund_key` (Xendit's
        idempotency key and the refund's reference_id: a repeat makes no second refund). The
        answer is the transaction read again with every refund Xendit lists; the new one is
        usually PENDING (Xendit finishes it later and calls back `refund.succeeded` or
        `refund.failed`), and the order's event counts only the succeeded ones."""
        if amount is not None and (isinstance(amount, bool) or amount < 1):
            raise ValueError("a refund amount must be a positive integer of rupiah, or None")
        return await self._timed(
            "refund", order_id, lambda: self._refund(order_id, amount, refund_key, reason)
        )

    async def _refund(
        self, order_id: str, amount: int | None, refund_key: str, reason: str
    ) -> GatewayReport:
        kind, found = await self._find(order_id)
        body = wire.refund_body(
            kind,
            str(found.get("id", "")),
            order_id,
            amount=amount,
            refund_key=refund_key,
            reason=reason,
        )
        made = await self._call(
            "refund",
            "POST",
            "/refunds",
            _object,
            json=body,
            headers={"idempotency-key": refund_key},
        )
        refunds = await self._refunds(kind, str(found.get("id", "")))
        if not any(r.get("reference_id") == refund_key for r in refunds):
            refunds = [*refunds, made]  # the list does not show it yet: the answer itself counts
        parse = wire.parse_invoice if kind == "invoice" else wire.parse_payment_request
        return self._parse("refund", lambda body: parse(body, refunds), found)

    # -- callbacks --------------------------------------------------------------------------------

    def verify_notification(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        """The `x-callback-token` header equals the account's token (constant time)."""
        given = (headers or {}).get(TOKEN_HEADER)
        if not given:
            return False
        return hmac.compare_digest(given.encode(), self._token)

    def parse_notification(self, body: Mapping[str, Any]) -> GatewayReport:
        return wire.parse_callback(body)

    def notification_labels(self, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return wire.callback_labels(body)

    @staticmethod
    def notification_key(raw: bytes, body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        """A callback's dedupe key: its `webhook-id` when present (stable across Xendit's
        retries), else the object's id and status."""
        for name in WEBHOOK_ID_HEADERS:
            webhook_id = headers.get(name)
            if webhook_id:
                identity = f"xendit-webhook:{webhook_id[:200]}"
                break
        else:
            identity = f"xendit:{wire.callback_identity(body)}"
        return hashlib.sha256(identity.encode()).hexdigest()

    # -- plumbing ---------------------------------------------------------------------------------

    def _parse(
        self, operation: str, parse: Callable[[Mapping[str, Any]], T], body: Mapping[str, Any]
    ) -> T:
        try:
            return parse(body)
        except (ValueError, TypeError, KeyError) as error:
            raise self._unavailable(operation, f"unreadable answer: {error}") from None

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> T:
        body = await self._exchange(operation, method, path, json, params, headers)
        try:
            return parse(body)
        except (ValueError, TypeError, KeyError) as error:
            raise self._unavailable(operation, f"unreadable answer: {error}") from None

    async def _timed(self, operation: str, order_id: str, work: Callable[[], Awaitable[T]]) -> T:
        """One operation (however many HTTP calls it takes: a lookup, then the call), timed
        once: its observer is handed what became of it."""
        started = time.perf_counter()
        outcome, detail = "unavailable", None
        try:
            result = await work()
            outcome = "ok"
            return result
        except TransactionNotFound as error:
            outcome, detail = "not_found", error.message
            raise
        except GatewayRejected as error:
            outcome, detail = "rejected", str(error)
            raise
        except GatewayUnavailable as error:
            detail = str(error)
            raise
        finally:
            elapsed = time.perf_counter() - started
            log.debug("xendit %s: %s in %.3fs", operation, outcome, elapsed)
            await self._observe(GatewayCallRecord(operation, order_id, elapsed, outcome, detail))

    async def _exchange(
        self,
        operation: str,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        url = f"{self._base}{path}"
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._client.request(
                    method, url, json=json, params=params, headers=headers
                )
        # `from None`: the transport's exception carries the request and its Authorization.
        except (TimeoutError, httpx.TimeoutException) as error:
            raise self._unavailable(operation, f"timed out ({type(error).__name__})") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as error:
            raise self._unavailable(operation, f"{type(error).__name__}: {error}") from None
        http = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if http >= 500 or http == 429:
            code, message = wire.error_of(body, http)
            raise self._unavailable(operation, f"HTTP {http} ({code}: {message})")
        if 400 <= http < 500:
            code, message = wire.error_of(body, http)
            message = self._scrub(message)
            reason = wire.rejection_of(code, http)
            if reason is Rejection.NOT_FOUND and path.startswith("/invoices/"):
                # "Could not find and update PENDING invoice": it is there, but not pending.
                reason = Rejection.NOT_ALLOWED
            raise GatewayRejected(reason, code, message)
        if not 200 <= http < 300:
            raise self._unavailable(operation, f"unexpected HTTP {http}")
        if not isinstance(body, dict | list):
            raise self._unavailable(operation, f"HTTP {http} with a body that is not JSON")
        return body

    def _unavailable(self, operation: str, detail: str) -> GatewayUnavailable:
        return GatewayUnavailable(f"xendit {operation}: {self._scrub(detail)}")

    def _scrub(self, text: str) -> str:
        return self._secrets.scrub(text)

    async def _observe(self, record: GatewayCallRecord) -> None:
        if self._observer is None:
            return
        try:
            await self._observer(record)
        except Exception:
            log.exception("the gateway call observer failed")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    return body


def _objects(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
        raise ValueError("the answer is not a JSON array of objects")
    return body


def _data_objects(body: Any) -> list[dict[str, Any]]:
    return _objects(_object(body).get("data"))
