"""Routes of subscriptions and GoPay tokenization: the API under `/midtrans` (`/v1/subscriptions`,
`/v2/pay/account`) and the simulator pages (the account's activation page, the subscriptions list)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bayar.i18n import _
from bayar.sandbox import wire
from bayar.sandbox.errors import ControlError, MidtransError
from bayar.sandbox.http import BadJson, base_url, read_json, sandbox_of, syntax_error
from bayar.sandbox.midtrans import api_call
from bayar.sandbox.pages import _message, _render, rupiah

Handler = Callable[[Request], Awaitable[Response]]


def _answer(call: Callable[[], dict[str, Any]]) -> JSONResponse:
    try:
        return JSONResponse(call())
    except MidtransError as error:
        return JSONResponse(error.body, status_code=error.http_status)


# -- /v1/subscriptions ------------------------------------------------------------------------------


@api_call()
async def create_subscription(request: Request) -> Response:
    try:
        body = await read_json(request)
    except BadJson:
        return syntax_error()
    status, answer = sandbox_of(request).subscriptions.create(body, request.headers)
    return JSONResponse(answer, status_code=status)


@api_call()
async def subscription(request: Request) -> Response:
    subscriptions = sandbox_of(request).subscriptions
    id_ = request.path_params["id"]
    if request.method == "GET":
        return _answer(lambda: subscriptions.get(id_))
    try:
        body = await read_json(request)
    except BadJson:
        return syntax_error()
    return _answer(lambda: subscriptions.update(id_, body))


def _switch(enabled: bool) -> Handler:
    @api_call()
    async def endpoint(request: Request) -> Response:
        subscriptions = sandbox_of(request).subscriptions
        return _answer(lambda: subscriptions.set_enabled(request.path_params["id"], enabled))

    return endpoint


# -- /v2/pay/account --------------------------------------------------------------------------------


@api_call()
async def link_account(request: Request) -> Response:
    try:
        body = await read_json(request)
    except BadJson:
        return syntax_error()
    accounts = sandbox_of(request).accounts
    return _answer(lambda: accounts.link(body, base_url(request)))


@api_call()
async def get_account(request: Request) -> Response:
    accounts = sandbox_of(request).accounts
    return _answer(lambda: accounts.get(request.path_params["id"]))


@api_call()
async def unbind_account(request: Request) -> Response:
    accounts = sandbox_of(request).accounts
    return _answer(lambda: accounts.unbind(request.path_params["id"]))


def api_routes() -> list[BaseRoute]:
    """Mounted under `/midtrans`, before the Core routes."""
    return [
        Route("/v1/subscriptions", create_subscription, methods=["POST"]),
        Route("/v1/subscriptions/{id}", subscription, methods=["GET", "PATCH"]),
        Route("/v1/subscriptions/{id}/enable", _switch(True), methods=["POST"]),
        Route("/v1/subscriptions/{id}/disable", _switch(False), methods=["POST"]),
        Route("/v2/pay/account", link_account, methods=["POST"]),
        Route("/v2/pay/account/{id}", get_account, methods=["GET"]),
        Route("/v2/pay/account/{id}/unbind", unbind_account, methods=["POST"]),
    ]


# -- simulator pages ----------------------------------------------------------------------------------


async def activation(request: Request) -> Response:
    """Where `activation-link-url` leads: the customer sees the merchant's request to link their
    GoPay account and approves it (POST), then goes back to the merchant's `redirect_url`."""
    sandbox = sandbox_of(request)
    account_id = request.path_params["account_id"]
    account = sandbox.store.accounts.get(account_id)
    if account is None:
        return _message(request, 404, _("Account not found"), _("No GoPay linking has this id."))
    if request.method == "POST":
        try:
            account = sandbox.accounts.approve(account_id)
        except ControlError as error:
            return _message(request, error.http_status, _("Cannot link"), error.message)
        if account.redirect_url.startswith(("http://", "https://")):
            return RedirectResponse(account.redirect_url, status_code=303)
    return _render(request, "gopay_link.html", {"account": account})


async def subscriptions_page(request: Request) -> Response:
    sandbox = sandbox_of(request)
    subscriptions = sorted(
        sandbox.store.subscriptions.values(), key=lambda s: s.created_at, reverse=True
    )
    accounts = sorted(sandbox.store.accounts.values(), key=lambda a: a.created_at, reverse=True)
    return _render(
        request,
        "subscriptions.html",
        {
            "subscriptions": subscriptions,
            "accounts": accounts,
            "money": rupiah,
            "when": lambda ts: wire.wib(ts) if ts is not None else "",
        },
    )


def page_routes() -> list[BaseRoute]:
    return [
        Route("/gopay/partner/{account_id}", activation, methods=["GET", "POST"]),
        Route("/subscriptions", subscriptions_page, methods=["GET"]),
    ]
