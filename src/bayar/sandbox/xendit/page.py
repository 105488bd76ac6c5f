"""Xendit's hosted invoice page (`invoice_url`) and the simulator's Xendit views.

The invoice page lives under `/xendit/web/{id}`, beside the API, as Xendit's checkout does: a payer
picks a method (QRIS, an e-wallet, a virtual account, a store) and sees what to pay with. Paying is
simulated by a button that posts to `/pay/xendit/{id}`, outside `/xendit`, so beyond loopback it
needs BAYAR_SANDBOX_TOKEN as every hand control does (access.py). The page follows the invoice
(`…/status`, polled by static/xendit/invoice.js) and sends the payer to the merchant's
`success_redirect_url` once paid or `failure_redirect_url` once expired. No CDN, no inline script.
The page speaks the invoice's `locale` ("id" or "en", the merchant's choice, as Xendit's checkout
does), else the payer's language (bayar's order: the toggle, the cookie, Accept-Language).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bayar import i18n
from bayar.i18n import N_, _
from bayar.sandbox.http import PAGE_CSP, base_url, sandbox_of
from bayar.sandbox.notify import Notifier
from bayar.sandbox.pages import TEMPLATES, back_to, delivery_views
from bayar.sandbox.xendit import wire
from bayar.sandbox.xendit.errors import XenditError
from bayar.sandbox.xendit.invoices import invoice_qr
from bayar.sandbox.xendit.model import INVOICE_PAID, Invoice, PaymentRequest, XRefund
from bayar.sandbox.xendit.views import root_of as _root
from bayar.sandbox.xendit.views import view_of

STATIC_DIR = Path(__file__).parents[1] / "static" / "xendit"
# The page posts its Pay form to the sandbox, which redirects to the merchant's URL: form-action
# must allow that redirect (browsers check it), so this page widens the sandbox's CSP for it.
INVOICE_CSP = PAGE_CSP.replace("form-action 'self'", "form-action 'self' http: https:")
CHANNEL_GROUPS = (
    ("QRIS", "qr_codes"),
    (N_("E-wallet"), "ewallets"),
    (N_("Virtual account"), "banks"),
    (N_("Retail outlet"), "retail_outlets"),
)


def _png(payload: str) -> Response:
    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="png", scale=6, border=4)
    return Response(out.getvalue(), media_type="image/png")


def _redirect_for(invoice: Invoice) -> str | None:
    if invoice.status in INVOICE_PAID:
        return invoice.success_redirect_url
    if invoice.status == "EXPIRED":
        return invoice.failure_redirect_url
    return None


def _language(request: Request, invoice: Invoice | None) -> str:
    """`?lang=` (the page's toggle), else the invoice's locale, else the payer's language."""
    chosen = i18n.supported(request.query_params.get(i18n.QUERY))
    locale = i18n.supported(invoice.locale) if invoice is not None else None
    return chosen or locale or i18n.current()


def _not_found(request: Request) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "xendit/missing.html",
        {"root": _root(request)},
        status_code=404,
        headers={"Content-Security-Policy": INVOICE_CSP},
    )


async def invoice_page(request: Request) -> Response:
    sandbox = sandbox_of(request)
    invoice = sandbox.store.invoices.get(request.path_params["id"])
    if invoice is None:
        return _not_found(request)
    language = _language(request, invoice)
    with i18n.use(language):
        groups = [
            (
                attr,
                _(label),
                [{"channel": c, "destination": wire.destination(invoice, c)} for c in channels],
            )
            for label, attr in CHANNEL_GROUPS
            if (channels := getattr(invoice, attr))
        ]
    remaining = max(0.0, invoice.expiry_date - sandbox.clock.timestamp())
    page = f"{base_url(request)}/xendit/web/{invoice.id}"
    context = {
        "root": _root(request),
        "invoice": invoice,
        "merchant": wire.MERCHANT_NAME,
        "groups": groups,
        "qr_string": invoice_qr(invoice) if invoice.qr_codes else None,
        "remaining": remaining,
        "scale": sandbox.clock.scale,
        "status_url": f"{page}/status",
        "qr_url": f"{page}/qris.png",
        "redirect": _redirect_for(invoice),
        "error": request.query_params.get("error"),
    }
    with i18n.use(language):  # the template renders here
        return TEMPLATES.TemplateResponse(
            request,
            "xendit/invoice.html",
            context,
            headers={"Content-Security-Policy": INVOICE_CSP},
        )


