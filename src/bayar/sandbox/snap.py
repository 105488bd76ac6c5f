"""Snap's front end: snap.js, the payment page and the 3-D Secure page (reference 3.6, 3.10, 3.11).

A front end written for Midtrans' snap.js loads `/snap/snap.js` from the sandbox instead and works
unchanged: `snap.pay(token, {onSuccess, onPending, onError, onClose})` opens the payment page
`/snap/v2/vtweb/{token}?embed=1` in an overlay and the page reports back with `postMessage`.
Without `embed=1` the same page is Snap's redirect mode (`redirect_url` of the Snap API).

The page talks to three JSON endpoints next to it (`charge`, `status`, `3ds`), to the sandbox's
card token endpoint with the public client key, and, since this is a sandbox, to the control API
to simulate the customer paying. The server key never reaches a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bayar import i18n
from bayar.i18n import N_, _
from bayar.sandbox import methods, wire
from bayar.sandbox.engine import enabled_allows
from bayar.sandbox.errors import ControlError
from bayar.sandbox.http import (
    MIDTRANS_NOT_FOUND,
    base_url,
    read_object,
    sandbox_of,
    urls_of,
)
from bayar.sandbox.model import SnapSession, Transaction
from bayar.sandbox.qris import QrisMerchant

HERE = Path(__file__).parent
STATIC = HERE / "static" / "snap"
ASSETS = {"page.css": "text/css", "page.js": "text/javascript"}
LANGUAGES = ("id", "en")
# The pages load only what the sandbox serves; frames of any merchant site may embed them.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}


@dataclass(frozen=True)
class Method:
    """A payment method on the page; `key` is the name snap.pay's enabledPayments uses."""

    key: str
    payment_type: str
    label: str
    logo: str
    bank: str | None = None
    store: str | None = None
    group: str | None = None

    def choice(self) -> dict[str, str]:
        choice = {"payment_type": self.payment_type}
        if self.bank:
            choice["bank"] = self.bank
        if self.store:
            choice["store"] = self.store
        return choice

    @property
    def wanted(self) -> str:
        return self.bank or self.store or self.payment_type

    def allowed_by(self, enabled: Any) -> bool:
        """The Snap request's `enabled_payments`, read exactly as `Gateway.snap_charge` reads it."""
        return enabled_allows(enabled, self.payment_type, self.wanted)

    def aliases(self) -> list[str]:
        """The names that select this method in snap.pay's enabledPayments/selectedPaymentType."""
        names = [self.key, self.payment_type, self.wanted, f"{self.wanted}_va"]
        if self.payment_type == "qris":
            names.append("other_qris")
        return sorted(set(names))


METHODS = (
    Method("qris", "qris", "QRIS", "QRIS"),
    Method("gopay", "gopay", "GoPay", "GoPay"),
    Method("bca_va", "bank_transfer", "BCA Virtual Account", "BCA", bank="bca", group="bank"),
    Method("bni_va", "bank_transfer", "BNI Virtual Account", "BNI", bank="bni", group="bank"),
    Method("bri_va", "bank_transfer", "BRI Virtual Account", "BRI", bank="bri", group="bank"),
    Method(
        "permata_va",
        "bank_transfer",
        "Permata Virtual Account",
        "PMT",
        bank="permata",
        group="bank",
    ),
    Method("echannel", "echannel", "Mandiri Bill Payment", "MDR", group="bank"),
    Method("credit_card", "credit_card", "", "CARD"),
    Method("indomaret", "cstore", "Indomaret", "IDM", store="indomaret"),
    Method("alfamart", "cstore", "Alfamart", "ALFA", store="alfamart"),
)

