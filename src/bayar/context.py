"""What the edges (api, kiosk, storefront, admin) are handed: the services built by `app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from bayar.bus.base import Bus
from bayar.clock import Clock
from bayar.config import Settings
from bayar.metrics import Metrics
from bayar.payments.inbox import Inbox
from bayar.payments.service import PaymentsService
from bayar.storage.db import Database
from bayar.vending.presence import Presence
from bayar.vending.service import VendingService


@dataclass
class AppContext:
    settings: Settings
    db: Database
    bus: Bus
    metrics: Metrics
    payments: PaymentsService
    inbox: Inbox | None  # Midtrans' notifications; None: Midtrans is not configured
    vending: VendingService
    presence: Presence
    clock: Clock  # every edge's "now" (the services hold the same one)
    # Midtrans' snap.js (the sandbox's, or Midtrans' own); None: Midtrans is not configured.
    snap_js_url: str | None
    xendit_inbox: Inbox | None = None  # Xendit's callbacks; None: Xendit is not configured


def context_of(connection: HTTPConnection) -> AppContext:
    context: AppContext = connection.app.state.context
    return context
