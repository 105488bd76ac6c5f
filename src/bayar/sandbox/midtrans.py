"""The Midtrans Core API and Snap API routes, in Midtrans' paths, shapes and status codes."""

from __future__ import annotations

import io
from collections.abc import Callable

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bayar.sandbox.engine import Gateway
from bayar.sandbox.faults import API_FAULTS
from bayar.sandbox.http import (
    BadJson,
    Handler,
    answer_late,
    read_json,
    reply,
    sandbox_of,
    syntax_error,
    urls_of,
)

FAULT_MESSAGES = {
    503: "Bank/partner is experiencing connection issue.",
}


def api_call(*, snap: bool = False, auth: bool = True) -> Callable[[Handler], Handler]:
    """Server-key auth, then any armed API fault (5xx answer, or a hang), then the handler."""

    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            if auth and not sandbox.gateway.server_key_ok(request.headers.get("authorization")):
                return reply(Gateway.unauthorized_snap() if snap else Gateway.unauthorized_core())
            fault = sandbox.faults.take(API_FAULTS)
            if fault is not None and fault.kind == "api_error":
                message = FAULT_MESSAGES.get(
                    fault.status,
                    "Sorry, we encountered internal server error. We will fix this soon.",
                )
                body: dict[str, object] = (
                    {"error_messages": [message]}
                    if snap
                    else {"status_code": str(fault.status), "status_message": message}
                )
                return JSONResponse(body, status_code=fault.status)
            if fault is not None and fault.kind == "api_hang":
                return await answer_late(fault.seconds, handler, request)
            return await handler(request)

        return endpoint

    return wrap


@api_call()
async def charge(request: Request) -> Response:
    try:
        body = await read_json(request)
    except BadJson:
        return syntax_error()
    gateway = sandbox_of(request).gateway
    return reply(gateway.charge(body, request.headers, urls_of(request)))


@api_call()
async def capture(request: Request) -> Response:
    try:
        body = await read_json(request)
    except BadJson:
        return syntax_error()
    return reply(sandbox_of(request).gateway.capture(body))


@api_call()
async def status(request: Request) -> Response:
    return reply(sandbox_of(request).gateway.status(request.path_params["id"]))


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() else default


@api_call()
async def status_b2b(request: Request) -> Response:
    page = _int_param(request, "page", 0)
    per_page = max(1, _int_param(request, "per_page", 10))
    return reply(sandbox_of(request).gateway.status_b2b(request.path_params["id"], page, per_page))


def _action(name: str) -> Handler:
    @api_call()
    async def endpoint(request: Request) -> Response:
        return reply(sandbox_of(request).gateway.action(request.path_params["id"], name))

    return endpoint


def _refund(*, direct: bool) -> Handler:
    @api_call()
    async def endpoint(request: Request) -> Response:
        try:
            body = await read_json(request)
        except BadJson:
            return syntax_error()
        gateway = sandbox_of(request).gateway
        return reply(gateway.refund(request.path_params["id"], body, direct=direct))

    return endpoint


@api_call(auth=False)
async def card_token(request: Request) -> Response:
    gateway = sandbox_of(request).gateway
    return reply(
        gateway.card_token(request.query_params, authorization=request.headers.get("authorization"))
    )


@api_call(auth=False)
async def card_register(request: Request) -> Response:
    gateway = sandbox_of(request).gateway
    return reply(
        gateway.card_token(
            request.query_params,
            authorization=request.headers.get("authorization"),
            register=True,
        )
    )


@api_call()
async def point_inquiry(request: Request) -> Response:
    return reply(sandbox_of(request).gateway.point_inquiry(request.path_params["token"]))


@api_call(snap=True)
async def snap_transactions(request: Request) -> Response:
    try:
        body = await read_json(request)
    except BadJson:
        return JSONResponse({"error_messages": ["Request body is not valid JSON"]}, status_code=400)
    gateway = sandbox_of(request).gateway
    return reply(gateway.snap_create(body, request.headers, urls_of(request)))


async def qr_code(request: Request) -> Response:
    """The PNG behind a charge's `generate-qr-code` action (public, as Midtrans' is)."""
    txn = sandbox_of(request).store.transactions.get(request.path_params["id"])
    payload = txn.details.get("qr_string") if txn else None
    if txn is None or not payload or txn.payment_type != request.path_params["kind"]:
        return JSONResponse(
            {"status_code": "404", "status_message": "Transaction doesn't exist."}, status_code=404
        )
    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), media_type="image/png")


def routes() -> list[BaseRoute]:
    return [
        Route("/v2/charge", charge, methods=["POST"]),
        Route("/v2/capture", capture, methods=["POST"]),
        Route("/v2/token", card_token, methods=["GET"]),
        Route("/v2/card/register", card_register, methods=["GET"]),
        Route("/v2/point_inquiry/{token}", point_inquiry, methods=["GET"]),
        Route("/v2/{kind:str}/{id}/qr-code", qr_code, methods=["GET"]),
        Route("/v2/{id}/status", status, methods=["GET"]),
        Route("/v2/{id}/status/b2b", status_b2b, methods=["GET"]),
        Route("/v2/{id}/cancel", _action("cancel"), methods=["POST"]),
        Route("/v2/{id}/expire", _action("expire"), methods=["POST"]),
        Route("/v2/{id}/approve", _action("approve"), methods=["POST"]),
        Route("/v2/{id}/deny", _action("deny"), methods=["POST"]),
        Route("/v2/{id}/refund", _refund(direct=False), methods=["POST"]),
        Route("/v2/{id}/refund/online/direct", _refund(direct=True), methods=["POST"]),
        Route("/snap/v1/transactions", snap_transactions, methods=["POST"]),
    ]
