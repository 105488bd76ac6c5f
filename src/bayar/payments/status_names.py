"""Each order status in a word or two, as people read it: the shop's chip and the admin's badges
say the same word for the same status, from this one table beside `states.Status` (which uses the
standard library only, so the words, being messages to translate, live here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bayar.i18n import N_
from bayar.payments.states import Status

# English, as the catalogs' msgids: each edge says them in its reader's language.
STATUS_NAMES: Final[Mapping[Status, str]] = {
    Status.PENDING: N_("pending"),
    Status.REVIEW: N_("under review"),
    Status.PAID: N_("paid"),
    Status.FULFILLED: N_("complete"),
    Status.FAILED: N_("failed"),
    Status.EXPIRED: N_("expired"),
    Status.CANCELLED: N_("cancelled"),
    Status.PARTIALLY_REFUNDED: N_("partially refunded"),
    Status.REFUNDED: N_("refunded"),
}