# The Snap page's words by key (its script looks them up by the same keys); the catalogs
# translate them. Snap's `language` option chooses the language (Midtrans: id by default).
STRINGS: dict[str, str] = {
    "title": N_("Payment"),
    "total": N_("Total"),
    "order_id": N_("Order ID"),
    "order_items": N_("Order details"),
    "choose": N_("Choose a payment method"),
    "choose_bank": N_("Choose a bank"),
    "bank_transfer": N_("Bank transfer / Virtual Account"),
    "bank_transfer_sub": N_("BCA, BNI, BRI, Permata, Mandiri"),
    "qris_sub": N_("Any e-wallet or mobile banking app that accepts QRIS"),
    "gopay_sub": N_("Pay with the Gojek or GoPay app"),
    "card": N_("Credit/debit card"),
    "credit_card_sub": N_("Visa, Mastercard, JCB"),
    "cstore_sub": N_("Pay cash at the cashier"),
    "no_methods": N_("No payment method is available for this transaction."),
    "qris_hint": N_("Scan this QR code with any QRIS-enabled payment app."),
    "gopay_hint": N_("Scan this QR code with the Gojek or GoPay app."),
    "qr_string": N_("QR code content (qr_string)"),
    "va_number": N_("Virtual account number"),
    "va_hint": N_("Transfer exactly the total from an ATM, mobile or internet banking."),
    "bill_key": N_("Bill key"),
    "biller_code": N_("Company code (biller code)"),
    "echannel_hint": N_("Pay in Livin' by Mandiri or at a Mandiri ATM: Pay, Multipayment."),
    "payment_code": N_("Payment code"),
    "cstore_hint": N_("Show this code to the cashier and pay in cash."),
    "copy_label": N_("Copy"),
    "copied_label": N_("Copied"),
    "pay_within": N_("Complete the payment within"),
    "expired_clock": N_("Time is up"),
    "simulate": N_("Simulate payment"),
    "sandbox": N_("SANDBOX"),
    "sandbox_note": N_("Sandbox mode: no real money. This button acts as the customer paying."),
    "back_to_merchant": N_("Back to merchant"),
    "change_method": N_("Change method"),
    "waiting": N_("Waiting for payment"),
    "under_review": N_("Payment under review"),
    "success": N_("Payment successful"),
    "success_sub": N_("Thank you! Your payment has been received."),
    "failure": N_("Payment failed"),
    "deny": N_("Payment denied"),
    "expire": N_("Payment expired"),
    "cancel": N_("Payment cancelled"),
    "refund": N_("Payment refunded"),
    "redirecting": N_("Returning to the merchant…"),
    "card_number": N_("Card number"),
    "card_expiry": N_("Expiry (MM/YY)"),
    "card_cvv": N_("CVV"),
    "pay": N_("Pay"),
    "card_hint": N_("Test card: 4811 1111 1111 1114, CVV 123, any future expiry."),
    "otp_title": N_("3-D Secure verification"),
    "otp_label": N_("One-time password from your bank"),
    "otp_hint": N_("Sandbox test OTP: 112233"),
    "otp_submit": N_("Verify"),
    "processing": N_("Processing…"),
    "error_generic": N_("Something went wrong. Please try again."),
    "close": N_("Close"),
    "back": N_("Back"),
    "not_found": N_("Payment link not found"),
    "gone": N_("This payment link is no longer valid"),
    "conflict": N_("This cannot be done now"),
    "client_key_mismatch": N_(
        "The merchant page's data-client-key is not this sandbox's client key."
    ),
    "merchant_id": N_("Merchant ID"),
    "card_masked": N_("Card"),
    "amount": N_("Amount"),
    "status": N_("Status"),
    "three_ds_done": N_("Authentication finished"),
    "secured": N_("bayar's Midtrans sandbox · no real money"),
}


def strings_in(language: str) -> dict[str, str]:
    """The page's words in `language` (from the catalogs), by the keys its script uses."""
    with i18n.use(language):
        return {key: _(text) for key, text in STRINGS.items()}


@cache
def _templates() -> Jinja2Templates:
    return Jinja2Templates(directory=HERE / "templates")


def rupiah(amount: int) -> str:
    """10000 → "Rp 10.000" (Indonesian thousands separator)."""
    return "Rp " + f"{amount:,}".replace(",", ".")


