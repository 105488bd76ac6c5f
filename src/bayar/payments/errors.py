"""What can go wrong in the core, each with the HTTP status an edge should answer with.

A gateway's failures are not repeated here: the core lets `GatewayRejected` and
`GatewayUnavailable` (`bayar.gateways.base`) through as the adapter raised them, and the edges
answer them (`bayar.api.errors`: 502 and 503).

A message is a catalog message (`N_()`, `%(name)s` placeholders) and its values: `message` is it
in English (logs, and API clients that ask for no language), `text()` in the language of what is
being rendered (an admin page, the shop's notice)."""

from __future__ import annotations

from typing import Any

from bayar import i18n


class PaymentError(Exception):
    http_status = 400

    def __init__(self, message: str, **values: Any) -> None:
        english = message % values if values else message
        super().__init__(english)
        self.message = english
        self._msgid = message
        self._values = values

    def text(self) -> str:
        """The message in the current language (English where the catalog has none)."""
        return i18n.gettext(self._msgid, **self._values)


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
