"""The admin pages at `/admin` and the public product pictures at `/media/products/{file}`.

Every page needs a login (BAYAR_ADMIN_PASSWORD; see security.py): an anonymous GET is sent to
`/admin/login`, an anonymous POST is refused (403), and every POST carries the session's CSRF token
(403 without it). With no password configured the admin is disabled (503), never open.

Pages read the database and call the payments service directly (the JSON admin API is for
scripts); a refused operation comes back as a message on the page, never an error page.
"""

# No `from __future__ import annotations` here: FastAPI reads the pages' `Guarded` parameter
# annotation, which names a dependency local to `router()`.
import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from bayar import i18n
from bayar.admin import media, queries, timeline, views
from bayar.admin.chart import bar_chart
from bayar.admin.security import (
    SESSION_SECONDS,
    AdminSessionMiddleware,
    PasswordCheck,
    Throttle,
    csrf_token,
    csrf_valid,
    new_token,
    session_id,
    session_secret,
    sid_digest,
    start_session,
)
from bayar.assets import versioned
from bayar.context import AppContext, context_of
from bayar.gateways.base import GatewayRejected, GatewayUnavailable
from bayar.gateways.methods import method_label
from bayar.i18n import _
from bayar.i18n import rupiah as rupiah
from bayar.payments import catalog
from bayar.payments.errors import OrderNotFound, PaymentError
from bayar.payments.money import MoneyError
from bayar.payments.refunds import refundable
from bayar.payments.states import RefundStatus, Status
from bayar.storage import admin_sessions

log = logging.getLogger("bayar.admin")
HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_URL = "/admin/static"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
i18n.install(TEMPLATES.env)
TEMPLATES.env.filters["status_name"] = views.status_name
TEMPLATES.env.filters["channel_name"] = views.channel_name
TEMPLATES.env.filters["wib_time"] = views.wib_time
TEMPLATES.env.filters["status_kind"] = views.status_kind
TEMPLATES.env.filters["attention"] = views.attention
TEMPLATES.env.filters["refund_words"] = views.refund_words
TEMPLATES.env.filters["seg"] = lambda value: quote(str(value), safe="")  # one URL path segment
# The security headers (CSP without any script, no framing…) are bayar.headers'.
PAGE_HEADERS = {"Cache-Control": "no-store"}
PATH_LIMIT = 100  # characters of an id in an admin address
FORM_LIMIT = 64 * 1024  # bytes of an ordinary admin form
UPLOAD_LIMIT = media.MAX_BYTES + 64 * 1024  # a picture and the multipart wrapping around it


asset = versioned(STATIC, STATIC_URL)


class Deny(Exception):
    """Stop the request here and answer with `response` (a redirect to the login, a 403…)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class AdminAuth:
    password: PasswordCheck
    throttle: Throttle

    async def signed_in(self, request: Request) -> bool:
        """The request's cookie names a live server-side session (asked once per request)."""
        known = getattr(request.state, "admin_signed_in", None)
        if isinstance(known, bool):
            return known
        sid = session_id(request.session)
        alive = False
        if sid and self.password.enabled:
            ctx = context_of(request)
            alive = await admin_sessions.session_alive(
                ctx.db, sid_digest(sid), self.password.tag, ctx.clock()
            )
        request.state.admin_signed_in = alive
        return alive

    async def log_in(self, request: Request) -> None:
        ctx = context_of(request)
        sid = new_token()
        await admin_sessions.open_session(
            ctx.db,
            sid_digest(sid),
            self.password.tag,
            ctx.clock(),
            timedelta(seconds=SESSION_SECONDS),
        )
        start_session(request.session, sid)
        request.state.admin_signed_in = True

    async def log_out(self, request: Request) -> None:
        sid = session_id(request.session)
        if sid:
            await admin_sessions.end_session(context_of(request).db, sid_digest(sid))
        request.session.clear()
        request.state.admin_signed_in = False


@dataclass
class Admin:
    """A logged-in admin's request: the app's services and the POSTed form (CSRF-checked)."""

    request: Request
    ctx: AppContext
    form: FormData

    def text(self, name: str, limit: int = 500) -> str:
        value = self.form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    def flash(self, kind: str, message: str) -> None:
        self.request.session["flash"] = [kind, message]


