"""`GET /api/orders/{order_id}` and the admin operations cancel and refund."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from bayar.api.deps import Context, require_admin
from bayar.api.schemas import OrderOut, Problem, RefundIn, RefundResult
from bayar.api.views import order_out, refund_out

router = APIRouter(prefix="/api/orders", tags=["orders"])
ADMIN_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no or wrong admin token"},
    404: {"model": Problem, "description": "no such order"},
    409: {"model": Problem, "description": "the order's state does not allow it"},
    502: {"model": Problem, "description": "the gateway refused"},
    503: {"model": Problem, "description": "the gateway did not answer; retry"},
}


@router.get("/{order_id}", response_model=OrderOut, responses={404: {"model": Problem}})
async def get_order(order_id: str, ctx: Context) -> OrderOut:
    """An order as the backend knows it: status, items, payment instructions, history."""
    return order_out(await ctx.payments.order_details(order_id))


@router.post(
    "/{order_id}/cancel",
    response_model=OrderOut,
    dependencies=[Depends(require_admin)],
    responses=ADMIN_ERRORS,
)
async def cancel_order(order_id: str, ctx: Context) -> OrderOut:
    """Cancel a pending order at the gateway and here; its stock is released. Admin only."""
    await ctx.payments.cancel(order_id)
    return order_out(await ctx.payments.order_details(order_id))


@router.post(
    "/{order_id}/refund",
    response_model=RefundResult,
    dependencies=[Depends(require_admin)],
    responses={**ADMIN_ERRORS, 422: {"model": Problem, "description": "bad amount or key"}},
)
async def refund_order(order_id: str, body: RefundIn, ctx: Context) -> RefundResult:
    """Refund a paid order, fully (no amount) or in part. Idempotent by `refund_key`. Admin only."""
    refund = await ctx.payments.refund(
        order_id, amount=body.amount, refund_key=body.refund_key, reason=body.reason
    )
    order = await ctx.payments.order(order_id)
    return RefundResult(order_id=order_id, order_status=order.status, refund=refund_out(refund))