def _language(request: Request) -> str:
    wanted = request.query_params.get("language", "").lower()[:2]
    return wanted if wanted in LANGUAGES else "id"


def _finish_url(session: SnapSession) -> str | None:
    """`callbacks.finish` of the Snap request, if it is a web URL (never `javascript:`)."""
    callbacks = session.request.get("callbacks")
    finish = callbacks.get("finish") if isinstance(callbacks, dict) else None
    if isinstance(finish, str) and urlsplit(finish).scheme in ("http", "https"):
        return finish
    return None


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def _result(request: Request, session: SnapSession, txn: Transaction) -> dict[str, Any]:
    """What snap.js hands to the merchant's callbacks, plus what the page needs to show it."""
    body = sandbox_of(request).gateway.snap_result(txn)
    if txn.payment_type in ("qris", "gopay"):
        urls = urls_of(request)
        body["actions"] = methods.actions(
            txn.payment_type, txn.transaction_id, urls.api, urls.simulator
        )
    finish = _finish_url(session)
    if finish:
        body["finish_redirect_url"] = _with_query(
            finish,
            {
                "order_id": txn.order_id,
                "status_code": str(body["status_code"]),
                "transaction_status": txn.transaction_status,
            },
        )
    return body


def _timing_headers(request: Request) -> dict[str, str]:
    """Sandbox time may be scaled or moved on: the page counts down in sandbox time."""
    clock = sandbox_of(request).clock
    return {
        "X-Sandbox-Now": f"{clock.timestamp():.3f}",
        "X-Sandbox-Scale": f"{clock.scale:g}",
        "Cache-Control": "no-store",
    }


def _items(session: SnapSession) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    raw = session.request.get("item_details")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            price, quantity = int(item.get("price", 0)), int(item.get("quantity", 1))
        except (TypeError, ValueError):
            continue
        rows.append(
            {
                "name": str(item.get("name") or item.get("id") or "-"),
                "quantity": str(quantity),
                "price": rupiah(price),
                "subtotal": rupiah(price * quantity),
            }
        )
    return rows


def _status_title(status: int, strings: dict[str, str]) -> str:
    return {404: strings["not_found"], 410: strings["gone"], 409: strings["conflict"]}.get(
        status, strings["error_generic"]
    )


