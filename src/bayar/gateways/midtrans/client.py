"""`MidtransGateway`: the Core API and Snap API over httpx, as `bayar.gateways.base.Gateway`.

Every call has a deadline. No httpx exception escapes: a timeout, a connection failure, an HTTP
5xx or 429, a body code of 5xx/900, or an answer that cannot be read raise `GatewayUnavailable`
(the outcome is unknown); Midtrans' business errors (HTTP 4xx, or HTTP 200 with a body
`status_code` >= 400 other than 407) raise `GatewayRejected`, and a 404 on a transaction
`TransactionNotFound`. The server key appears in no log line, exception message or repr.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from bayar.gateways import http
from bayar.gateways.base import (
    CallObserver,
    ChargeRequest,
    GatewayCallRecord,
    GatewayError,
    GatewayRejected,
    GatewayReport,
    GatewayUnavailable,
    NotificationMismatch,
    PaymentInstructions,
    SnapRequest,
    TransactionNotFound,
)
from bayar.gateways.midtrans import signature, wire
from bayar.gateways.secrets import Secrets

log = logging.getLogger("bayar.gateways.midtrans")
T = TypeVar("T")

CORE_SANDBOX_BASE_URL = "https://api.sandbox.midtrans.com"
CORE_PRODUCTION_BASE_URL = "https://api.midtrans.com"
SNAP_SANDBOX_BASE_URL = "https://app.sandbox.midtrans.com/snap/v1"
SNAP_PRODUCTION_BASE_URL = "https://app.midtrans.com/snap/v1"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
HEADERS = {"Accept": "application/json", "User-Agent": "bayar-midtrans"}
# Body codes that mean "try again later", not "no" (reference 3.7): rate limit, server errors.
RETRYABLE_CODES = frozenset({429, 900})
EXPIRED_CODE = 407  # the success code of /expire and of GET status on an expired transaction


def base_urls(is_production: bool) -> tuple[str, str]:
    """(Core API base, Snap base) of the real Midtrans; the Snap base includes `/snap/v1`."""
    if is_production:
        return CORE_PRODUCTION_BASE_URL, SNAP_PRODUCTION_BASE_URL
    return CORE_SANDBOX_BASE_URL, SNAP_SANDBOX_BASE_URL


def _path_id(order_id: str) -> str:
    """An order or transaction id as one URL path segment."""
    if not order_id or order_id.strip(".") == "":
        raise ValueError("the order id must be a non-empty id, not a path")
    return quote(order_id, safe="")


def _deadline(timeout: httpx.Timeout) -> float:
    """The longest a whole call may take: connecting, then waiting for the answer."""
    if timeout.connect is None or timeout.read is None:
        raise ValueError("the Midtrans client needs connect and read timeouts")
    return timeout.connect + timeout.read


class MidtransGateway:
    """The Midtrans adapter. Pass `transport` to talk to an in-process app (tests, the sandbox)."""

    name = "midtrans"
    refundable_types = wire.REFUNDABLE_TYPES

    def __init__(
        self,
        server_key: str,
        *,
        core_base_url: str,
        snap_base_url: str,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        if not server_key or any(c.isspace() for c in server_key):
            raise ValueError("the Midtrans server key is empty or contains whitespace")
        self._server_key = server_key
        # Texts that would give the key away, scrubbed from every message we build.
        self._secrets = Secrets(server_key)
        self._core = core_base_url.rstrip("/")
        self._snap = snap_base_url.rstrip("/")
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._deadline = _deadline(self._timeout)
        self._observer = observer
        self._client = http.client(server_key, HEADERS, self._timeout, transport)

    def __repr__(self) -> str:
        return f"MidtransGateway(core_base_url={self._core!r}, snap_base_url={self._snap!r})"

    async def __aenter__(self) -> MidtransGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- the Gateway protocol -------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> PaymentInstructions:
        body = wire.charge_body(request)
        return await self._call(
            "charge",
            "POST",
            f"{self._core}/v2/charge",
            wire.parse_charge,
            order_id=request.order_id,
            json=body,
            headers=self._idempotency(request.idempotency_key),
        )

    async def create_snap(self, request: SnapRequest) -> PaymentInstructions:
        body = wire.snap_body(request)
        return await self._call(
            "create_snap",
            "POST",
            f"{self._snap}/transactions",
            wire.parse_snap,
            order_id=request.order_id,
            json=body,
            headers=self._idempotency(request.idempotency_key),
        )

    async def status(self, order_id: str) -> GatewayReport:
        return await self._call(
            "status",
            "GET",
            f"{self._core}/v2/{_path_id(order_id)}/status",
            wire.parse_status,
            order_id=order_id,
            on_transaction=True,
        )

    async def cancel(self, order_id: str) -> GatewayReport:
        return await self._action("cancel", order_id)

    async def expire(self, order_id: str) -> GatewayReport:
        """Expire a pending transaction; Midtrans answers success with body code 407."""
        return await self._action("expire", order_id)

    async def refund(
        self, order_id: str, *, amount: int | None, refund_key: str, reason: str
    ) -> GatewayReport:
        """Refund `amount` rupiah (None: all that is left) under `refund_key`.

        Midtrans' refund answer names only the refund just made, so the transaction is read again
        to return every refund; if that read fails or does not show the new refund yet, the refund
        answer itself is returned. A repeated refund_key is rejected as `Rejection.DUPLICATE`.
        """
        if amount is not None and (isinstance(amount, bool) or amount < 1):
            raise ValueError("a refund amount must be a positive integer of rupiah, or None")
        body: dict[str, Any] = {"refund_key": refund_key, "reason": reason}
        if amount is not None:
            body["amount"] = amount
        answer = await self._call(
            "refund",
            "POST",
            f"{self._core}/v2/{_path_id(order_id)}/refund",
            wire.parse_status,
            order_id=order_id,
            json=body,
            on_transaction=True,
        )
        try:
            current = await self.status(order_id)
        except GatewayError as error:
            log.info("refund done; the status read after it failed: %s", error)
            return answer
        if any(r.refund_key == refund_key for r in current.refunds):
            return current
        return answer

    def verify_notification(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        return signature.verify(body, self._server_key)

    def parse_notification(self, body: Mapping[str, Any]) -> GatewayReport:
        """The notification as a report; ValueError if it cannot be read (e.g. "10000.50"),
        `NotificationMismatch` if its status_code does not fit its transaction_status (only the
        code is signed: the status of a genuine body may have been edited).
        It does not check the signature: call `verify_notification` first."""
        report = wire.parse_status(body)
        if not wire.notification_code_fits(body):
            raise NotificationMismatch(
                f"status_code {str(body.get('status_code'))[:8]} does not fit"
                f" transaction_status {report.gateway_status[:32]}"
            )
        return report

    def notification_labels(self, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return wire.notification_labels(body)

    # -- plumbing ---------------------------------------------------------------------------------

    @staticmethod
    def _idempotency(key: str | None) -> dict[str, str]:
        return {"Idempotency-Key": key} if key else {}

    async def _action(self, action: str, order_id: str) -> GatewayReport:
        return await self._call(
            action,
            "POST",
            f"{self._core}/v2/{_path_id(order_id)}/{action}",
            wire.parse_status,
            order_id=order_id,
            json={},
            on_transaction=True,
        )

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        parse: Callable[[Mapping[str, Any]], T],
        *,
        order_id: str,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        on_transaction: bool = False,
    ) -> T:
        """One call, timed once: its observer is handed what became of it."""
        started = time.perf_counter()
        outcome, detail = "unavailable", None
        try:
            body = await self._exchange(operation, method, url, json, headers, on_transaction)
            try:
                result = parse(body)
            except ValueError as error:
                raise self._unavailable(operation, f"unreadable answer: {error}") from None
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
            log.debug("midtrans %s: %s in %.3fs", operation, outcome, elapsed)
            await self._observe(GatewayCallRecord(operation, order_id, elapsed, outcome, detail))

    async def _exchange(
        self,
        operation: str,
        method: str,
        url: str,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
        on_transaction: bool,
    ) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._client.request(method, url, json=json, headers=headers)
        # `from None`: the transport's exception carries the request (and its Authorization
        # header) and an unscrubbed message; ours says what happened without them.
        except (TimeoutError, httpx.TimeoutException) as error:
            raise self._unavailable(operation, f"timed out ({type(error).__name__})") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as error:
            raise self._unavailable(operation, f"{type(error).__name__}: {error}") from None
        http = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._unavailable(operation, f"HTTP {http} with a body that is not a JSON object")
        if http >= 500 or http == 429:
            code, message = wire.error_of(body, http)
            raise self._unavailable(operation, f"HTTP {http} ({code}: {message})")
        if 400 <= http < 500:
            raise self._rejected(operation, body, http, on_transaction)
        if not 200 <= http < 300:
            raise self._unavailable(operation, f"unexpected HTTP {http}")
        answer_code = wire.body_code(body)
        if answer_code is not None and answer_code >= 400 and answer_code != EXPIRED_CODE:
            raise self._rejected(operation, body, http, on_transaction)
        return body

    def _rejected(
        self, operation: str, body: Mapping[str, Any], http: int, on_transaction: bool
    ) -> GatewayError:
        code, message = wire.error_of(body, http)
        message = self._scrub(message)
        number = int(code)
        if number >= 500 or number in RETRYABLE_CODES:
            return self._unavailable(operation, f"{code}: {message}")
        if number == 404 and on_transaction:
            return TransactionNotFound(code, message)
        return GatewayRejected(wire.rejection_of(number), code, message)

    def _unavailable(self, operation: str, detail: str) -> GatewayUnavailable:
        return GatewayUnavailable(f"midtrans {operation}: {self._scrub(detail)}")

    def _scrub(self, text: str) -> str:
        return self._secrets.scrub(text)

    async def _observe(self, record: GatewayCallRecord) -> None:
        if self._observer is None:
            return
        try:
            await self._observer(record)
        except Exception:
            # Metrics must never turn a payment call into a failure.
            log.exception("the gateway call observer failed")
