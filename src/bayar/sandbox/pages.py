"""The simulator pages people use at `/sandbox/`: the transactions and their notifications, the
QRIS, GoPay checkout and pay-by-code simulators (reference 3.11), and the control API's description.

Server-rendered; every action is a plain form that POSTs and redirects back (303) with a message,
so the pages work without JavaScript. `static/pages/simulator.js` only adds countdowns and a live
refresh. The server key never appears on any page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bayar import i18n
from bayar.i18n import N_, _
from bayar.sandbox import qris, wire
from bayar.sandbox.engine import allowed_actions
from bayar.sandbox.errors import ControlError
from bayar.sandbox.http import base_url, sandbox_of, urls_of
from bayar.sandbox.model import PAID, Delivery, Transaction
from bayar.sandbox.xendit.model import INVOICE_PAID, Invoice, PaymentRequest
from bayar.sandbox.xendit.views import ACTION_NAMES as XENDIT_ACTION_NAMES
from bayar.sandbox.xendit.views import XView
from bayar.sandbox.xendit.views import view_of as xendit_view
from bayar.sandbox.xendit.views import xendit_views as list_xendit

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC_DIR = HERE / "static" / "pages"
ACTIONS = ("pay", "deny", "expire", "cancel")
LIST_LIMIT = 200
# A charge's QR image URL, as the `generate-qr-code` action gives it (ours or Midtrans').
QR_IMAGE_URL = re.compile(r"/v2/(qris|gopay)/([^/?#\s]+)/qr-code")
DONE = {
    "pay": N_("Paid: %(order)s is now %(status)s."),
    "deny": N_("Denied: %(order)s is now %(status)s."),
    "expire": N_("Expired: %(order)s is now %(status)s."),
    "cancel": N_("Cancelled: %(order)s is now %(status)s."),
}
ACTION_NAMES = {
    "pay": N_("Pay"),
    "deny": N_("Deny"),
    "expire": N_("Expire"),
    "cancel": N_("Cancel"),
}
METHOD_NAMES = {
    "qris": "QRIS",
    "gopay": "GoPay",
    "bank_transfer": N_("Bank transfer"),
    "echannel": N_("Mandiri bill"),
    "cstore": N_("Convenience store"),
    "credit_card": N_("Card"),
}


# -- formatting ----------------------------------------------------------------------------------


def rupiah(amount: int) -> str:
    """10000 -> "Rp 10.000", as Indonesians write it."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")


def wib(ts: float | None) -> str:
    return f"{wire.wib(ts)} WIB" if ts is not None else ""


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


i18n.install(TEMPLATES.env)  # the page language, _(); the filters below are the sandbox's own
TEMPLATES.env.globals["action_names"] = ACTION_NAMES
TEMPLATES.env.globals["xendit_action_names"] = XENDIT_ACTION_NAMES
TEMPLATES.env.filters["rupiah"] = rupiah
TEMPLATES.env.filters["wib"] = wib
TEMPLATES.env.filters["duration"] = duration


# -- what the pages show of a transaction --------------------------------------------------------


def method_of(txn: Transaction) -> tuple[str, str]:
    """The payment type's name and its bank, store or acquirer."""
    details = txn.details
    name = (
        _(METHOD_NAMES[txn.payment_type]) if txn.payment_type in METHOD_NAMES else txn.payment_type
    )
    detail = ""
    if txn.payment_type == "bank_transfer":
        if details.get("va_numbers"):
            detail = str(details["va_numbers"][0].get("bank", "")).upper()
        elif details.get("permata_va_number"):
            detail = "PERMATA"
    elif txn.payment_type == "echannel":
        detail = "MANDIRI"
    elif txn.payment_type == "cstore":
        detail = str(details.get("store") or "").capitalize()
    elif txn.payment_type == "qris":
        detail = str(details.get("acquirer") or "")
    elif txn.payment_type == "credit_card":
        detail = " ".join(str(details[k]) for k in ("bank", "masked_card") if details.get(k))
    return name, detail