async def invoice_status(request: Request) -> Response:
    invoice = sandbox_of(request).store.invoices.get(request.path_params["id"])
    if invoice is None:
        return JSONResponse(
            {"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "Could not find invoice by id"},
            status_code=404,
        )
    return JSONResponse({"status": invoice.status, "redirect": _redirect_for(invoice)})


async def invoice_qr_png(request: Request) -> Response:
    invoice = sandbox_of(request).store.invoices.get(request.path_params["id"])
    if invoice is None or not invoice.qr_codes:
        return JSONResponse(
            {"error_code": "NOT_FOUND", "message": "No QR code for this invoice"}, status_code=404
        )
    return _png(invoice_qr(invoice))


async def pay(request: Request) -> Response:
    """The invoice page's Pay button: the payer pays through the chosen channel."""
    sandbox = sandbox_of(request)
    form = await request.form()
    channel = form.get("channel")
    id_ = request.path_params["id"]
    page = f"{_root(request)}/xendit/web/{id_}"
    try:
        invoice = sandbox.xendit.pay_invoice(id_, channel if isinstance(channel, str) else None)
    except XenditError as error:
        return RedirectResponse(f"{page}?{urlencode({'error': error.message})}", status_code=303)
    return RedirectResponse(invoice.success_redirect_url or page, status_code=303)


def routes() -> list[BaseRoute]:
    """Under `/xendit`: the hosted invoice page, its status and QR image, its files."""
    return [
        Route("/web/{id}", invoice_page, methods=["GET"]),
        Route("/web/{id}/status", invoice_status, methods=["GET"]),
        Route("/web/{id}/qris.png", invoice_qr_png, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="xendit-static"),
    ]


# -- the simulator's Xendit views ---------------------------------------------------------------------

DONE = {
    "pay": N_("Paid: %(reference)s is now %(status)s."),
    "expire": N_("Expired: %(reference)s is now %(status)s."),
    "fail": N_("Failed: %(reference)s is now %(status)s."),
}


async def act(request: Request) -> Response:
    """The simulator's buttons: `POST /actions/xendit/{id}/{pay|expire|fail}`."""
    sandbox = sandbox_of(request)
    form = await request.form()
    raw_next = form.get("next")
    next_path = raw_next if isinstance(raw_next, str) else "/"
    action = request.path_params["action"]
    try:
        target = sandbox.xendit.act(request.path_params["id"], action)
    except XenditError as error:
        return back_to(request, next_path, error.message, "error")
    reference = (
        target.external_id if isinstance(target, Invoice) else target.reference_id or target.id
    )
    done = _(DONE[action], reference=reference, status=target.status)
    return back_to(request, next_path, done, "ok")


def object_body(request: Request, target: Invoice | PaymentRequest | XRefund) -> dict[str, Any]:
    """What Xendit's API answers for the object."""
    sandbox = sandbox_of(request)
    if isinstance(target, Invoice):
        return sandbox.xendit.invoice_body(target, base_url(request))
    if isinstance(target, PaymentRequest):
        return sandbox.xendit.payment_request_body(target)
    return wire.refund_json(target)


async def detail(request: Request) -> Response:
    sandbox = sandbox_of(request)
    target = sandbox.xendit.find(request.path_params["id"])
    if target is None or isinstance(target, XRefund):
        return TEMPLATES.TemplateResponse(
            request,
            "pages/message.html",
            {
                "root": _root(request),
                "scale": sandbox.clock.scale,
                "title": _("Not found"),
                "text": _("No Xendit invoice or payment request has this id."),
            },
            status_code=404,
        )
    notifier: Notifier = sandbox.notifier
    refunds = [
        wire.refund_json(r)
        for r in sandbox.store.xendit_refunds.values()
        if target.id in (r.invoice_id, r.payment_request_id)
    ]
    deliveries = [d for r in [target.id, *(x["id"] for x in refunds)] for d in notifier.log_for(r)]
    product = "invoice" if isinstance(target, Invoice) else "payment_request"
    return TEMPLATES.TemplateResponse(
        request,
        "pages/xendit_transaction.html",
        {
            "root": _root(request),
            "scale": sandbox.clock.scale,
            "v": view_of(request, target),
            "body": json.dumps(object_body(request, target), indent=2, ensure_ascii=False),
            "refunds": refunds,
            "deliveries": delivery_views(deliveries),
            "url": sandbox.xendit_callback_url(product),
            "flash": request.query_params.get("msg"),
            "flash_kind": "error" if request.query_params.get("kind") == "error" else "ok",
        },
    )


def simulator_routes() -> list[BaseRoute]:
    """Outside `/xendit`, so that beyond loopback they need BAYAR_SANDBOX_TOKEN."""
    return [
        Route("/pay/xendit/{id}", pay, methods=["POST"]),
        Route("/actions/xendit/{id}/{action}", act, methods=["POST"]),
        Route("/transactions/xendit/{id}", detail, methods=["GET"]),
    ]
