"""A refund row follows what the gateway says of its key: `follow_gateway`, the one function that
the one path (`Transitions._apply_in`), a refund's answer (`Refunds._send_refund`) and the worker
(`Refunds.settle_refunds`) all use, so a refund callback, a refund call and a worker's pass
settle a row alike.

A refund the gateway accepted and has not finished (Xendit's, for a while) is `pending`: counted
as given, so nothing is refunded twice, while the order stays as it is (it changes only by the
gateway's own event, which counts succeeded refunds alone). One the gateway then fails gave no
money back: an admin's becomes `failed` (the order stays paid, its money kept; the admin may
refund again); one bayar asked for on its own (`PaymentsService.automatic_refunds`: a late
payment's, a kiosk unit's) goes to the manual-refund queue, since nobody else would notice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bayar.gateways.base import GatewayRefund, RefundState
from bayar.payments.states import UNSETTLED_REFUNDS, RefundStatus
from bayar.storage import repositories as repo

if TYPE_CHECKING:
    from bayar.payments.service import PaymentsService

log = logging.getLogger("bayar.payments.refunds")
FOLLOWS = {
    RefundState.PENDING: RefundStatus.PENDING,
    RefundState.SUCCEEDED: RefundStatus.SUCCEEDED,
    RefundState.FAILED: RefundStatus.FAILED,
}
# A refund row's detail once the gateway failed a refund it had accepted.
GATEWAY_FAILED = "the gateway failed the refund after accepting it: no money went back"


def moves(current: RefundStatus, told: RefundStatus) -> bool:
    """Whether a row in `current` takes the state the gateway tells. Succeeded is final; the
    money going back settles any other row (a person must not give it again); a row whose
    outcome is not settled takes pending or failed; a refused or queued one stays."""
    if current == told or current is RefundStatus.SUCCEEDED:
        return False
    if told is RefundStatus.SUCCEEDED:
        return True
    return current in UNSETTLED_REFUNDS


async def follow_gateway(
    core: PaymentsService,
    session: AsyncSession,
    order_id: str,
    listed: Sequence[GatewayRefund],
    now: datetime,
) -> None:
    """Inside the caller's transaction (the order locked): each refund row of the order whose
    key the gateway lists takes the state it lists (`moves`); rows it does not list are left."""
    told = {r.refund_key: FOLLOWS[r.state] for r in listed if r.refund_key}
    if not told:
        return
    for row in await repo.refunds_of(session, order_id):
        state = told.get(row.refund_key)
        if state is None or not moves(RefundStatus(row.status), state):
            continue
        if state is RefundStatus.FAILED and row.refund_key.startswith(
            tuple(core.automatic_refunds)
        ):
            reason = row.reason or ""
            queued = await core.refunds.queue_in(
                session, order_id, row.refund_key, row.amount, reason, GATEWAY_FAILED, now
            )
            for hook in core.on_automatic_refund_failed:
                await hook(session, queued, now)
            continue
        if state is RefundStatus.FAILED:
            log.warning(
                "refund of Rp %d failed at the gateway", row.amount, extra={"order_id": order_id}
            )
        row.status, row.updated_at = state.value, now
        row.detail = GATEWAY_FAILED if state is RefundStatus.FAILED else None
