"""One kiosk connection: authenticate, send the state from the database, then relay both ways.

Payment events reach the kiosk through the bus (`machine:{id}`), so a kiosk connected to one
process sees a payment that another process handled. The bus is only a doorbell: every frame is
built from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from bayar.bus.base import RESYNC
from bayar.context import AppContext
from bayar.gateways.base import GatewayError, GatewayRejected
from bayar.kiosk import messages
from bayar.payments.errors import NotAllowed, PaymentError
from bayar.payments.states import OPEN, Status
from bayar.vending.machines import authenticate
from bayar.vending.service import DISPENSE_DUE, MACHINE_ACTIVE, VendingService

log = logging.getLogger("bayar.kiosk")
CLOSE_UNAUTHORIZED = 4401
CLOSE_DISABLED = 4403
CLOSE_UNKNOWN = 4404
CLOSE_FOR = {"unknown": CLOSE_UNKNOWN, "disabled": CLOSE_DISABLED}
FAILED_EVENTS = {
    "failed": ("PAYMENT_FAILED", "denied"),
    "expired": ("EXPIRED", None),
    "cancelled": ("ORDER_CANCELLED", None),
}
DISPENSE_EVENTS = {
    "dispensed": "DISPENSED",
    "refunded": "REFUNDED",
    "manual_refund": "MANUAL_REFUND",
}
ERROR_CODES = {
    "OutOfStock": "sold_out",
    "ProductNotFound": "unknown_product",
    "InvalidRequest": "invalid",
    "NotAllowed": "not_allowed",
    "OrderNotFound": "not_found",
}


class Shared:
    """What the sockets of one process share. A bus message reaches every socket of its machine
    at once (a reloaded page, a wall of test kiosks): they read the order once. (The dispense
    claim stays per socket: it is a compare-and-set, so one command goes out whoever asks.)"""

    def __init__(self, vending: VendingService) -> None:
        self.vending = vending
        self._reads: dict[tuple[str, str, str], asyncio.Future[dict[str, Any] | None]] = {}

    async def order_view(self, message: dict[str, Any]) -> dict[str, Any] | None:
        # Keyed by the message too: a read begun before a later change never answers for it.
        order_id = str(message.get("order_id", ""))
        key = (order_id, str(message.get("status")), str(message.get("previous")))
        future = self._reads.get(key)
        if future is None:
            future = asyncio.ensure_future(self.vending.order_view(order_id))
            self._reads[key] = future
            future.add_done_callback(lambda _done: self._reads.pop(key, None))
        return await asyncio.shield(future)


_SHARED: weakref.WeakKeyDictionary[VendingService, Shared] = weakref.WeakKeyDictionary()


def shared_for(vending: VendingService) -> Shared:
    found = _SHARED.get(vending)
    if found is None:
        found = _SHARED[vending] = Shared(vending)
    return found


class Connection:
    def __init__(
        self, ctx: AppContext, vending: VendingService, websocket: WebSocket, machine_id: str
    ) -> None:
        self.ctx = ctx
        self.vending = vending
        self.shared = shared_for(vending)
        self.ws = websocket
        self.machine_id = machine_id
        self.id = uuid.uuid4().hex
        self._send_lock = asyncio.Lock()

    async def send(self, event: str, values: dict[str, Any] | None = None) -> None:
        async with self._send_lock:
            await self.ws.send_text(messages.frame(event, values))

    async def run(self) -> None:
        presence = self.ctx.presence
        async with self.ctx.bus.subscribe(f"machine:{self.machine_id}") as events:
            await presence.connected(self.machine_id, self.id)
            await self.vending.touch(self.machine_id)
            relay = asyncio.create_task(self._relay(events))
            try:
                await self.send_state(resend_dispense=True)
                await self._read()
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await relay
                await presence.disconnected(self.machine_id, self.id)

    # -- from the kiosk --------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            try:
                received = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if received["type"] == "websocket.disconnect":
                return
            raw = received.get("text")
            try:
                if not isinstance(raw, str):
                    raise messages.FrameError("frames are JSON text, not binary")
                event, values = messages.parse(raw)
            except messages.FrameError as error:
                await self.send("ERROR", {"code": "invalid", "message": str(error)})
                continue
            try:
                await self._handle(event, values)
            except PaymentError as error:
                code = ERROR_CODES.get(type(error).__name__, "invalid")
                await self.send("ERROR", {"code": code, "message": error.message})
            except GatewayError as error:
                said = (
                    f"the payment gateway refused: {error.message}"
                    if isinstance(error, GatewayRejected)
                    else "the payment gateway did not answer; try again"
                )
                await self.send("ERROR", {"code": "gateway", "message": said})
            except Exception:
                log.exception("kiosk message failed", extra={"machine_id": self.machine_id})
                await self.send(
                    "ERROR", {"code": "internal", "message": "something went wrong; try again"}
                )

    async def _handle(self, event: str, values: dict[str, Any]) -> None:
        if event == "PING":
            await self.ctx.presence.connected(self.machine_id, self.id)
            await self.send("PONG")
        elif event == "SHOW_MENU":
            await self.send("SHOW_MENU", {"items": await self.vending.menu(self.machine_id)})
        elif event == "STATE":
            await self.send_state(resend_dispense=False)
        elif event == "ORDER":
            product_id = values.get("id")
            if not isinstance(product_id, str) or values.get("total", 1) != 1:
                await self.send(
                    "ERROR", {"code": "invalid", "message": "ORDER needs a product id and total 1"}
                )
                return
            request_id = values.get("request_id")
            view = await self.vending.order(
                self.machine_id, product_id, str(request_id)[:80] if request_id else None
            )
            if Status(view["status"]).is_open and view.get("qr_string"):
                await self.send("ORDER_CREATED", messages.order_values(view, self.ctx.clock()))
            elif Status(view["status"]).is_open:
                await self.send(
                    "ERROR",
                    {
                        "code": "gateway",
                        "message": "the payment could not be created yet; try again",
                    },
                )
                # Its QR never reached the screen, so nobody can pay it: cancel it now rather
                # than hold the slot's last drink until it expires. Best effort: if the gateway
                # is still away, reconciliation and expiry settle it.
                with contextlib.suppress(PaymentError, GatewayError):
                    await self.vending.cancel(self.machine_id, view["order_id"])
            else:
                await self.send_state(resend_dispense=False)
        elif event == "CANCEL":
            await self._cancel(str(values.get("order_id", "")))
        elif event == "DISPENSE_RESULT":
            await self.vending.dispense_result(
                self.machine_id,
                str(values.get("order_id", "")),
                bool(values.get("ok")),
                str(values["detail"])[:500] if values.get("detail") else None,
                self.id,
            )
        else:
            await self.send("ERROR", {"code": "invalid", "message": f"unknown event {event!r}"})

    async def _cancel(self, order_id: str) -> None:
        """A cancellation is announced by the relay (one frame, whichever process cancelled)."""
        try:
            # Whoever moved the order to cancelled (this call, or its webhook first) published it.
            await self.vending.cancel(self.machine_id, order_id)
        except NotAllowed:
            view = await self.vending.order_view(order_id)
            if view is None or view.get("machine_id") != self.machine_id:
                raise
            status = view["status"]
            if status in ("paid", "fulfilled"):
                return  # paid meanwhile: the relay sends PAYMENT_SUCCESS and the dispense
            if status not in FAILED_EVENTS:
                raise
            event, reason = FAILED_EVENTS[status]
            await self.send(event, {"order_id": order_id} | ({"reason": reason} if reason else {}))

    # -- to the kiosk ----------------------------------------------------------------------------

    async def send_state(self, *, resend_dispense: bool) -> None:
        now = self.ctx.clock()
        order = await self.vending.current_order(self.machine_id, now)
        machine = await self.vending.machine(self.machine_id)
        await self.send(
            "STATE",
            {
                "machine": machine,
                "screen": messages.screen_of(order),
                "order": messages.order_values(order, now) if order else None,
                "menu": await self.vending.menu(self.machine_id),
                "server_time": now,
            },
        )
        await self._dispense_due(resend=resend_dispense)

    async def _dispense_due(self, *, resend: bool) -> None:
        """DISPENSE for every paid order of the machine no socket took yet, oldest first (paid
        while the kiosk was away, or while it showed a newer order)."""
        for order_id in await self.vending.dispenses_due(self.machine_id, resend=resend):
            await self._dispense(order_id, resend=resend)

    async def _dispense(self, order_id: str, *, resend: bool) -> None:
        command = await self.vending.claim_dispense(
            self.machine_id, order_id, self.id, resend=resend
        )
        if command is not None:
            await self.send("DISPENSE", messages.dispense_values(command))

    async def _relay(self, events: AsyncIterator[dict[str, Any]]) -> None:
        async for message in events:
            try:
                await self._forward(message)
            except (WebSocketDisconnect, RuntimeError):
                return
            except Exception:
                log.exception("relay failed", extra={"machine_id": self.machine_id})

    async def _forward(self, message: dict[str, Any]) -> None:
        order_id = str(message.get("order_id", ""))
        if message.get("type") == MACHINE_ACTIVE:
            if message.get("active") is False:  # taken out of service in the admin
                await self.ws.close(code=CLOSE_DISABLED)
        elif message.get("type") == RESYNC["type"]:
            await self.send_state(resend_dispense=False)
        elif message.get("type") == DISPENSE_DUE:
            await self._dispense_due(resend=False)
        elif message.get("type") == "order":
            # Read the order again: the message is a doorbell, the database is the truth.
            view = await self.shared.order_view(message)
            if view is None or view.get("machine_id") != self.machine_id:
                return
            status = view["status"]
            if status == "paid" and message.get("previous") in OPEN:
                await self.send("PAYMENT_SUCCESS", {"order_id": order_id})
                await self._dispense(order_id, resend=False)
            elif status in FAILED_EVENTS and message.get("status") == status:
                event, reason = FAILED_EVENTS[status]
                values = {"order_id": order_id} | ({"reason": reason} if reason else {})
                await self.send(event, values)
        elif message.get("type") == "dispense":
            name = DISPENSE_EVENTS.get(str(message.get("status")))
            if name is not None:
                details: dict[str, Any] = {"order_id": order_id}
                if "amount" in message:
                    details["amount"] = message["amount"]
                await self.send(name, details)


async def serve(
    ctx: AppContext, vending: VendingService, websocket: WebSocket, machine_id: str
) -> None:
    machine = await authenticate(ctx.db, machine_id, websocket.query_params.get("token"))
    await websocket.accept()  # accepted first, so the kiosk can read why it is closed
    if machine is None:
        standing = await vending.machine_standing(machine_id)
        await websocket.close(code=CLOSE_FOR.get(standing, CLOSE_UNAUTHORIZED))
        return
    await Connection(ctx, vending, websocket, machine_id).run()
