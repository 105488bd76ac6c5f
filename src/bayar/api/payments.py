"""`POST /api/payments/create-transaction`, `POST /api/payments/notification` (Midtrans) and
`POST /api/payments/xendit/callback` (Xendit)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from bayar.api.deps import Context
from bayar.api.errors import database_problem, problem
from bayar.api.limits import limit_create
from bayar.api.schemas import (
    NOTIFICATION_SCHEMA,
    CreateTransaction,
    NotificationReceipt,
    Problem,
    TransactionOut,
)
from bayar.api.views import payment_out, transaction_out
from bayar.context import AppContext, context_of
from bayar.gateways.base import Customer
from bayar.gateways.midtrans.wire import NOTIFICATION_LIMITS
from bayar.inputs import InputError, check_target, json_value, read_json
from bayar.payments.checkout import CartLine, Checkout
from bayar.payments.inbox import Inbox
from bayar.payments.reads import customer_payment
from bayar.storage.db import DatabaseError

router = APIRouter(prefix="/api/payments", tags=["payments"])


@router.post(
    "/create-transaction",
    status_code=201,
    response_model=TransactionOut,
    dependencies=[Depends(limit_create)],
    responses={
        200: {
            "model": TransactionOut,
            "description": "the order made earlier with this Idempotency-Key",
        },
        202: {
            "model": TransactionOut,
            "description": "created (or made earlier with this Idempotency-Key); the gateway has"
            " not answered yet (payment null): retry with the same key",
        },
        401: {"model": Problem, "description": "machine_id without the machine's X-Kiosk-Token"},
        409: {"model": Problem, "description": "not enough stock"},
        422: {
            "model": Problem,
            "description": "unknown product or machine, bad quantity, too many units, malformed"
            " body, a gateway not configured here, or an Idempotency-Key used for a different"
            " request",
        },
        429: {"model": Problem, "description": "too many orders from this address (Retry-After)"},
        502: {"model": Problem, "description": "the gateway refused; the reservation is released"},
    },
)
async def create_transaction(
    body: CreateTransaction,
    ctx: Context,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    x_kiosk_token: Annotated[str | None, Header(max_length=200)] = None,
) -> TransactionOut:
    """Price the cart on the server, reserve stock, create the order and its gateway transaction.
    A kiosk order (`machine_id`) needs the machine's token in `X-Kiosk-Token`."""
    if body.machine_id is not None:
        await ctx.vending.authorize(body.machine_id, x_kiosk_token)
    customer = Customer(**body.customer.model_dump()) if body.customer else None
    order, replayed = await ctx.payments.checkout.create_transaction(
        Checkout(
            items=tuple(CartLine(i.product_id, i.quantity) for i in body.items),
            payment_type=body.payment_type,
            customer=customer,
            bank=body.bank,
            store=body.store,
            machine_id=body.machine_id,
            idempotency_key=idempotency_key,
            finish_url=body.finish_url,
            gateway=body.gateway,
        )
    )
    # The order as the service returned it; only its payment is read (the create call wrote it).
    payment = await ctx.payments.reads.payment(order.id)
    out = transaction_out(order, payment_out(customer_payment(payment)))
    if out.payment is None and order.status == "pending":
        response.status_code = 202  # the gateway's answer is not in yet: retry with the key
    elif replayed:
        response.status_code = 200
    return out


class PlainRoute(APIRoute):
    """A route declared and documented as any other, whose endpoint takes the request and makes
    the answer itself: no dependency resolution, no body model, no answer validation. Only the
    gateways' notifications, the routes on the gateway's clock (bench/webhooks.py: those cost
    them more CPU than their own work)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


@dataclass(frozen=True)
class _Gateway:
    """What a gateway's notification route needs: its inbox, and what bounds its fields."""

    inbox: Callable[[AppContext], Inbox | None]
    limits: Mapping[str, int]
    missing: str  # the 404's detail, where the gateway is not configured


_MIDTRANS = _Gateway(lambda c: c.inbox, NOTIFICATION_LIMITS, "Midtrans is not configured here")
_XENDIT = _Gateway(lambda c: c.xendit_inbox, {}, "Xendit is not configured here")
NOTIFICATION_PATH = f"{router.prefix}/notification"
XENDIT_CALLBACK_PATH = f"{router.prefix}/xendit/callback"


async def notification(request: Request) -> Response:
    """The Midtrans webhook. Duplicates and unknown orders get 200, as Midtrans asks. A change
    it reports is applied from the gateway's status API, not from the body. 404 when Midtrans is
    not configured here (a Xendit-only install)."""
    return await _route(_MIDTRANS, request)


