"""The online shop: `GET /` (catalog, cart, checkout through snap.js), `GET /orders/{order_id}`
(the order as the backend knows it, updated live), `GET /orders/finish` (Snap's finish redirect)
and `GET /orders/{order_id}/qr.svg` (the QRIS code of a pending order).

Pages are rendered here from the database; their scripts (`static/shop.js`, `static/order.js`) talk
to the public JSON API only: `GET /api/products`, `POST /api/payments/create-transaction`,
`GET /api/orders/{order_id}`. An order's status is never taken from a query string or a snap.js
callback: those only say which order page to open.
"""

from __future__ import annotations

import io
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bayar import i18n
from bayar.assets import versioned
from bayar.context import AppContext, context_of
from bayar.gateways.methods import label_of, method_labels
from bayar.i18n import N_, _, wib
from bayar.payments.errors import OrderNotFound
from bayar.payments.reads import OrderDetails, customer_payment, declined_attempt
from bayar.payments.states import Status
from bayar.payments.status_names import STATUS_NAMES as ORDER_STATUS_NAMES
from bayar.storage import shop as shop_reads

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_URL = "/shop/static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
i18n.install(TEMPLATES.env)

DECLINED = "declined"
# Statuses after which the order page stops asking (paid may still be refunded by an admin, but
# nothing the customer waits for happens any more): all but the open ones.
FINAL = tuple(s.value for s in Status if not s.is_open)
PAGE_HEADERS = {"Cache-Control": "no-store"}
# Title and line of each order status (order.js receives the same table with the page).
STATUS_TEXT = {
    "pending": (
        N_("Waiting for your payment"),
        N_("Complete the payment below before the time runs out."),
    ),
    "review": (
        N_("Payment under review"),
        N_("Your bank is checking the payment. This page updates by itself."),
    ),
    "paid": (
        N_("Payment received"),
        N_("Thank you! We received your payment for this order."),
    ),
    "fulfilled": (N_("Order complete"), N_("Thank you! Your order has been handed over.")),
    "failed": (
        N_("Payment failed"),
        N_(
            "The payment was declined. Nothing was charged. "
            "Order again and pay with another card or another payment method."
        ),
    ),
    "expired": (
        N_("Payment expired"),
        N_(
            "The time to pay ran out. Nothing was charged. "
            "Order again to get a new payment; your cart is kept."
        ),
    ),
    "cancelled": (
        N_("Order cancelled"),
        N_("This order was cancelled. Nothing was charged. Order again if you still want it."),
    ),
    "refunded": (N_("Payment refunded"), N_("The payment was refunded in full.")),
    "partially_refunded": (N_("Partly refunded"), N_("Part of the payment was refunded to you.")),
    # Not a status: a pending order whose last attempt was declined (payments.declined_attempt).
    DECLINED: (
        N_("Your card was declined"),
        N_(
            "Nothing was charged. Try another card, or choose another payment method below, "
            "before the time runs out."
        ),
    ),
}
# An order's status in a word or two (the summary's chip): the words the admin's badges say too.
STATUS_NAMES = {status.value: name for status, name in ORDER_STATUS_NAMES.items()}


def status_text() -> dict[str, tuple[str, str]]:
    """STATUS_TEXT in the language of the request."""
    return {key: (_(title), _(line)) for key, (title, line) in STATUS_TEXT.items()}


def status_names() -> dict[str, str]:
    return {key: _(name) for key, name in STATUS_NAMES.items()}


def text_key(order: dict[str, Any]) -> str:
    """Which STATUS_TEXT entry tells the customer where the order stands (order.js: the same)."""
    return DECLINED if order.get("declined_attempt") else str(order["status"])


def view_of(status: str) -> str:
    """Which of the order page's views shows a status (order.js has the same table)."""
    if status in ("paid", "fulfilled"):
        return "paid"
    if status in ("refunded", "partially_refunded"):
        return "refunded"
    if status in ("failed", "expired", "cancelled"):
        return "failed"
    return "pending"  # pending, review


def instructions_kind(payment: dict[str, Any] | None) -> str:
    """What a pending order asks of the customer (order.js has the same rule): `wait` (the gateway
    has not answered yet), `va`, `bill`, `code`, `qr`, `snap` (no method chosen yet: re-open Snap)."""
    if payment is None:
        return "wait"
    if payment.get("va_number"):
        return "va"
    if payment.get("bill_key"):
        return "bill"
    if payment.get("payment_code"):
        return "code"
    if payment.get("qr_string"):
        return "qr"
    if payment.get("token") or payment.get("redirect_url"):
        return "snap"
    return "wait"


def method_label(payment: dict[str, Any] | None) -> str:
    """The payment method in words (gateways/methods.py; order.js: the same rule)."""
    return label_of(payment)


