"""What can go wrong in the core, each with the HTTP status an edge should answer with."""

from __future__ import annotations


class PaymentError(Exception):
    http_status = 400

    def __init__(self, message: str, *, refund_key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Of a refund that failed or whose outcome is unknown: the key to retry it with.
        self.refund_key = refund_key


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


class GatewayDeclined(PaymentError):
    """The gateway refused; nothing was charged."""

    http_status = 502


class GatewayUnreachable(PaymentError):
    """The gateway did not answer; the outcome is unknown and will be reconciled."""

    http_status = 503
