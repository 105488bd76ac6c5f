"""The Xendit adapter: `client.XenditGateway` (invoices, QRIS payment requests and refunds over
httpx) and `wire` (Xendit's JSON to and from bayar's gateway types)."""

from bayar.gateways.xendit.client import XenditGateway

__all__ = ["XenditGateway"]