def _error_page(request: Request, error: ControlError) -> Response:
    """A browser (it asks for text/html) gets a page; any other client Midtrans-shaped JSON."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(
            {"status_code": str(error.http_status), "status_message": error.message},
            status_code=error.http_status,
            headers=NO_STORE,
        )
    language = _language(request)
    strings = strings_in(language)
    data = {
        "page": "error",
        "embed": request.query_params.get("embed") == "1",
        "display": request.query_params.get("display", "popup"),
        "parent_origin": request.query_params.get("origin", ""),
        "strings": strings,
        "result": {"status_code": str(error.http_status), "status_message": error.message},
    }
    return _templates().TemplateResponse(
        request,
        "snap/error.html",
        {
            "t": strings,
            "language": language,
            "title": _status_title(error.http_status, strings),
            "message": error.message,
            "status": error.http_status,
            "data": data,
            "asset": _asset_urls(request),
        },
        status_code=error.http_status,
        headers=NO_STORE,
    )


def _api_error(error: ControlError) -> JSONResponse:
    """An error of the page's own JSON endpoints: Midtrans-shaped like every answer under
    /midtrans, with the `error` the page script reads."""
    return JSONResponse(
        {
            "status_code": str(error.http_status),
            "status_message": error.message,
            "error": error.message,
        },
        status_code=error.http_status,
    )


def _asset_urls(request: Request) -> dict[str, str]:
    api = urls_of(request).api
    return {name: f"{api}/snap/assets/{name}" for name in ASSETS}


# -- the payment page ------------------------------------------------------------------------------


async def payment_page(request: Request) -> Response:
    """`GET /snap/v2/vtweb/{token}`: redirect mode, or inside snap.js' frame with `?embed=1`."""
    token = request.path_params["token"]
    sandbox = sandbox_of(request)
    try:
        session = sandbox.gateway.snap_session(token)
    except ControlError as error:
        return _error_page(request, error)
    txn = sandbox.gateway.snap_transaction(session)
    language = _language(request)
    strings = strings_in(language)
    urls = urls_of(request)
    control = f"{base_url(request)}/_control/midtrans"
    page_base = f"{urls.api}/snap/v2/vtweb/{quote(token, safe='')}"
    enabled = session.request.get("enabled_payments")
    offered = [m for m in METHODS if m.allowed_by(enabled)]
    client_key = sandbox.client_key
    given_key = request.query_params.get("client_key")
    data = {
        "page": "pay",
        "token": token,
        "order_id": session.order_id,
        "amount": rupiah(session.gross_amount),
        "language": language,
        "embed": request.query_params.get("embed") == "1",
        "display": request.query_params.get("display", "popup"),
        "parent_origin": request.query_params.get("origin", ""),
        "only": [x for x in request.query_params.get("enabled", "").split(",") if x],
        "selected": request.query_params.get("selected", ""),
        "client_key": client_key,
        "urls": {
            "charge": f"{page_base}/charge",
            "status": f"{page_base}/status",
            "three_ds": f"{page_base}/3ds",
            "card_token": f"{urls.api}/v2/token",
            "simulate": f"{control}/{quote(session.order_id, safe='')}/pay",
        },
        "methods": {m.key: {"choice": m.choice(), "aliases": m.aliases()} for m in offered},
        "strings": strings,
        "result": _result(request, session, txn) if txn is not None else None,
        "now": sandbox.clock.timestamp(),
        "scale": sandbox.clock.scale,
    }
    context = {
        "t": strings,
        "language": language,
        "merchant": QrisMerchant().name,
        "merchant_id": sandbox.gateway.merchant_id,
        "order_id": session.order_id,
        "amount": rupiah(session.gross_amount),
        "items": _items(session),
        "top_methods": _layout(offered),
        "bank_methods": [m for m in offered if m.group == "bank"],
        "embed": data["embed"],
        "popup": data["embed"] and data["display"] != "embed",
        "key_mismatch": given_key is not None and given_key != client_key,
        "data": data,
        "asset": _asset_urls(request),
    }
    return _templates().TemplateResponse(request, "snap/page.html", context, headers=NO_STORE)


def _layout(offered: list[Method]) -> list[Method | None]:
    """The first list: e-wallets, the bank group (None) if any bank is offered, the rest."""
    wallets = [m for m in offered if m.payment_type in ("qris", "gopay")]
    others = [m for m in offered if m.group is None and m not in wallets]
    banks: list[Method | None] = [None] if any(m.group == "bank" for m in offered) else []
    return [*wallets, *banks, *others]


async def charge(request: Request) -> Response:
    """`POST …/charge` `{"payment_type", "bank"?, "store"?, "token_id"?}`: the customer's choice."""
    token = request.path_params["token"]
    gateway = sandbox_of(request).gateway
    try:
        body = await read_object(request)
        choice = {
            key: body[key]
            for key in ("payment_type", "bank", "store", "token_id")
            if isinstance(body.get(key), str)
        }
        if not choice.get("payment_type"):
            raise ControlError(400, "payment_type is required")
        gateway.snap_charge(token, choice, urls_of(request))
        session = gateway.snap_session(token)
        txn = gateway.snap_transaction(session)
        if txn is None:
            raise ControlError(409, "the payment was not created")
    except ControlError as error:
        return _api_error(error)
    return JSONResponse(_result(request, session, txn), headers=_timing_headers(request))


async def status(request: Request) -> Response:
    """`GET …/status`: the Snap result of the session's transaction, once a method is chosen."""
    gateway = sandbox_of(request).gateway
    try:
        session = gateway.snap_session(request.path_params["token"])
    except ControlError as error:
        return _api_error(error)
    txn = gateway.snap_transaction(session)
    body = _result(request, session, txn) if txn is not None else {"transaction_status": None}
    return JSONResponse(body, headers=_timing_headers(request))