def pay_codes(txn: Transaction) -> list[tuple[str, str]]:
    """The numbers a customer pays with at a bank or a shop: VA numbers, bill key, payment code."""
    details = txn.details
    codes: list[tuple[str, str]] = []
    for va in details.get("va_numbers") or []:
        if isinstance(va, dict) and va.get("va_number"):
            bank = str(va.get("bank", "")).upper()
            codes.append((_("%(bank)s VA number", bank=bank), str(va["va_number"])))
    if details.get("permata_va_number"):
        codes.append((_("%(bank)s VA number", bank="PERMATA"), str(details["permata_va_number"])))
    if details.get("bill_key"):
        codes.append((_("Mandiri bill key"), str(details["bill_key"])))
    if details.get("payment_code"):
        store = str(details.get("store") or _("store")).capitalize()
        codes.append((_("%(store)s payment code", store=store), str(details["payment_code"])))
    return codes


def merchant_of(txn: Transaction) -> str:
    payload = txn.details.get("qr_string")
    return merchant_of_qr(str(payload) if payload else "")


def merchant_of_qr(payload: str) -> str:
    """The merchant name a payer sees: the QR's own (EMVCo tags 59 and 60), else the sandbox
    merchant's."""
    if payload:
        try:
            fields = qris.parse(payload)
            return " ".join(x for x in (fields.get("59"), fields.get("60")) if x)
        except ValueError:
            pass
    return qris.QrisMerchant().name


@dataclass
class View:
    txn: Transaction
    method: str
    method_detail: str
    actions: list[str]
    codes: list[tuple[str, str]]
    merchant: str
    remaining: float | None  # sandbox seconds until expiry, when pending
    qr_url: str | None
    paid: bool
    short_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.short_id = self.txn.transaction_id[:8]


def view_of(request: Request, txn: Transaction) -> View:
    sandbox = sandbox_of(request)
    method, detail = method_of(txn)
    remaining = None
    if txn.transaction_status == "pending" and txn.expiry_time is not None:
        remaining = txn.expiry_time - sandbox.clock.timestamp()
    qr_url = None
    if txn.payment_type in ("qris", "gopay") and txn.details.get("qr_string"):
        qr_url = f"{_root(request)}/midtrans/v2/{txn.payment_type}/{txn.transaction_id}/qr-code"
    return View(
        txn=txn,
        method=method,
        method_detail=detail,
        actions=allowed_actions(txn),
        codes=pay_codes(txn),
        merchant=merchant_of(txn),
        remaining=remaining,
        qr_url=qr_url,
        paid=txn.transaction_status in PAID,
    )


def newest_first(transactions: Iterable[Transaction]) -> list[Transaction]:
    indexed = list(enumerate(transactions))
    indexed.sort(key=lambda pair: (pair[1].transaction_time, pair[0]), reverse=True)
    return [txn for _, txn in indexed]


def status_fields(request: Request, txn: Transaction) -> list[tuple[str, str]]:
    """GET status' fields without the signature, values as text (lists and objects as JSON)."""
    body = sandbox_of(request).gateway.status_body(txn)
    body.pop("signature_key", None)
    return [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in body.items()
    ]


@dataclass
class DeliveryView:
    delivery: Delivery
    body: str
    attempts: list[tuple[str, str, str]]
    next_attempt: str


def delivery_views(deliveries: list[Delivery]) -> list[DeliveryView]:
    views = []
    for d in deliveries:
        try:
            body = json.dumps(json.loads(d.body), indent=2, ensure_ascii=False)
        except ValueError:
            body = d.body
        views.append(
            DeliveryView(
                delivery=d,
                body=body,
                attempts=[(wib(a.at), a.outcome, a.detail) for a in d.attempts],
                next_attempt=wib(d.due_at) if d.state == "queued" else "",
            )
        )
    return views


# -- plumbing ------------------------------------------------------------------------------------


