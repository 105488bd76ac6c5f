"""The Midtrans adapter: `client.MidtransGateway` (Core API + Snap over httpx), `signature`
(notification signatures) and `wire` (Midtrans' JSON to and from bayar's gateway types)."""

from bayar.gateways.midtrans.client import MidtransGateway, base_urls

__all__ = ["MidtransGateway", "base_urls"]