# -- rendering ------------------------------------------------------------------------------------


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    nav: str = "",
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    session = request.session
    ctx = context_of(request)
    flash = session.pop("flash", None)
    signed_in = getattr(request.state, "admin_signed_in", False) is True
    waiting = 0
    if signed_in:
        try:
            waiting = await queries.manual_refund_count(ctx.db)
        except Exception:  # the badge is a nicety; the page must still render
            log.exception("could not count the manual refunds waiting")
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "asset": asset,
            "csrf": csrf_token(session),
            "flash": flash,
            "nav": nav,
            "signed_in": signed_in,
            "manual_waiting": waiting,
            "sandbox": ctx.settings.bayar_sandbox,
            **(context or {}),
        },
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )


async def message_page(
    request: Request,
    status_code: int,
    title: str,
    text: str,
    *,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    return await render(
        request,
        "message.html",
        {"title": title, "text": text, "link": link},
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def safe_next(target: str | None) -> str:
    """Where to go after the login: an admin page of this site, nothing else."""
    if not target:
        return "/admin"
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/admin"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "\\" in target:
        return "/admin"
    if ".." in parts.path.split("/"):
        return "/admin"
    if not (parts.path == "/admin" or parts.path.startswith("/admin/")):
        return "/admin"
    if parts.path.startswith(("/admin/login", "/admin/logout", "/admin/static/")):
        return "/admin"
    return target


async def read_form(request: Request, limit: int) -> FormData:
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > limit:
        refused = 413 if length.isdigit() else 411
        raise Deny(
            await message_page(
                request,
                refused,
                _("Too large") if refused == 413 else _("Length required"),
                _("A form may send at most %(kb)s KB (a picture at most 1 MB).", kb=limit // 1024)
                if refused == 413
                else _("The form did not say how long it is."),
            )
        )
    try:
        return await request.form(max_files=1, max_fields=20, max_part_size=FORM_LIMIT)
    except MultiPartException as error:
        raise Deny(await message_page(request, 400, _("Bad form"), error.message)) from None


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- install --------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the admin's routes, its session middleware and the public `/media/products/` route."""
    ctx: AppContext = app.state.context
    settings = ctx.settings
    password = settings.bayar_admin_password
    configured = settings.bayar_session_secret
    if password is not None and password.get_secret_value():
        secret = session_secret(
            configured.get_secret_value() if configured is not None else None,
            settings.bayar_var_dir,
        )
    else:  # nobody can log in: nothing worth a secret on disk
        secret = secrets.token_urlsafe(48)
        log.warning("BAYAR_ADMIN_PASSWORD is not set: the admin pages are disabled")
    check = PasswordCheck(
        password.get_secret_value() if password is not None else None, secret=secret
    )
    auth = AdminAuth(check, Throttle())
    app.state.admin_auth = auth
    app.add_middleware(
        AdminSessionMiddleware,
        secret_key=secret,
        always_secure=(settings.bayar_public_url or "").startswith("https://"),
    )

    async def deny(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Deny)
        return exc.response

    app.add_exception_handler(Deny, deny)
    app.include_router(router(auth))
    app.include_router(media_router())


def media_router() -> APIRouter:
    public = APIRouter(include_in_schema=False)

    @public.get(f"{media.URL_PREFIX}/{{name}}")
    async def picture(request: Request, name: str) -> Response:
        found = media.stored_file(context_of(request).settings.media_path(), name)
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        path, content_type = found
        return FileResponse(path, media_type=content_type, headers=media.HEADERS)

    return public


# -- the pages ------------------------------------------------------------------------------------


def router(auth: AdminAuth) -> APIRouter:
    pages = APIRouter(prefix="/admin", include_in_schema=False)

    async def disabled(request: Request) -> HTMLResponse:
        return await message_page(
            request,
            503,
            _("The admin is disabled"),
            _("No admin password is configured. Set BAYAR_ADMIN_PASSWORD and restart bayar."),
        )

    async def guard(request: Request) -> AsyncIterator[Admin]:
        """Logged in, and for a POST the form with a valid CSRF token; else Deny."""
        if not auth.password.enabled:
            raise Deny(await disabled(request))
        session = request.session
        if not await auth.signed_in(request):
            if session_id(session):
                session.clear()  # logged out elsewhere, over, or opened under an old password
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise Deny(redirect(f"/admin/login?{urlencode({'next': target})}"))
            raise Deny(
                await message_page(
                    request,
                    403,
                    _("Log in first"),
                    _("This needs an admin login (or the session has expired)."),
                    link=("/admin/login", _("Log in")),
                )
            )
        if any(not views.plain_text(str(v), PATH_LIMIT) for v in request.path_params.values()):
            # A NUL reached PostgreSQL and answered 500; no id has control characters.
            raise Deny(
                await message_page(
                    request,
                    400,
                    _("Bad address"),
                    _(
                        "A part of this address is longer than %(n)s characters"
                        " or has control characters.",
                        n=PATH_LIMIT,
                    ),
                )
            )
        form = FormData()
        if request.method == "POST":
            upload = request.url.path.endswith("/picture")
            form = await read_form(request, UPLOAD_LIMIT if upload else FORM_LIMIT)
            if not csrf_valid(session, form.get("csrf_token")):
                await form.close()
                raise Deny(
                    await message_page(
                        request,
                        403,
                        _("Refused"),
                        _(
                            "The form's security token is missing or stale."
                            " Reload the page and try again."
                        ),
                    )
                )
            texts = [v for v in form.values() if isinstance(v, str)]
            if not all(views.plain_text(v, FORM_LIMIT, allow="\t\r\n") for v in texts):
                # A NUL in a reason or note reached PostgreSQL (and the gateway) and answered 500.
                await form.close()
                raise Deny(
                    await message_page(
                        request,
                        400,
                        _("Bad form"),
                        _("A field of the form has control characters. Nothing was changed."),
                    )
                )
        try:
            yield Admin(request, context_of(request), form)
        finally:
            await form.close()

    Guarded = Annotated[Admin, Depends(guard)]

    # -- login ------------------------------------------------------------------------------------

    async def login_page(
        request: Request, *, error: str | None = None, status_code: int = 200, next_url: str = ""
    ) -> HTMLResponse:
        return await render(
            request,
            "login.html",
            {"error": error, "next": safe_next(next_url or request.query_params.get("next"))},
            status_code=status_code,
            nav="login",
        )

    @pages.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        if not auth.password.enabled:
            return await disabled(request)
        if await auth.signed_in(request):
            return redirect(safe_next(request.query_params.get("next")))
        return await login_page(request)

    @pages.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        if not auth.password.enabled:
            return await disabled(request)
        client = client_of(request)
        wait = auth.throttle.retry_after(client)
        if wait:
            return await login_page(
                request,
                error=_("Too many wrong passwords. Try again in %(n)s s.", n=wait),
                status_code=429,
                next_url=request.query_params.get("next", ""),
            )
        form = await read_form(request, FORM_LIMIT)
        next_url = str(form.get("next") or "")
        if not csrf_valid(request.session, form.get("csrf_token")):
            return await message_page(
                request,
                403,
                _("Refused"),
                _("The login form's security token is missing or stale (are cookies allowed?)."),
                link=("/admin/login", _("Back to the login")),
            )
        attempt = form.get("password")
        ok = isinstance(attempt, str) and await asyncio.to_thread(auth.password.verify, attempt)
        if not ok:
            auth.throttle.failed(client)
            log.warning("admin login refused", extra={"client": client})
            return await login_page(
                request, error=_("Wrong password."), status_code=401, next_url=next_url
            )
        auth.throttle.succeeded(client)
        await auth.log_in(request)
        log.info("admin logged in", extra={"client": client})
        return redirect(safe_next(next_url))

    @pages.get("/logout", response_class=HTMLResponse)
    async def logout_form(admin: Guarded) -> Response:
        return await render(admin.request, "logout.html", nav="logout")

    @pages.post("/logout")
    async def logout(admin: Guarded) -> Response:
        await auth.log_out(admin.request)
        admin.flash("ok", _("Logged out."))
        return redirect("/admin/login")

    # -- dashboard --------------------------------------------------------------------------------

    @pages.get("", response_class=HTMLResponse)
    async def dashboard(admin: Guarded) -> Response:
        summary = await queries.sales_summary(admin.ctx.db, admin.ctx.clock())
        chart = bar_chart(
            summary.bars, title=_("Paid revenue per day, last %(n)s days", n=summary.chart_days)
        )
        return await render(
            admin.request,
            "dashboard.html",
            {"summary": summary, "chart": chart, "now": admin.ctx.clock()},
            nav="dashboard",
        )

    # -- orders -----------------------------------------------------------------------------------

    @pages.get("/orders", response_class=HTMLResponse)
    async def orders(admin: Guarded) -> Response:
        filters, problems = views.parse_filters(admin.request.query_params)
        if problems:
            return await message_page(
                admin.request,
                400,
                _("Filters not understood"),
                _("Not understood: %(problems)s.", problems="; ".join(problems)),
                link=("/admin/orders", _("All orders")),
            )
        rows, total = await queries.list_orders(admin.ctx.db, filters)
        pages = max(1, -(-total // queries.PAGE_SIZE))
        return await render(
            admin.request,
            "orders.html",
            {
                "rows": rows,
                "methods": {
                    r.order.id: views.payment_method(r.order.payment_type, r.payment) for r in rows
                },
                "total": total,
                "filters": filters,
                "page": filters.page,
                "pages": pages,
                "first": (filters.page - 1) * queries.PAGE_SIZE + 1,
                "last": min(total, filters.page * queries.PAGE_SIZE),
                "prev_url": _orders_url(filters, filters.page - 1) if filters.page > 1 else None,
                "next_url": _orders_url(filters, filters.page + 1)
                if filters.page < pages
                else None,
                "statuses": [s.value for s in Status],
                "channels": queries.CHANNELS,
                "machines": await queries.machine_choices(admin.ctx.db),
            },
            nav="orders",
        )

    @pages.get("/orders/{order_id}", response_class=HTMLResponse)
    async def order_page(admin: Guarded, order_id: str) -> Response:
        try:
            details = await admin.ctx.payments.reads.order_details(order_id)
        except OrderNotFound:
            return await message_page(
                admin.request,
                404,
                _("No such order"),
                _("There is no order %(order)s.", order=order_id),
                link=("/admin/orders", _("All orders")),
            )
        order, payment, refunds = details.order, details.payment, details.refunds
        gateways = admin.ctx.payments.gateway
        gateway = gateways.get(payment.gateway if payment else None, or_default=True)
        return await render(
            admin.request,
            "order.html",
            {
                "order": order,
                "items": details.items,
                "payment": payment,
                "instructions": views.instructions(details),
                "refunds": refunds,
                "timeline": timeline.timeline(details),
                "summary": views.summary(details),
                "method": views.payment_method(order.payment_type, payment),
                "customer_name": views.customer_name(order.customer),
                "refundable": refundable(order, payment, refunds),
                "gateway_refunds": admin.ctx.payments.refunds.gateway_refunds(
                    payment.payment_type if payment else order.payment_type,
                    payment.gateway if payment else None,
                ),
                "gateway_name": gateway.name,
                "gateway_methods": views.method_list(gateway.refundable_types),
                "manual_key": f"manual-{secrets.token_hex(8)}",
                "cancellable": views.cancellable(order.status),
                "refund_key": f"admin-{secrets.token_hex(8)}",
                "refunded_total": sum(r.amount for r in refunds if r.status == "succeeded"),
            },
            nav="orders",
        )

    async def confirm_page(
        admin: Admin, order_id: str, action: str, amount: int, fields: dict[str, str]
    ) -> Response:
        """The second step of every refund: what is about to happen, and a button that says so."""
        return await render(
            admin.request,
            "refund_confirm.html",
            {
                "order_id": order_id,
                "action": action,
                "amount": amount,
                "fields": fields,
                "gateway": admin.ctx.payments.gateway.name,
            },
            nav="orders",
        )

    async def remaining(admin: Admin, order_id: str) -> tuple[int, str, str | None]:
        """What the order may still give back, how it was paid, and at which gateway."""
        details = await admin.ctx.payments.reads.order_details(order_id)
        payment = details.payment
        left = refundable(details.order, payment, details.refunds)
        method = payment.payment_type if payment else details.order.payment_type
        return left, method, payment.gateway if payment else None

    @pages.post("/orders/{order_id}/refund")
    async def refund(admin: Guarded, order_id: str) -> Response:
        """A refund through the gateway, in two steps: the form shows a confirmation, and only
        its "Yes" (`confirm=yes`) asks the gateway."""
        back = f"/admin/orders/{quote(order_id, safe='')}"
        try:
            amount = views.parse_amount(admin.text("amount", 40))
        except MoneyError as error:
            admin.flash("error", _("Not refunded: %(why)s.", why=error))
            return redirect(back)
        reason = admin.text("reason", 255) or "refund by admin"
        key = admin.text("refund_key", 100) or None
        if admin.text("confirm", 10) != "yes":
            try:
                left, method, gateway_name = await remaining(admin, order_id)
            except PaymentError as error:
                admin.flash("error", _("Not refunded: %(why)s", why=error.text()))
                return redirect(back)
            if not admin.ctx.payments.refunds.gateway_refunds(method, gateway_name):
                admin.flash(
                    "error",
                    _(
                        "Not refunded: the gateway cannot refund %(method)s payments."
                        " Give the money back by hand and record it below.",
                        method=method_label(method),
                    ),
                )
                return redirect(back)
            value = left if amount is None else amount
            if left < 1 or value < 1 or value > left:
                admin.flash(
                    "error",
                    _("Not refunded: the refund amount must be between 1 and %(n)s.", n=left),
                )
                return redirect(back)
            return await confirm_page(
                admin,
                order_id,
                "refund",
                value,
                {"amount": str(value), "reason": reason, "refund_key": key or ""},
            )
        try:
            done = await admin.ctx.payments.refunds.refund(
                order_id, amount=amount, refund_key=key, reason=reason
            )
            order = await admin.ctx.payments.reads.order(order_id)
        except PaymentError as error:
            admin.flash("error", _("Not refunded: %(why)s", why=error.text()))
            return redirect(back)
        except GatewayUnavailable:
            admin.flash(
                "error",
                _("Not refunded: the gateway did not answer; retry with the same refund key."),
            )
            return redirect(back)
        except GatewayRejected as error:
            admin.flash(
                "error",
                _("Not refunded: the gateway refused the refund: %(why)s", why=error.message),
            )
            return redirect(back)
        if done.status == RefundStatus.PENDING:  # the gateway finishes it later (Xendit)
            admin.flash(
                "ok",
                _(
                    "Refund of %(amount)s accepted: the gateway is making it. The order changes "
                    "when the gateway says it is done.",
                    amount=rupiah(done.amount),
                ),
            )
            return redirect(back)
        if done.status != RefundStatus.SUCCEEDED:  # this form's key was used before, and failed
            admin.flash(
                "error",
                _(
                    "Not refunded: this refund %(status)s: %(detail)s",
                    status=views.status_name(done.status),
                    detail=views.refund_words(done.detail) or "-",
                ),
            )
            return redirect(back)
        log.info("admin refund", extra={"order_id": order_id, "amount": done.amount})
        admin.flash(
            "ok",
            _(
                "Refunded %(amount)s. The order is now %(status)s.",
                amount=rupiah(done.amount),
                status=views.status_name(order.status),
            ),
        )
        return redirect(back)

    @pages.post("/orders/{order_id}/manual-refund")
    async def manual_refund(admin: Guarded, order_id: str) -> Response:
        """Money given back outside the gateway (a bank transfer to the customer, cash), recorded
        in the books like any refund by the core's one path: queued for a person, then marked as
        refunded by hand. Confirmed first, like every refund."""
        back = f"/admin/orders/{quote(order_id, safe='')}"
        try:
            amount = views.parse_amount(admin.text("amount", 40))
        except MoneyError as error:
            admin.flash("error", _("Not recorded: %(why)s.", why=error))
            return redirect(back)
        bank = admin.text("bank", 60)
        reference = admin.text("reference", 100)
        note = admin.text("note", 200)
        key = admin.text("refund_key", 100)
        if not key.startswith("manual-") or not bank or not reference:
            admin.flash(
                "error",
                _("Not recorded: say where the money went (bank or cash) and its reference."),
            )
            return redirect(back)
        fields = {"bank": bank, "reference": reference, "note": note, "refund_key": key}
        try:
            left, _method, _gateway = await remaining(admin, order_id)
        except PaymentError as error:
            admin.flash("error", _("Not recorded: %(why)s", why=error.text()))
            return redirect(back)
        value = left if amount is None else amount
        if admin.text("confirm", 10) != "yes":
            if left < 1 or value < 1 or value > left:
                admin.flash(
                    "error",
                    _("Not recorded: the refund amount must be between 1 and %(n)s.", n=left),
                )
                return redirect(back)
            return await confirm_page(
                admin, order_id, "manual-refund", value, {**fields, "amount": str(value)}
            )
        said = f"{bank}, reference {reference}" + (f": {note}" if note else "")
        try:
            queued = await admin.ctx.payments.refunds.queue_manual_refund(
                order_id,
                refund_key=key,
                reason=note or "refunded by hand",
                detail="recorded by an admin",
                amount=value,
            )
            if queued.status == "succeeded":  # this form was sent before (a double click)
                admin.flash(
                    "ok",
                    _("%(amount)s was recorded as refunded by hand.", amount=rupiah(queued.amount)),
                )
                return redirect(back)
            done = await admin.ctx.payments.refunds.refunded_by_hand(key, said)
            order = await admin.ctx.payments.reads.order(order_id)
        except PaymentError as error:
            admin.flash("error", _("Not recorded: %(why)s", why=error.text()))
            return redirect(back)
        log.info("admin manual refund", extra={"order_id": order_id, "amount": done.amount})
        admin.flash(
            "ok",
            _(
                "Recorded: %(amount)s refunded by hand (%(bank)s). The order is now %(status)s.",
                amount=rupiah(done.amount),
                bank=bank,
                status=views.status_name(order.status),
            ),
        )
        return redirect(back)

    @pages.post("/orders/{order_id}/cancel")
    async def cancel(admin: Guarded, order_id: str) -> Response:
        back = f"/admin/orders/{quote(order_id, safe='')}"
        try:
            await admin.ctx.payments.reconcile.cancel(order_id)
        except PaymentError as error:
            admin.flash("error", _("Not cancelled: %(why)s", why=error.text()))
            return redirect(back)
        except GatewayUnavailable:
            admin.flash("error", _("Not cancelled: the gateway did not answer; try again."))
            return redirect(back)
        except GatewayRejected as error:
            admin.flash(
                "error", _("Not cancelled: the gateway refused: %(why)s", why=error.message)
            )
            return redirect(back)
        log.info("admin cancel", extra={"order_id": order_id})
        admin.flash("ok", _("Cancelled at the gateway; its stock is back on sale."))
        return redirect(back)

    # -- the manual-refund queue ------------------------------------------------------------------

    @pages.get("/refunds/manual", response_class=HTMLResponse)
    async def manual(admin: Guarded) -> Response:
        waiting, resolved = await queries.manual_refunds(admin.ctx.db)
        return await render(
            admin.request,
            "manual_refunds.html",
            {"waiting": waiting, "resolved": resolved, "now": admin.ctx.clock()},
            nav="manual",
        )

    @pages.post("/refunds/manual/{refund_key}/resolve")
    async def resolve(admin: Guarded, refund_key: str) -> Response:
        """A person gave the money back outside the gateway: the payments service's one path
        (the refund succeeded, the order refunded, a kiosk unit's dispense closed)."""
        note = admin.text("note", 200)
        try:
            done = await admin.ctx.payments.refunds.refunded_by_hand(refund_key, note)
        except PaymentError as error:
            admin.flash("error", _("Not marked: %(why)s", why=error.text()))
        else:
            admin.flash(
                "ok",
                _(
                    "%(order)s: %(amount)s marked as refunded by hand.",
                    order=done.order_id,
                    amount=rupiah(done.amount),
                ),
            )
        return redirect("/admin/refunds/manual")

    # -- machines ---------------------------------------------------------------------------------

    @pages.get("/machines", response_class=HTMLResponse)
    async def machines(admin: Guarded) -> Response:
        now = admin.ctx.clock()
        found = await queries.machines(admin.ctx.db, admin.ctx.presence, now)
        return await render(
            admin.request,
            "machines.html",
            {"machines": found, "now": now, "ago": views.ago},
            nav="machines",
        )

    @pages.post("/machines/{machine_id}/active")
    async def machine_active(admin: Guarded, machine_id: str) -> Response:
        """Disable (the kiosk shows "out of service" at once and sells nothing) or enable."""
        active = admin.text("active", 1) == "1"
        if await admin.ctx.vending.set_active(machine_id, active):
            done = (
                _("%(machine)s enabled: back in service.", machine=machine_id)
                if active
                else _("%(machine)s disabled: out of service.", machine=machine_id)
            )
            admin.flash("ok", done)
        else:
            admin.flash("error", _("No machine %(machine)s.", machine=machine_id))
        return redirect(f"/admin/machines#machine-{quote(machine_id, safe='')}")

    @pages.post("/machines/{machine_id}/slots/{code}/restock")
    async def restock(admin: Guarded, machine_id: str, code: str) -> Response:
        back = f"/admin/machines#machine-{quote(machine_id, safe='')}"
        raw = admin.text("fill", 20) or admin.text("on_hand", 20)
        try:
            on_hand = views.parse_count(raw)
            slot = await queries.restock(admin.ctx.db, machine_id, code, on_hand, admin.ctx.clock())
        except ValueError:
            admin.flash("error", _("The number of units must be a whole number."))
        except PaymentError as error:
            admin.flash("error", error.text())
        else:
            held = " " + _("(%(n)s held by open orders)", n=slot.held) if slot.held else ""
            said = _(
                "%(machine)s slot %(slot)s: %(on_hand)s of %(capacity)s %(product)s,"
                " %(stock)s for sale",
                machine=machine_id,
                slot=code,
                on_hand=on_hand,
                capacity=slot.capacity,
                product=slot.product_name,
                stock=slot.stock,
            )
            admin.flash("ok", f"{said}{held}.")
        return redirect(back)

    # -- products ---------------------------------------------------------------------------------

    @pages.get("/products", response_class=HTMLResponse)
    async def products(admin: Guarded) -> Response:
        everything = await catalog.listing(admin.ctx.db, archived=True)
        return await render(
            admin.request,
            "products.html",
            {
                "products": [e for e in everything if not e.product.archived],
                "archived": [e for e in everything if e.product.archived],
            },
            nav="products",
        )

    def product_fields(admin: Admin) -> dict[str, str | None]:
        """The text fields an edit form sent (None: the form has no such field)."""
        return {
            name: admin.text(name, limit) if name in admin.form else None
            for name, limit in (
                ("name", catalog.MAX_NAME + 1),
                ("description", catalog.MAX_DESCRIPTION + 1),
                ("category", catalog.MAX_CATEGORY + 1),
            )
        }

    @pages.post("/products")
    async def add_product(admin: Guarded) -> Response:
        try:
            price = views.parse_amount(admin.text("price", 40))
            on_hand = views.parse_count(admin.text("on_hand", 20) or "0")
        except MoneyError as error:
            admin.flash("error", _("Not added: %(why)s.", why=error))
            return redirect("/admin/products")
        except ValueError:
            admin.flash("error", _("Not added: the stock must be a whole number of units."))
            return redirect("/admin/products")
        if price is None:
            admin.flash("error", _("Not added: a product needs a price."))
            return redirect("/admin/products")
        fields = product_fields(admin)
        try:
            product = await catalog.add(
                admin.ctx.db,
                name=fields["name"] or "",
                price=price,
                stock=on_hand,
                product_id=admin.text("id", 100) or None,
                description=fields["description"] or "",
                category=fields["category"] or "",
                active=admin.text("hidden", 10) != "yes",
            )
        except PaymentError as error:
            admin.flash("error", _("Not added: %(why)s", why=error.text()))
            return redirect("/admin/products")
        log.info("admin added a product", extra={"product_id": product.id})
        added = (
            _(
                "%(name)s added (%(price)s, %(stock)s on sale).",
                name=product.name,
                price=rupiah(product.price),
                stock=product.stock,
            )
            if product.active
            else _(
                "%(name)s added (%(price)s, %(stock)s hidden).",
                name=product.name,
                price=rupiah(product.price),
                stock=product.stock,
            )
        )
        admin.flash("ok", added)
        return redirect(f"/admin/products#product-{quote(product.id, safe='')}")

    @pages.post("/products/{product_id}")
    async def update_product(admin: Guarded, product_id: str) -> Response:
        try:
            price = views.parse_amount(admin.text("price", 40))
        except MoneyError as error:
            admin.flash("error", _("Price not changed: %(why)s.", why=error))
            return redirect("/admin/products")
        try:
            on_hand = views.parse_count(admin.text("on_hand", 20))
        except ValueError:
            admin.flash("error", _("The stock must be a whole number of units."))
            return redirect("/admin/products")
        was = admin.text("on_hand_was", 20)
        if price is None:
            admin.flash("error", _("A product needs a price."))
            return redirect("/admin/products")
        fields = product_fields(admin)
        try:
            # Stock is only written when the admin changed it: another order may have moved it
            # since the page was shown.
            view = await catalog.change(
                admin.ctx.db,
                product_id,
                catalog.Changes(
                    name=fields["name"],
                    description=fields["description"],
                    category=fields["category"],
                    price=price,
                    on_hand=None if was == str(on_hand) else on_hand,
                ),
            )
        except PaymentError as error:
            admin.flash("error", error.text())
        else:
            admin.flash(
                "ok",
                _(
                    "%(name)s: %(price)s, %(stock)s for sale.",
                    name=view.product.name,
                    price=rupiah(view.product.price),
                    stock=view.product.stock,
                ),
            )
        return redirect("/admin/products")

    @pages.post("/products/{product_id}/visibility")
    async def show_or_hide(admin: Guarded, product_id: str) -> Response:
        show = admin.text("show", 10) == "yes"
        try:
            view = await catalog.change(admin.ctx.db, product_id, catalog.Changes(active=show))
        except PaymentError as error:
            admin.flash("error", error.text())
        else:
            admin.flash(
                "ok",
                _("%(name)s is on sale again.", name=view.product.name)
                if show
                else _(
                    "%(name)s is hidden: off sale in the shop and on the kiosks.",
                    name=view.product.name,
                ),
            )
        return redirect("/admin/products")

    @pages.post("/products/{product_id}/archive")
    async def archive_product(admin: Guarded, product_id: str) -> Response:
        try:
            product = await catalog.archive(admin.ctx.db, product_id)
        except PaymentError as error:
            admin.flash("error", error.text())
        else:
            log.info("admin archived a product", extra={"product_id": product_id})
            admin.flash(
                "ok",
                _(
                    "%(name)s is archived: off sale for good, still shown on its old orders.",
                    name=product.name,
                ),
            )
        return redirect("/admin/products")

    @pages.post("/products/{product_id}/picture")
    async def upload_picture(admin: Guarded, product_id: str) -> Response:
        upload = admin.form.get("picture")
        if not isinstance(upload, UploadFile) or not upload.filename:
            admin.flash("error", _("Choose a picture to upload."))
            return redirect("/admin/products")
        data = await upload.read(media.MAX_BYTES + 1)
        try:
            picture = media.check_picture(data)
            url = await asyncio.to_thread(
                media.store_picture, admin.ctx.settings.media_path(), product_id, picture
            )
            await catalog.set_picture(admin.ctx.db, product_id, url)
        except media.PictureError as error:
            admin.flash("error", _("Picture refused: %(why)s", why=error))
        except PaymentError as error:
            admin.flash("error", error.text())
        else:
            admin.flash("ok", _("New picture for %(product)s.", product=product_id))
        return redirect("/admin/products")

    return pages


def _orders_url(filters: queries.OrderFilters, page: int) -> str:
    params = filters.query(page=str(page) if page > 1 else "")
    return "/admin/orders" + (f"?{urlencode(params)}" if params else "")
