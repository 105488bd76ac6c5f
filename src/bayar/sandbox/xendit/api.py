"""The Xendit API routes under `/sandbox/xendit`, in Xendit's paths, shapes and status codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bayar.sandbox.faults import API_FAULTS
from bayar.sandbox.http import BadJson, Handler, answer_late, base_url, read_json, sandbox_of
from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.errors import XenditError, unauthorized

FAULT_MESSAGES = {503: "The service is temporarily unavailable. Please try again later."}


def _error(error: XenditError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.http_status)


def xendit_call(handler: Handler) -> Handler:
    """Secret-key auth, then any armed API fault (a 5xx answer, or a hang), then the handler;
    a XenditError becomes Xendit's `{"error_code", "message"}` answer."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except XenditError as error:
            return _error(error)

    async def endpoint(request: Request) -> Response:
        sandbox = sandbox_of(request)
        if not sandbox.xendit.key_ok(request.headers.get("authorization")):
            return _error(unauthorized())
        fault = sandbox.faults.take(API_FAULTS)
        if fault is not None and fault.kind == "api_error":
            message = FAULT_MESSAGES.get(fault.status, "An unexpected error occurred")
            return JSONResponse(
                {"error_code": "SERVER_ERROR", "message": message}, status_code=fault.status
            )
        if fault is not None and fault.kind == "api_hang":
            return await answer_late(fault.seconds, guarded, request)
        return await guarded(request)

    return endpoint


async def _body(request: Request) -> Any:
    try:
        return await read_json(request)
    except BadJson:
        raise XenditError(
            400, "API_VALIDATION_ERROR", "The request body is not valid JSON"
        ) from None


def _query(request: Request) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        found.setdefault(key, []).append(value)
    return found


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


@xendit_call
async def create_invoice(request: Request) -> Response:
    sandbox = sandbox_of(request)
    invoice = sandbox.xendit.create_invoice(await _body(request))
    return _json(sandbox.xendit.invoice_body(invoice, base_url(request)))


@xendit_call
async def get_invoice(request: Request) -> Response:
    sandbox = sandbox_of(request)
    invoice = sandbox.xendit.invoice(request.path_params["id"])
    return _json(sandbox.xendit.invoice_body(invoice, base_url(request)))


@xendit_call
async def list_invoices(request: Request) -> Response:
    sandbox = sandbox_of(request)
    base = base_url(request)
    found = sandbox.xendit.list_invoices(_query(request))
    return _json([sandbox.xendit.invoice_body(i, base) for i in found])


@xendit_call
async def expire_invoice(request: Request) -> Response:
    sandbox = sandbox_of(request)
    invoice = sandbox.xendit.expire_invoice(request.path_params["id"])
    return _json(sandbox.xendit.invoice_body(invoice, base_url(request)))


@xendit_call
async def create_payment_request(request: Request) -> Response:
    sandbox = sandbox_of(request)
    found = sandbox.xendit.create_payment_request(
        await _body(request), request.headers.get("idempotency-key")
    )
    return _json(sandbox.xendit.payment_request_body(found), 201)


@xendit_call
async def get_payment_request(request: Request) -> Response:
    sandbox = sandbox_of(request)
    found = sandbox.xendit.payment_request(request.path_params["id"])
    return _json(sandbox.xendit.payment_request_body(found))


@xendit_call
async def list_payment_requests(request: Request) -> Response:
    sandbox = sandbox_of(request)
    found, more = sandbox.xendit.list_payment_requests(_query(request))
    return _json(
        {"data": [sandbox.xendit.payment_request_body(r) for r in found], "has_more": more}
    )


@xendit_call
async def simulate_payment(request: Request) -> Response:
    """Test mode's `POST /payment_requests/{id}/payments/simulate`: the QR is paid."""
    sandbox = sandbox_of(request)
    sandbox.xendit.pay_payment_request(request.path_params["id"])
    return _json({"status": "SUCCEEDED", "message": "The payment has been simulated"})


@xendit_call
async def create_refund(request: Request) -> Response:
    sandbox = sandbox_of(request)
    refund = sandbox.xendit.create_refund(
        await _body(request), request.headers.get("idempotency-key")
    )
    return _json(wire.refund_json(refund))


@xendit_call
async def get_refund(request: Request) -> Response:
    refund = sandbox_of(request).xendit.refund(request.path_params["id"])
    return _json(wire.refund_json(refund))


@xendit_call
async def list_refunds(request: Request) -> Response:
    found = sandbox_of(request).xendit.list_refunds(_query(request))
    return _json({"data": [wire.refund_json(r) for r in found], "has_more": False})


def _both(path: str, endpoint: Callable[[Request], Any], methods: list[str]) -> list[Route]:
    """The path with and without a trailing slash (the SDK posts to `/v2/invoices/`)."""
    return [Route(path, endpoint, methods=methods), Route(f"{path}/", endpoint, methods=methods)]


def routes() -> list[BaseRoute]:
    return [
        *_both("/v2/invoices", create_invoice, ["POST"]),
        *_both("/v2/invoices", list_invoices, ["GET"]),
        Route("/v2/invoices/{id}", get_invoice, methods=["GET"]),
        Route("/invoices/{id}/expire!", expire_invoice, methods=["POST"]),
        Route("/v2/invoices/{id}/expire!", expire_invoice, methods=["POST"]),
        *_both("/payment_requests", create_payment_request, ["POST"]),
        *_both("/payment_requests", list_payment_requests, ["GET"]),
        Route("/payment_requests/{id}", get_payment_request, methods=["GET"]),
        Route("/payment_requests/{id}/payments/simulate", simulate_payment, methods=["POST"]),
        *_both("/refunds", create_refund, ["POST"]),
        *_both("/refunds", list_refunds, ["GET"]),
        Route("/refunds/{id}", get_refund, methods=["GET"]),
    ]