async def xendit_callback(request: Request) -> Response:
    """Xendit's callbacks (invoices, payment requests, refunds), checked by their
    `x-callback-token`. Duplicates (the same `webhook-id`, else the same object and status) and
    unknown orders get 200. A change it reports is applied from Xendit's API, not the body."""
    return await _route(_XENDIT, request)


async def _route(gateway: _Gateway, request: Request) -> Response:
    """A notification that reached the routes, not `NotificationLane`."""
    raw = await request.body()
    return _answer(
        *await _receive(gateway, context_of(request), raw, request.headers, json_value(raw))
    )


async def _receive(
    gateway: _Gateway, context: AppContext, raw: bytes, headers: Mapping[str, str], body: Any
) -> tuple[int, dict[str, str]]:
    """The one path of every gateway's notifications: `body` (`raw` as JSON, parsed once; None
    when it is not JSON, which the inbox keeps what it can of and answers 400), the gateway's
    declared field limits (422), then its inbox. The answer's status and JSON."""
    inbox = gateway.inbox(context)
    if inbox is None:
        return 404, {"detail": gateway.missing}
    if isinstance(body, dict):
        for name, limit in gateway.limits.items():
            value = body.get(name)
            if isinstance(value, str) and len(value) > limit:
                return 422, {"detail": f"{name}: at most {limit} characters"}
    receipt = await inbox.receive(raw, headers, body)
    answer = {"status": receipt.outcome}
    if receipt.order_id is not None:
        answer["order_id"] = receipt.order_id
    if receipt.detail is not None:
        answer["detail"] = receipt.detail
    return receipt.http_status, answer


class NotificationLane:
    """ASGI middleware, just inside the security headers: a POST to a gateway's notification
    route goes straight to `_receive`, past the language, the admin's session, the router and
    FastAPI's handling of a request, which took about as much CPU as the notification's own work
    (py-spy, bench/webhooks.py). The body gets the checks every request gets (`inputs.read_json`,
    which hands on the JSON it parsed), the answers are the routes' own, and a lost database
    connection is the API's 503. Anything else at these paths (another method, a trailing slash)
    goes on to the routes, which stay as they are in the OpenAPI document."""

    def __init__(self, app: ASGIApp, *, context: AppContext, max_body: int) -> None:
        self.app = app
        self.context = context
        self.max_body = max_body
        self.routes = {NOTIFICATION_PATH: _MIDTRANS, XENDIT_CALLBACK_PATH: _XENDIT}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = None
        if scope["type"] == "http" and scope["method"] == "POST":
            gateway = self.routes.get(scope["path"])
        if gateway is None:
            await self.app(scope, receive, send)
            return
        refused: Response
        try:
            check_target(scope["path"], scope.get("query_string", b""))
            raw, body = await read_json(scope, receive, self.max_body)
            status, content = await _receive(gateway, self.context, raw, Headers(scope=scope), body)
        except InputError as error:
            refused = problem(error.status, error.message)
        except DatabaseError as error:
            refused = database_problem(error)
        else:
            # The answer as `_answer` makes it, without building a Response.
            answer = _json(content)
            headers = [(b"content-length", b"%d" % len(answer)), (b"content-type", JSON_TYPE)]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        await refused(scope, receive, send)


JSON_TYPE = b"application/json"


def _json(content: dict[str, str]) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _answer(status: int, content: dict[str, str]) -> Response:
    return Response(_json(content), status_code=status, media_type=JSON_TYPE.decode())


router.add_api_route(
    "/notification",
    notification,
    methods=["POST"],
    route_class_override=PlainRoute,
    response_model=NotificationReceipt,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": NOTIFICATION_SCHEMA}}}
    },
    responses={
        400: {
            "model": Problem,
            "description": "not a JSON notification, or its status_code does not fit its"
            " transaction_status (an edited body)",
        },
        401: {"model": Problem, "description": "signature_key does not match"},
        404: {"model": Problem, "description": "Midtrans is not configured here"},
        422: {
            "model": Problem,
            "description": "amount or currency differs from the order, or a field is too long",
        },
    },
)


router.add_api_route(
    "/xendit/callback",
    xendit_callback,
    methods=["POST"],
    route_class_override=PlainRoute,
    response_model=NotificationReceipt,
    responses={
        400: {
            "model": Problem,
            "description": "not a JSON callback of invoices, payments or refunds",
        },
        401: {"model": Problem, "description": "x-callback-token missing or wrong"},
        404: {"model": Problem, "description": "Xendit is not configured here"},
        422: {"model": Problem, "description": "amount or currency differs from the order"},
    },
)