def _root(request: Request) -> str:
    """The sandbox's path prefix (e.g. /sandbox), for links that work whatever the host."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    sandbox = sandbox_of(request)
    base = base_url(request)
    flash = request.query_params.get("msg")
    full: dict[str, Any] = {
        "root": _root(request),
        "base": base,
        "api_base": f"{base}/midtrans",
        "client_key": sandbox.client_key,
        "scale": sandbox.clock.scale,
        "flash": flash,
        "flash_kind": "error" if request.query_params.get("kind") == "error" else "ok",
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, f"pages/{name}", full, status_code=status_code)


def _message(request: Request, status_code: int, title: str, text: str) -> Response:
    return _render(request, "message.html", {"title": title, "text": text}, status_code=status_code)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _safe_next(value: str) -> str:
    """A path inside the sandbox to go back to; anything else goes to the list."""
    value = value.strip()
    if not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value


def back_to(request: Request, next_path: str, message: str, kind: str) -> RedirectResponse:
    """A 303 to a page of the sandbox (`next_path`, else the list) with a one-off message."""
    target = _root(request) + _safe_next(next_path)
    sep = "&" if "?" in target else "?"
    query = urlencode({"msg": message, "kind": kind})
    return RedirectResponse(f"{target}{sep}{query}", status_code=303)


def _find_by_qr(request: Request, text: str) -> Transaction | Invoice | PaymentRequest:
    """The QRIS simulator: a pasted QR string (a Midtrans charge's, a Xendit QR payment
    request's or the QR of a Xendit invoice), or the QR image URL of a Midtrans charge."""
    sandbox = sandbox_of(request)
    text = text.strip()
    if not text:
        raise ControlError(400, _("Paste the QR code's text (qr_string) or its image URL."))
    match = QR_IMAGE_URL.search(text)
    if match:
        txn = sandbox.store.transactions.get(unquote(match.group(2)))
        if txn is None or txn.payment_type != match.group(1) or not txn.details.get("qr_string"):
            raise ControlError(404, _("No transaction was issued with this QR code."))
        return txn
    try:
        return sandbox.gateway.pay_by_qr(text)
    except ControlError:
        found = sandbox.xendit.find_by_qr(text)
        if found is None:
            raise ControlError(404, _("No transaction was issued with this QR code.")) from None
        return found


@dataclass
class XenditQr:
    """A Xendit QR as the QRIS simulator shows it before paying."""

    view: XView
    merchant: str
    paid: bool


def xendit_qr(request: Request, target: Invoice | PaymentRequest, text: str) -> XenditQr:
    paid = target.status in (*INVOICE_PAID, "SUCCEEDED")
    return XenditQr(
        view=xendit_view(request, target), merchant=merchant_of_qr(text.strip()), paid=paid
    )


def _find_by_code(request: Request, code: str) -> Transaction:
    """A VA number, Mandiri bill key or store payment code: its pending payment, else the newest."""
    wanted = re.sub(r"[\s-]", "", code).upper()
    if not wanted:
        raise ControlError(400, _("Enter a virtual account number, a bill key or a payment code."))
    found = [
        txn
        for txn in newest_first(sandbox_of(request).store.transactions.values())
        if any(value.upper() == wanted for _, value in pay_codes(txn))
    ]
    if not found:
        raise ControlError(404, _("No payment uses the number %(number)s.", number=wanted))
    pending = [txn for txn in found if txn.transaction_status == "pending"]
    return (pending or found)[0]


# -- pages ---------------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    sandbox = sandbox_of(request)
    transactions = newest_first(sandbox.store.transactions.values())
    xendit_views, xendit_total = list_xendit(request, LIST_LIMIT)
    return _render(
        request,
        "index.html",
        {
            "views": [view_of(request, t) for t in transactions[:LIST_LIMIT]],
            "total": len(transactions),
            "limit": LIST_LIMIT,
            "notification_url": sandbox.notification_url(),
            "xendit_views": xendit_views,
            "xendit_total": xendit_total,
        },
    )


async def transaction(request: Request) -> Response:
    sandbox = sandbox_of(request)
    txn = sandbox.store.find(request.path_params["id"])
    if txn is None:
        return _message(request, 404, _("Transaction not found"), _("Transaction doesn't exist."))
    return _render(
        request,
        "transaction.html",
        {
            "v": view_of(request, txn),
            "fields": status_fields(request, txn),
            "deliveries": delivery_views(sandbox.notifier.log_for(txn.order_id)),
            "urls": sandbox.notifier.urls_for(txn),
        },
    )


async def act(request: Request) -> Response:
    """`POST /actions/{transaction_id}/{pay|deny|expire|cancel}`, then back where it came from."""
    sandbox = sandbox_of(request)
    form = await request.form()
    next_path = _field(form, "next") or "/"
    action = request.path_params["action"]
    try:
        if action not in ACTIONS:
            raise ControlError(404, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        txn = sandbox.gateway.simulate(
            request.path_params["transaction_id"], action, payment_type=None, urls=urls_of(request)
        )
    except ControlError as error:
        return back_to(request, next_path, error.message, "error")
    message = _(DONE[action], order=txn.order_id, status=txn.transaction_status)
    return back_to(request, next_path, message, "ok")


async def result(request: Request) -> Response:
    """Where a simulator's Pay or Cancel lands: did it work?"""
    txn = sandbox_of(request).store.find(request.path_params["id"])
    if txn is None:
        return _message(request, 404, _("Transaction not found"), _("Transaction doesn't exist."))
    notifying = bool(sandbox_of(request).notifier.urls_for(txn))
    return _render(request, "result.html", {"v": view_of(request, txn), "notifying": notifying})


async def notification_url(request: Request) -> Response:
    """Save the dashboard's Payment Notification URL, as the control API's `config` does."""
    form = await request.form()
    url = _field(form, "notification_url").strip()
    if url and not url.startswith(("http://", "https://")):
        return back_to(
            request, "/", _("The notification URL must start with http:// or https://."), "error"
        )
    sandbox = sandbox_of(request)
    sandbox.store.save_config("notification_url", url or None)
    current = sandbox.notification_url()
    message = (
        _("Notifications go to %(url)s.", url=current)
        if current
        else _("Notifications are off (no URL).")
    )
    return back_to(request, "/", message, "ok")


async def qris_page(request: Request) -> Response:
    if request.method == "GET":
        return _render(request, "qris.html", {"qr": request.query_params.get("qr", "")})
    form = await request.form()
    text = _field(form, "qr")
    try:
        txn = _find_by_qr(request, text)
    except ControlError as error:
        return _render(
            request,
            "qris.html",
            {"qr": text, "error": error.message},
            status_code=error.http_status,
        )
    if isinstance(txn, Transaction):
        return _render(request, "qris.html", {"qr": text, "v": view_of(request, txn)})
    return _render(request, "qris.html", {"qr": text, "x": xendit_qr(request, txn, text)})


async def gopay_checkout(request: Request) -> Response:
    """The page behind a GoPay charge's `deeplink-redirect` action: the GoPay app, emulated."""
    reference = request.query_params.get("referenceid", "")
    txn = sandbox_of(request).store.transactions.get(reference) if reference else None
    if txn is None:
        return _message(
            request,
            404,
            _("GoPay payment not found"),
            _("No GoPay payment has this reference id."),
        )
    return _render(request, "gopay.html", {"v": view_of(request, txn)})


async def pay_code(request: Request) -> Response:
    if request.method == "GET":
        return _render(request, "pay_code.html", {"code": request.query_params.get("code", "")})
    form = await request.form()
    code = _field(form, "code")
    try:
        txn = _find_by_code(request, code)
    except ControlError as error:
        return _render(
            request,
            "pay_code.html",
            {"code": code, "error": error.message},
            status_code=error.http_status,
        )
    return _render(request, "pay_code.html", {"code": code, "v": view_of(request, txn)})


async def control_page(request: Request) -> Response:
    return _render(request, "control.html", {"control": f"{base_url(request)}/_control"})


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/transactions/{id}", transaction, methods=["GET"]),
        Route("/actions/{transaction_id}/{action}", act, methods=["POST"]),
        Route("/result/{id}", result, methods=["GET"]),
        Route("/notification-url", notification_url, methods=["POST"]),
        Route("/qris", qris_page, methods=["GET", "POST"]),
        Route("/qris/index", qris_page, methods=["GET", "POST"]),  # Midtrans' path
        Route("/gopay/checkout", gopay_checkout, methods=["GET"]),
        Route("/gopay/ui/checkout", gopay_checkout, methods=["GET"]),  # Midtrans' path
        Route("/pay-code", pay_code, methods=["GET", "POST"]),
        Route("/control", control_page, methods=["GET"]),
        Mount("/static/pages", app=StaticFiles(directory=STATIC_DIR), name="pages-static"),
    ]