async def three_ds(request: Request) -> Response:
    """`POST …/3ds` `{"otp"}`: the bank's 3-D Secure step of a card payment on the page."""
    gateway = sandbox_of(request).gateway
    try:
        body = await read_object(request)
        session = gateway.snap_session(request.path_params["token"])
        txn = gateway.snap_transaction(session)
        if txn is None:
            raise ControlError(409, "no card payment is waiting for 3-D Secure")
        txn = gateway.authenticate_3ds(txn.transaction_id, str(body.get("otp") or ""))
    except ControlError as error:
        return _api_error(error)
    return JSONResponse(_result(request, session, txn), headers=_timing_headers(request))


# -- the Core API's 3-D Secure page (a card charge's redirect_url) ------------------------------


async def rba_redirect(request: Request) -> Response:
    """`GET|POST /v2/token/rba/redirect/{transaction_id}`: OTP page of a Core API card charge."""
    transaction_id = request.path_params["transaction_id"]
    gateway = sandbox_of(request).gateway
    txn = gateway.store.transactions.get(transaction_id)
    if txn is None or txn.payment_type != "credit_card":
        return _error_page(request, ControlError(404, "Transaction doesn't exist."))
    if request.method == "POST":
        form = await request.form()
        otp = form.get("otp")
        try:
            txn = gateway.authenticate_3ds(transaction_id, otp if isinstance(otp, str) else "")
        except ControlError as error:
            return _error_page(request, error)
    language = _language(request)
    strings = strings_in(language)
    waiting = txn.transaction_status == "pending" and "redirect_url" in txn.details
    result = gateway.snap_result(txn)
    return _templates().TemplateResponse(
        request,
        "snap/three_ds.html",
        {
            "t": strings,
            "language": language,
            "merchant": QrisMerchant().name,
            "amount": rupiah(txn.gross_amount),
            "order_id": txn.order_id,
            "masked_card": txn.details.get("masked_card", ""),
            "waiting": waiting,
            "outcome": _outcome(txn),
            "status_title": _title_of(txn, strings),
            "result": result,
            "transaction_time": wire.wib(txn.transaction_time),
            "data": {"page": "three_ds", "result": None if waiting else result},
            "asset": _asset_urls(request),
        },
        headers=NO_STORE,
    )


def _outcome(txn: Transaction) -> str:
    status = txn.transaction_status
    paid = status in ("capture", "settlement", "refund", "partial_refund")
    if paid and txn.fraud_status in (None, "accept"):
        return "success"
    if status in ("deny", "expire", "cancel", "failure"):
        return "error"
    return "pending"


def _title_of(txn: Transaction, strings: dict[str, str]) -> str:
    outcome = _outcome(txn)
    if outcome == "success":
        return strings.get(txn.transaction_status, strings["success"])
    if outcome == "error":
        return strings.get(txn.transaction_status, strings["failure"])
    return strings["under_review"] if txn.fraud_status == "challenge" else strings["waiting"]


# -- static files ----------------------------------------------------------------------------------


async def snap_js(request: Request) -> Response:
    return FileResponse(
        STATIC / "snap.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return JSONResponse(
            {"status_code": "404", "status_message": MIDTRANS_NOT_FOUND}, status_code=404
        )
    return FileResponse(
        STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"}
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/snap/snap.js", snap_js, methods=["GET"]),
        Route("/snap/assets/{name}", asset, methods=["GET"]),
        Route("/snap/v2/vtweb/{token}", payment_page, methods=["GET"]),
        Route("/snap/v2/vtweb/{token}/charge", charge, methods=["POST"]),
        Route("/snap/v2/vtweb/{token}/status", status, methods=["GET"]),
        Route("/snap/v2/vtweb/{token}/3ds", three_ds, methods=["POST"]),
        Route("/v2/token/rba/redirect/{transaction_id}", rba_redirect, methods=["GET", "POST"]),
    ]
