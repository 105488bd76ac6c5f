"""The gateways of this process and which one each order uses.

An order is created at the gateway its checkout chose (BAYAR_GATEWAY by default), recorded on its
payment row (`Payment.gateway`); every later call about the order (status, expiry, cancel,
refund) goes to that same gateway, whatever the default is by then. `GatewayRouter` is itself a
`Gateway`, so the core asks it as it would ask one adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bayar.gateways.base import (
    ChargeRequest,
    Gateway,
    GatewayReport,
    GatewayUnavailable,
    PaymentInstructions,
    SnapRequest,
)
from bayar.storage import repositories as repo
from bayar.storage.db import Database


class UnknownGateway(ValueError):
    """A gateway name this process has no adapter for."""


class GatewayRouter:
    def __init__(self, gateways: Mapping[str, Gateway], default: str, db: Database) -> None:
        if default not in gateways:
            raise UnknownGateway(f"no adapter for the default gateway {default!r}")
        self._gateways = dict(gateways)
        self._db = db
        self.default = gateways[default]
        self.name = default
        self.refundable_types = self.default.refundable_types

    def __repr__(self) -> str:
        adapters = ", ".join(repr(g) for g in self._gateways.values())
        return f"GatewayRouter(default={self.name!r}, gateways=[{adapters}])"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._gateways)

    def get(self, name: str | None, *, or_default: bool = False) -> Gateway:
        """The adapter of `name` (None: the default). UnknownGateway if there is none, unless
        `or_default` (for what is only shown, never asked)."""
        if name is None:
            return self.default
        found = self._gateways.get(name)
        if found is None:
            if or_default:
                return self.default
            raise UnknownGateway(f"no gateway {name!r} here")
        return found

    def refunds(self, payment_type: str, gateway: str | None = None) -> bool:
        """Can this gateway refund a payment of this type through its API?"""
        found = self._gateways.get(gateway) if gateway else self.default
        return found is not None and payment_type in found.refundable_types

    async def of_order(self, order_id: str) -> Gateway:
        """The gateway the order was created at (an order not here: the default)."""
        async with self._db.session() as session:
            payment = await repo.payment_of(session, order_id)
        if payment is None:
            return self.default
        return self.adapter(payment.gateway, order_id)

    def adapter(self, name: str, order_id: str) -> Gateway:
        """The adapter of an order created at `name` (its payment row's gateway)."""
        try:
            return self.get(name)
        except UnknownGateway:
            # Never another gateway's answer about this order: unknown, to be asked again once
            # this process is configured for it.
            raise GatewayUnavailable(
                f"order {order_id} is at {name}, which this process is not configured for"
            ) from None

    # -- the Gateway protocol, per order --------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> PaymentInstructions:
        return await (await self.of_order(request.order_id)).charge(request)

    async def create_snap(self, request: SnapRequest) -> PaymentInstructions:
        return await (await self.of_order(request.order_id)).create_snap(request)

    async def status(self, order_id: str) -> GatewayReport:
        return await (await self.of_order(order_id)).status(order_id)

    async def cancel(self, order_id: str) -> GatewayReport:
        return await (await self.of_order(order_id)).cancel(order_id)

    async def expire(self, order_id: str) -> GatewayReport:
        return await (await self.of_order(order_id)).expire(order_id)

    async def refund(
        self, order_id: str, *, amount: int | None, refund_key: str, reason: str
    ) -> GatewayReport:
        gateway = await self.of_order(order_id)
        return await gateway.refund(order_id, amount=amount, refund_key=refund_key, reason=reason)

    # Notifications arrive at each gateway's own route, whose inbox holds that gateway's adapter;
    # these answer for the default's.
    def verify_notification(
        self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        return self.default.verify_notification(body, headers)

    def parse_notification(self, body: Mapping[str, Any]) -> GatewayReport:
        return self.default.parse_notification(body)

    def notification_labels(self, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return self.default.notification_labels(body)

    async def aclose(self) -> None:
        for gateway in self._gateways.values():
            await gateway.aclose()
