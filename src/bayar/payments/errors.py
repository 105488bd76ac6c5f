"""What can go wrong in the core, each with the HTTP status an edge should answer with.

A gateway's failures are not repeated here: the core lets `GatewayRejected` and
`GatewayUnavailable` (`bayar.gateways.base`) through as the adapter raised them, and the edges
answer them (`bayar.api.errors`: 502 and 503)."""

from __future__ import annotations


class PaymentError(Exception):
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(PaymentError):
    http_status = 422


class ProductNotFound(PaymentError):
    http_status = 422


class NoSuchProduct(PaymentError):
    """The catalog has no product by this id (an admin's edit; a cart's is `ProductNotFound`)."""

    http_status = 404


class OutOfStock(PaymentError):
    http_status = 409


class OrderNotFound(PaymentError):
    http_status = 404


class NotAllowed(PaymentError):
    """The order's state does not allow the operation."""

    http_status = 409
