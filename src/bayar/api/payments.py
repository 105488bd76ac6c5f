"""`POST /api/payments/create-transaction`, `POST /api/payments/notification` (Midtrans) and
`POST /api/payments/xendit/callback` (Xendit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from bayar.api.deps import Context
from bayar.api.guard import bounded_notification
from bayar.api.limits import limit_create
from bayar.api.schemas import (
    NOTIFICATION_SCHEMA,
    CreateTransaction,
    NotificationReceipt,
    Problem,
    TransactionOut,
)
from bayar.api.views import transaction_out
from bayar.gateways.base import Customer
from bayar.payments.checkout import CartLine, Checkout
from bayar.storage import repositories as repo
from bayar.storage.models import Order

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
    async with ctx.db.session() as session:
        fresh = await session.get(Order, order.id)
        payment = await repo.payment_of(session, order.id)
    assert fresh is not None
    out = transaction_out(fresh, payment)
    if out.payment is None and fresh.status == "pending":
        response.status_code = 202  # the gateway's answer is not in yet: retry with the key
    elif replayed:
        response.status_code = 200
    return out


@router.post(
    "/notification",
    response_model=NotificationReceipt,
    dependencies=[Depends(bounded_notification)],
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
        422: {
            "model": Problem,
            "description": "amount or currency differs from the order, or a field is too long",
        },
    },
)
async def notification(request: Request, ctx: Context) -> JSONResponse:
    """The Midtrans webhook. Duplicates and unknown orders get 200, as Midtrans asks. A change
    it reports is applied from the gateway's status API, not from the body."""
    receipt = await ctx.inbox.receive(await request.body(), request.headers)
    body = NotificationReceipt(
        status=receipt.outcome, order_id=receipt.order_id, detail=receipt.detail
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=receipt.http_status)


@router.post(
    "/xendit/callback",
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
async def xendit_callback(request: Request, ctx: Context) -> JSONResponse:
    """Xendit's callbacks (invoices, payment requests, refunds), checked by their
    `x-callback-token`. Duplicates (the same `webhook-id`, else the same object and status) and
    unknown orders get 200. A change it reports is applied from Xendit's API, not the body."""
    if ctx.xendit_inbox is None:
        raise HTTPException(404, "Xendit is not configured here")
    receipt = await ctx.xendit_inbox.receive(await request.body(), request.headers)
    body = NotificationReceipt(
        status=receipt.outcome, order_id=receipt.order_id, detail=receipt.detail
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=receipt.http_status)