def order_view(details: OrderDetails) -> dict[str, Any]:
    """The order as the page's script receives it from `GET /api/orders/{id}` (the fields it uses)."""
    order = details.order
    expires = order.expires_at if order.expires_at.tzinfo else order.expires_at.replace(tzinfo=UTC)
    return {
        "order_id": order.id,
        "status": order.status,
        "gross_amount": order.gross_amount,
        "expiry_time": expires.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "items": [
            {"product_id": i.product_id, "name": i.name, "price": i.price, "quantity": i.quantity}
            for i in details.items
        ],
        "payment": customer_payment(details.payment),
        "declined_attempt": declined_attempt(order.status, details.history),
    }


asset = versioned(STATIC, STATIC_URL)


def _common(ctx: AppContext) -> dict[str, Any]:
    return {
        "asset": asset,
        "sandbox": ctx.settings.bayar_sandbox,
        # None on a Xendit-only install: no snap.js, no client key (its checkout is an invoice).
        "snap_js": ctx.snap_js_url,
        "client_key": ctx.settings.client_key() if ctx.snap_js_url else None,
    }


def _not_found(request: Request, ctx: AppContext, order_id: str) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "not_found.html",
        {**_common(ctx), "order_id": order_id},
        status_code=404,
        headers=PAGE_HEADERS,
    )


def page_not_found(request: Request) -> HTMLResponse:
    """The page a browser gets for an address bayar has nothing at (API clients get JSON: see
    api/errors.py, which app.py hands this page to)."""
    return TEMPLATES.TemplateResponse(
        request,
        "not_found.html",
        {**_common(context_of(request)), "order_id": None, "path": request.url.path},
        status_code=404,
        headers=PAGE_HEADERS,
    )


def router() -> APIRouter:
    shop = APIRouter(tags=["storefront"], include_in_schema=False)

    @shop.get("/", response_class=HTMLResponse)
    async def catalog(request: Request) -> HTMLResponse:
        ctx = context_of(request)
        rows = await shop_reads.products_on_sale(ctx.db)
        products = [
            {
                "id": p.id,
                "name": p.name,
                "price": p.price,
                "stock": p.stock,
                "image_url": p.image_url,
                "description": p.description,
                "category": p.category,
            }
            for p in rows
        ]
        return TEMPLATES.TemplateResponse(
            request,
            "shop.html",
            {**_common(ctx), "products": products},
            headers=PAGE_HEADERS,
        )

    @shop.get("/orders/finish")
    async def finish(request: Request) -> Response:
        """Snap's Finish URL (`?order_id=…&status_code=…&transaction_status=…`): only the order id
        is used, to open its page, which asks the backend for the status."""
        order_id = request.query_params.get("order_id", "").strip()
        if not order_id:
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(f"/orders/{quote(order_id, safe='')}", status_code=303)

    @shop.get("/orders/{order_id}", response_class=HTMLResponse)
    async def order_page(request: Request, order_id: str) -> HTMLResponse:
        ctx = context_of(request)
        try:
            details = await ctx.payments.reads.order_details(order_id)
        except OrderNotFound:
            return _not_found(request, ctx, order_id)
        order = details.order
        view = order_view(details)
        text = status_text()
        title, message = text.get(text_key(view), (order.status.capitalize(), ""))
        return TEMPLATES.TemplateResponse(
            request,
            "order.html",
            {
                **_common(ctx),
                "order": view,
                "p": view["payment"] or {},
                "title": title,
                "message": message,
                "text": text,
                "statuses": status_names(),
                "labels": method_labels(),
                "method": method_label(view["payment"]),
                "view": view_of(order.status),
                "kind": instructions_kind(view["payment"]),
                "deadline": wib(order.expires_at),
                "created": wib(order.created_at),
                "final": FINAL,
            },
            headers=PAGE_HEADERS,
        )

    @shop.get("/orders/{order_id}/qr.svg")
    async def qr_code(request: Request, order_id: str) -> Response:
        """The QRIS (or GoPay) code of the order's payment, drawn from its `qr_string`."""
        ctx = context_of(request)
        payment = await ctx.payments.reads.payment(order_id)
        text = payment.instructions.get("qr_string") if payment is not None else None
        if not isinstance(text, str) or not text:
            return Response("no QR code for this order", status_code=404, media_type="text/plain")
        buffer = io.BytesIO()
        segno.make(text, error="m", micro=False).save(
            buffer, kind="svg", scale=8, border=2, dark="#0f172a", xmldecl=False, svgns=True
        )
        return Response(
            buffer.getvalue(),
            media_type="image/svg+xml",
            headers={"Cache-Control": "private, max-age=300"},
        )

    return shop
