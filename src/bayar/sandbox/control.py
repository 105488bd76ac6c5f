"""The control API under `/sandbox/_control/`: what a test or a fault drill tells the sandbox to do.

Not part of Midtrans. Open on loopback; beyond it, behind BAYAR_SANDBOX_TOKEN (access.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bayar.sandbox.engine import SIMULATED_ACTIONS as ACTIONS
from bayar.sandbox.errors import ControlError
from bayar.sandbox.faults import Fault
from bayar.sandbox.http import read_object, sandbox_of, urls_of
from bayar.sandbox.model import Delivery
from bayar.sandbox.xendit.errors import XenditError
from bayar.sandbox.xendit.page import object_body


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    data = asdict(delivery)
    data["body"] = delivery.body
    return data


async def act(request: Request) -> Response:
    """`POST /_control/midtrans/{id}/{pay|deny|expire|cancel}`."""
    sandbox = sandbox_of(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise ControlError(404, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    txn = sandbox.gateway.simulate(
        request.path_params["id"],
        action,
        payment_type=request.query_params.get("payment_type"),
        urls=urls_of(request),
    )
    return JSONResponse(sandbox.gateway.status_body(txn))


async def transaction(request: Request) -> Response:
    sandbox = sandbox_of(request)
    txn = sandbox.store.find(request.path_params["id"])
    if txn is None:
        raise ControlError(404, "Transaction doesn't exist.")
    return JSONResponse(
        {
            "transaction": sandbox.gateway.status_body(txn),
            "notifications": [delivery_json(d) for d in sandbox.notifier.log_for(txn.order_id)],
        }
    )


async def notifications(request: Request) -> Response:
    """The delivery log of an order or transaction: every notification and every attempt."""
    sandbox = sandbox_of(request)
    return JSONResponse(
        [delivery_json(d) for d in sandbox.notifier.log_for(request.path_params["id"])]
    )


async def transactions(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return JSONResponse(
        [sandbox.gateway.status_body(t) for t in sandbox.store.transactions.values()]
    )


async def xendit_act(request: Request) -> Response:
    """`POST /_control/xendit/{id}/{pay|expire|fail}`: an invoice, payment request or refund, by
    its id or (the newest) by external_id / reference_id. `?channel=BCA` picks how an invoice is
    paid (default: QRIS when offered)."""
    sandbox = sandbox_of(request)
    try:
        target = sandbox.xendit.act(
            request.path_params["id"],
            request.path_params["action"],
            channel=request.query_params.get("channel"),
        )
    except XenditError as error:
        raise ControlError(error.http_status, error.message) from None
    return JSONResponse(object_body(request, target))


def _xendit_target(request: Request) -> str:
    target = sandbox_of(request).xendit.find(request.path_params["id"])
    if target is None:
        raise ControlError(404, "No Xendit invoice, payment request or refund has this id.")
    return target.id


async def xendit_object(request: Request) -> Response:
    sandbox = sandbox_of(request)
    target = sandbox.xendit.find(_xendit_target(request))
    assert target is not None
    return JSONResponse(
        {
            "object": object_body(request, target),
            "callbacks": [delivery_json(d) for d in sandbox.notifier.log_for(target.id)],
        }
    )


async def xendit_callbacks(request: Request) -> Response:
    """The callback log of an invoice, payment request or refund: every delivery and attempt."""
    sandbox = sandbox_of(request)
    return JSONResponse(
        [delivery_json(d) for d in sandbox.notifier.log_for(_xendit_target(request))]
    )


async def xendit_transactions(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return JSONResponse([object_body(request, t) for t in sandbox.xendit.newest_first()])


async def reset(request: Request) -> Response:
    sandbox_of(request).reset()
    return JSONResponse({"reset": True})


async def faults(request: Request) -> Response:
    sandbox = sandbox_of(request)
    if request.method == "DELETE":
        sandbox.faults.clear()
    elif request.method == "POST":
        body = await read_object(request)
        try:
            fault = Fault(
                kind=str(body.get("kind")),
                remaining=int(body.get("count", 1)),
                status=int(body.get("status", 500)),
                seconds=float(body.get("seconds", 30.0)),
                copies=int(body.get("copies", 2)),
            )
            sandbox.faults.arm(fault)
        except (TypeError, ValueError) as error:
            raise ControlError(400, str(error)) from None
    return JSONResponse({"armed": sandbox.faults.describe()})


async def clock(request: Request) -> Response:
    """`POST {"advance": seconds}` moves sandbox time on; `{"scale": x}` speeds it up."""
    sandbox = sandbox_of(request)
    if request.method == "POST":
        body = await read_object(request)
        try:
            if "scale" in body:
                sandbox.clock.set_scale(float(body["scale"]))
            if "advance" in body:
                sandbox.advance_clock(float(body["advance"]))
        except (TypeError, ValueError) as error:
            raise ControlError(400, str(error)) from None
    return JSONResponse({"now": sandbox.clock.now().isoformat(), "scale": sandbox.clock.scale})


# The dashboard's other notification URLs: subscriptions' charges and GoPay accounts; and Xendit's
# webhook URLs (the account's, and one per product: invoices, payment requests, refunds).
# Unset (null), those go to the Payment Notification URL (Xendit's: to `xendit_callback_url`, else
# bayar's own callback under `bayar up`); GET shows them once set.
OTHER_URLS = (
    "recurring_notification_url",
    "pay_account_notification_url",
    "xendit_callback_url",
    "xendit_invoice_callback_url",
    "xendit_payment_request_callback_url",
    "xendit_refund_callback_url",
)
# Xendit's "also notify my application when an invoice has expired" checkbox (default on).
XENDIT_EXPIRED = "xendit_invoice_expired_callback"


def _url_setting(body: dict[str, Any], key: str) -> str | None:
    url = body.get(key)
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ControlError(400, f"{key} must be an http(s) URL or null")
    return url


async def config(request: Request) -> Response:
    """The dashboard's Payment Notification URL (and its Recurring and Pay Account ones), and
    Xendit's webhook settings (its URLs, the expired-invoice checkbox)."""
    sandbox = sandbox_of(request)
    if request.method in ("PUT", "POST"):
        body = await read_object(request)
        others = {key: _url_setting(body, key) for key in OTHER_URLS if key in body}
        expired = body.get(XENDIT_EXPIRED)
        if XENDIT_EXPIRED in body and not isinstance(expired, bool):
            raise ControlError(400, f"{XENDIT_EXPIRED} must be true or false")
        if "notification_url" in body or not (others or XENDIT_EXPIRED in body):
            sandbox.store.save_config("notification_url", _url_setting(body, "notification_url"))
        for key, url in others.items():
            sandbox.store.save_config(key, url)
        if XENDIT_EXPIRED in body:
            sandbox.store.save_config(XENDIT_EXPIRED, expired)
    return JSONResponse(
        {
            "notification_url": sandbox.notification_url(),
            **{
                key: sandbox.store.config[key]
                for key in OTHER_URLS
                if sandbox.store.config.get(key)
            },
            **(
                {XENDIT_EXPIRED: sandbox.store.config[XENDIT_EXPIRED]}
                if XENDIT_EXPIRED in sandbox.store.config
                else {}
            ),
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/midtrans/transactions", transactions, methods=["GET"]),
        Route("/midtrans/{id}", transaction, methods=["GET"]),
        Route("/midtrans/{id}/notifications", notifications, methods=["GET"]),
        Route("/midtrans/{id}/{action}", act, methods=["POST"]),
        Route("/xendit/transactions", xendit_transactions, methods=["GET"]),
        Route("/xendit/{id}", xendit_object, methods=["GET"]),
        Route("/xendit/{id}/callbacks", xendit_callbacks, methods=["GET"]),
        Route("/xendit/{id}/{action}", xendit_act, methods=["POST"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/clock", clock, methods=["GET", "POST"]),
        Route("/config", config, methods=["GET", "PUT", "POST"]),
    ]
