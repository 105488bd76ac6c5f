"""What the simulator shows of Xendit's invoices and payment requests (pages.py, page.py)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from bayar.i18n import N_
from bayar.sandbox.http import sandbox_of
from bayar.sandbox.xendit.model import Invoice, PaymentRequest

# The simulator's buttons (xendit_macros.html).
ACTION_NAMES = {"pay": N_("Pay"), "expire": N_("Expire"), "fail": N_("Fail")}


def root_of(request: Request) -> str:
    """The sandbox's path prefix (e.g. /sandbox), whichever mount the request came through."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root.removesuffix("/xendit")


@dataclass
class XView:
    """A Xendit invoice or payment request as the simulator lists it."""

    id: str
    kind: str  # "Invoice" | "QRIS"
    reference: str
    amount: int
    status: str
    created: float
    expires: float
    remaining: float | None
    actions: list[str]
    page_url: str | None
    paid_channel: str | None


def actions_of(target: Invoice | PaymentRequest) -> list[str]:
    if target.status != "PENDING":
        return []
    return ["pay", "expire"] if isinstance(target, Invoice) else ["pay", "fail", "expire"]


def view_of(request: Request, target: Invoice | PaymentRequest) -> XView:
    now = sandbox_of(request).clock.timestamp()
    if isinstance(target, Invoice):
        expires, reference, kind = target.expiry_date, target.external_id, "Invoice"
        page_url: str | None = f"{root_of(request)}/xendit/web/{target.id}"
        channel = target.payment_channel
    else:
        expires, reference, kind = target.expires_at, target.reference_id, target.channel_code
        page_url, channel = None, None
    return XView(
        id=target.id,
        kind=kind,
        reference=reference,
        amount=target.amount,
        status=target.status,
        created=target.created,
        expires=expires,
        remaining=expires - now if target.status == "PENDING" else None,
        actions=actions_of(target),
        page_url=page_url,
        paid_channel=channel,
    )


def xendit_views(request: Request, limit: int) -> tuple[list[XView], int]:
    found = list(sandbox_of(request).xendit.newest_first())
    return [view_of(request, t) for t in found[:limit]], len(found)
