"""`GET /api/orders/{order_id}` and the admin operations cancel and refund."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bayar.api.deps import Context, require_admin
from bayar.api.schemas import OrderOut, Problem, RefundIn, RefundResult
from bayar.api.views import order_out, refund_out
from bayar.gateways.base import GatewayRejected, GatewayUnavailable
from bayar.payments.refunds import new_refund_key

router = APIRouter(prefix="/api/orders", tags=["orders"])
ADMIN_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no or wrong admin token"},
    404: {"model": Problem, "description": "no such order"},
    409: {"model": Problem, "description": "the order's state does not allow it"},
    502: {"model": Problem, "description": "the gateway refused"},
    503: {"model": Problem, "description": "the gateway did not answer; retry"},
}


class RefundProblem(BaseModel):
    """A refund that failed or whose outcome is unknown: retry it with `refund_key`."""

    detail: str
    refund_key: str | None = None


@router.get("/{order_id}", response_model=OrderOut, responses={404: {"model": Problem}})
async def get_order(order_id: str, ctx: Context) -> OrderOut:
    """An order as the backend knows it: status, items, payment instructions, history."""
    return order_out(await ctx.payments.reads.order_details(order_id))


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    dependencies=[Depends(require_admin)],
    responses=ADMIN_ERRORS,
)
async def cancel_order(order_id: str, ctx: Context) -> OrderOut:
    """Cancel a pending order at the gateway and here; its stock is released. Admin only."""
    await ctx.payments.reconcile.cancel(order_id)
    return order_out(await ctx.payments.reads.order_details(order_id))


@router.post(
    "/{order_id}/refund",
    response_model=RefundResult,
    dependencies=[Depends(require_admin)],
    responses={
        **ADMIN_ERRORS,
        422: {"model": Problem, "description": "bad amount or key"},
        502: {"model": RefundProblem, "description": "the gateway refused; its refund_key"},
        503: {
            "model": RefundProblem,
            "description": "the gateway did not answer: retry with the refund_key given",
        },
    },
)
async def refund_order(order_id: str, body: RefundIn, ctx: Context) -> RefundResult | JSONResponse:
    """Refund a paid order, fully (no amount) or in part. Idempotent by `refund_key` (bayar makes
    one if none is given; every answer carries it). Admin only."""
    key = body.refund_key or new_refund_key(order_id)
    try:
        refund = await ctx.payments.refunds.refund(
            order_id, amount=body.amount, refund_key=key, reason=body.reason
        )
    except GatewayUnavailable:
        detail = "the gateway did not answer; retry with the same refund_key"
        return JSONResponse(
            RefundProblem(detail=detail, refund_key=key).model_dump(),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    except GatewayRejected as error:
        detail = f"the gateway refused the refund: {error.message}"
        return JSONResponse(
            RefundProblem(detail=detail, refund_key=key).model_dump(), status_code=502
        )
    order = await ctx.payments.reads.order(order_id)
    return RefundResult(order_id=order_id, order_status=order.status, refund=refund_out(refund))
