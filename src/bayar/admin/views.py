"""Turning rows into what the admin pages show: times in WIB, statuses and orders in words, the
refund and restock forms' numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from bayar.admin.queries import CHANNELS, WIB, OrderFilters
from bayar.gateways.methods import label_of, method_label
from bayar.i18n import N_, _, ngettext
from bayar.i18n import rupiah as i18n_rupiah
from bayar.i18n import wib as i18n_wib
from bayar.payments.money import parse_rupiah_input
from bayar.payments.reads import OrderDetails
from bayar.payments.states import Status
from bayar.payments.status_names import STATUS_NAMES as ORDER_STATUS_NAMES
from bayar.storage.repositories import Attention
from bayar.storage.snapshots import EventSnapshot, PaymentSnapshot

INSTRUCTION_LABELS = {
    "transaction_id": N_("Transaction id"),
    "token": N_("Snap token"),
    "redirect_url": N_("Snap URL"),
    "qr_string": N_("QR string"),
    "qr_url": N_("QR image"),
    "va_number": N_("VA number"),
    "bank": N_("Bank"),
    "bill_key": N_("Bill key"),
    "biller_code": N_("Biller code"),
    "payment_code": N_("Payment code"),
    "store": N_("Store"),
    "expiry_time": N_("Expires"),
}
STATUS_KIND = {
    "pending": "warn",
    "review": "warn",
    "paid": "ok",
    "fulfilled": "ok",
    "failed": "bad",
    "expired": "off",
    "cancelled": "off",
    "partially_refunded": "refund",
    "refunded": "refund",
}
# The dashboard's "needs attention" items (storage.repositories.Attention) in words.
ATTENTION_KINDS = {
    "late_payment": N_("paid after the order closed"),
    "manual_refund": N_("refund for a person to make"),
    "unsettled_refund": N_("refund whose outcome is unknown"),
    "failed_refund": N_("refund the gateway failed: refund again, or by hand"),
}
REFUND_STATES = {
    "manual": N_("waiting for a person"),
    "succeeded": N_("given back"),
    "requested": N_("asked of the gateway"),
    "pending": N_("the gateway is making it"),
    "unknown": N_("the gateway's answer was lost"),
    "failed": N_("refused by the gateway"),
}
# The orders page's filters: days a shop can have orders on, pages a person can click to, and
# text fields as long as the ids they match.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
MAX_PAGE = 100_000
FILTER_TEXT = 64
COUNT_DIGITS = 9  # units of stock: the checks that follow bound them far lower
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wib(moment: datetime | None) -> str:
    """24 Nov 2026, 09:39 WIB (in the page's language)."""
    return i18n_wib(moment)


def rupiah(amount: int) -> str:
    return i18n_rupiah(amount)


def wib_time(moment: datetime) -> str:
    """09:39:07.123 (for timelines, where the order of events matters)."""
    local = aware(moment).astimezone(WIB)
    return f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return _("never")
    seconds = int((now - aware(moment)).total_seconds())
    if seconds < 0:
        return _("just now")
    if seconds >= 86400:
        return ngettext("%(num)s day ago", "%(num)s days ago", seconds // 86400)
    if seconds >= 3600:
        return _("%(n)s h ago", n=seconds // 3600)
    if seconds >= 60:
        return _("%(n)s min ago", n=seconds // 60)
    return _("%(n)s s ago", n=seconds)


def status_kind(status: str) -> str:
    return STATUS_KIND.get(status, "off")


# Statuses of orders, refunds, notifications and gateway calls as the badges say them.
# An order's status says what the shop says (payments.status_names); the others are the admin's.
STATUS_NAMES = {
    **{status.value: name for status, name in ORDER_STATUS_NAMES.items()},
    "succeeded": N_("succeeded"),
    "requested": N_("requested"),
    "unknown": N_("unknown"),
    "manual": N_("manual"),
    "applied": N_("applied"),
    "no_change": N_("no change"),
    "ignored": N_("ignored"),
    "ok": N_("ok"),
    "rejected": N_("rejected"),
    "unavailable": N_("unavailable"),
    "not_found": N_("not found"),
}
CHANNEL_NAMES = {"shop": N_("shop"), "kiosk": N_("kiosk")}


def status_name(status: str) -> str:
    """A status in the page's language (one the table does not know: as stored, underscores
    as spaces)."""
    return _(STATUS_NAMES[status]) if status in STATUS_NAMES else status.replace("_", " ")


def channel_name(channel: str) -> str:
    return _(CHANNEL_NAMES[channel]) if channel in CHANNEL_NAMES else channel


def attention(item: Attention) -> str:
    """A "needs attention" item in words: what it is, and where its refund stands."""
    kind = _(ATTENTION_KINDS[item.kind]) if item.kind in ATTENTION_KINDS else item.kind
    status = item.refund_status or ""
    state = _(REFUND_STATES[status]) if status in REFUND_STATES else status or "-"
    closed = (
        " (" + _("order %(status)s", status=status_name(item.order_status)) + ")"
        if item.kind == "late_payment"
        else ""
    )
    return f"{kind}{closed}: {state}"


def parse_amount(text: str) -> int | None:
    """'' → None (the whole remaining amount); else whole rupiah as `parse_rupiah_input` reads
    it ('35000', '35.000', 'Rp 35.000'). Raises MoneyError (a ValueError) for anything else."""
    text = text.strip()
    return parse_rupiah_input(text) if text else None


def parse_count(text: str) -> int:
    """A whole number of units; ValueError otherwise."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= COUNT_DIGITS):
        raise ValueError(text)
    return int(text)


def plain_text(text: str, limit: int, *, allow: str = "") -> bool:
    """At most `limit` characters, none of them a control character (NUL included) but `allow`."""
    return len(text) <= limit and not any(
        (ord(c) < 32 or ord(c) == 127) and c not in allow for c in text
    )


def parse_filters(params: Mapping[str, str]) -> tuple[OrderFilters, list[str]]:
    """The orders page's query string, every parameter checked: the filters, and what is wrong
    with them (the page answers 400 with these messages rather than guess)."""
    problems: list[str] = []

    def text(key: str) -> str:
        raw = params.get(key, "").strip()
        if len(raw) > FILTER_TEXT:
            problems.append(f"{key} is longer than {FILTER_TEXT} characters")
            return ""
        if not plain_text(raw, FILTER_TEXT):
            problems.append(f"{key} contains control characters")
            return ""
        return raw

    status = text("status")
    if status and status not in {s.value for s in Status}:
        problems.append(f"unknown status {status!r}")
        status = ""
    channel = text("channel")
    if channel and channel not in CHANNELS:
        problems.append(f"unknown channel {channel!r}")
        channel = ""
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        raw = text(key)
        days[key] = None
        if not raw:
            continue
        try:
            if not ISO_DAY.fullmatch(raw):
                raise ValueError(raw)
            day = date.fromisoformat(raw)
        except ValueError:
            problems.append(f"{key} is not a date (YYYY-MM-DD): {raw!r}")
            continue
        if not FIRST_DAY <= day <= LAST_DAY:
            problems.append(f"{key} must be a day from {FIRST_DAY} to {LAST_DAY}")
            continue
        days[key] = day
    if days["from"] and days["to"] and days["from"] > days["to"]:
        problems.append("from is after to")
    page = 1
    raw_page = text("page")
    if raw_page:
        if raw_page.isdigit() and raw_page.isascii() and 1 <= int(raw_page[:9]) <= MAX_PAGE:
            page = int(raw_page)
        else:
            problems.append(f"page must be a whole number from 1 to {MAX_PAGE}")
    return (
        OrderFilters(
            status=status,
            channel=channel,
            machine=text("machine"),
            date_from=days["from"],
            date_to=days["to"],
            q=text("q"),
            page=page,
        ),
        problems,
    )


# -- an order in plain words ----------------------------------------------------------------------


def customer_name(customer: Mapping[str, Any] | None) -> str:
    """ "Siti Rahma": first and last name as one name ("" when none was given)."""
    if not customer:
        return ""
    parts = (customer.get("first_name"), customer.get("last_name"))
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


def payment_method(asked: str, payment: PaymentSnapshot | None) -> str:
    """How the customer paid (or is paying): the payment's own type, bank or store, which for a
    Snap checkout is what the customer chose on the Snap page, not the "snap" that was asked for
    (`asked`: the order's payment type)."""
    if payment is None:
        return method_label(asked)
    return label_of({**payment.instructions, "payment_type": payment.payment_type})


def _last_move(history: Sequence[EventSnapshot], status: str) -> datetime | None:
    moves = [e.at for e in history if e.to_status == status and not e.ignored]
    return aware(moves[-1]) if moves else None


def summary(details: OrderDetails) -> str:
    """One plain line above an order's technical timeline: what happened to the money."""
    order, refunds, history = details.order, details.refunds, details.history
    amount = rupiah(order.gross_amount)
    method = payment_method(order.payment_type, details.payment)
    paid_by = method not in ("—", method_label("snap"))
    when = _last_move(history, order.status)
    given = sum(r.amount for r in refunds if r.status == "succeeded")
    values = {"amount": amount, "method": method, "when": wib(when), "given": rupiah(given)}
    status = Status(order.status)
    if status is Status.FULFILLED:
        values["when"] = wib(_last_move(history, Status.PAID.value))
    if status is Status.PENDING:
        values["when"] = wib(order.expires_at)
    # (without a method, with a method): the line for each status.
    lines = {
        Status.PENDING: (
            N_("Waiting for the customer to pay %(amount)s, until %(when)s."),
            N_("Waiting for the customer to pay %(amount)s by %(method)s, until %(when)s."),
        ),
        Status.REVIEW: (
            N_(
                "The customer paid %(amount)s; the gateway holds it for a fraud review:"
                " approve or deny it there."
            ),
            N_(
                "The customer paid %(amount)s by %(method)s; the gateway holds it for a fraud"
                " review: approve or deny it there."
            ),
        ),
        Status.PAID: (
            N_("Paid %(amount)s on %(when)s."),
            N_("Paid %(amount)s by %(method)s on %(when)s."),
        ),
        Status.FULFILLED: (
            N_("Paid %(amount)s on %(when)s, and handed over to the customer."),
            N_("Paid %(amount)s by %(method)s on %(when)s, and handed over to the customer."),
        ),
        Status.FAILED: (
            N_("The payment was declined on %(when)s; nothing was charged."),
            N_("The payment by %(method)s was declined on %(when)s; nothing was charged."),
        ),
        Status.EXPIRED: (
            N_("Not paid in time: the order expired on %(when)s; nothing was charged."),
        )
        * 2,
        Status.CANCELLED: (N_("Cancelled before it was paid on %(when)s; nothing was charged."),)
        * 2,
        Status.REFUNDED: (
            N_("Paid %(amount)s, then refunded in full on %(when)s."),
            N_("Paid %(amount)s by %(method)s, then refunded in full on %(when)s."),
        ),
        Status.PARTIALLY_REFUNDED: (
            N_("Paid %(amount)s; %(given)s of it refunded on %(when)s."),
            N_("Paid %(amount)s by %(method)s; %(given)s of it refunded on %(when)s."),
        ),
    }
    return _(lines[status][int(paid_by)], **values)


# -- what can be done to an order -----------------------------------------------------------------


def cancellable(status: str) -> bool:
    return status in (Status.PENDING.value, Status.REVIEW.value)


def instructions(details: OrderDetails) -> list[tuple[str, str]]:
    payment = details.payment
    if payment is None:
        return []
    found: dict[str, Any] = {
        "transaction_id": payment.transaction_id,
        **payment.instructions,
    }
    return [
        (label, _shown(found[key]))
        for key, label in INSTRUCTION_LABELS.items()
        if found.get(key) not in (None, "")
    ]


def _shown(value: object) -> str:
    """An instruction's value; times (ISO strings) in WIB."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in "T ":
        try:
            return wib(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def method_list(payment_types: frozenset[str]) -> str:
    """ "card, GoPay, QRIS and ShopeePay": the methods of a set, in words, in a steady order."""
    names = sorted(method_label(t) for t in payment_types)
    if not names:
        return _("no method")
    if len(names) == 1:
        return names[0]
    return _("%(first)s and %(last)s", first=", ".join(names[:-1]), last=names[-1])


# What bayar itself writes into a refund's reason and detail (stored in English, as the core and
# the admin's forms write them): shown in the page's language. Anything else (a person's note,
# the gateway's own words) is shown as it was written.
REFUND_WORDS = {
    "refund by admin": N_("refund by admin"),
    "refunded by hand": N_("refunded by hand"),
    "recorded by an admin": N_("recorded by an admin"),
    "the gateway did not answer": N_("the gateway did not answer"),
    "no acknowledgement in time": N_("no acknowledgement in time"),
    "the machine did not take the order in time (offline)": N_(
        "the machine did not take the order in time (offline)"
    ),
}
REFUND_PATTERNS = (
    (re.compile(r"refunded by hand: (?P<note>.+)", re.S), N_("refunded by hand: %(note)s")),
    (
        re.compile(r"(?P<bank>.+?), reference (?P<reference>[^:]+)(?:: (?P<rest>.+))?", re.S),
        N_("%(bank)s, reference %(reference)s"),
    ),
    (re.compile(r"dispense failed: (?P<why>.+)", re.S), N_("dispense failed: %(why)s")),
    (
        re.compile(r"the gateway refused the refund: (?P<why>.+)", re.S),
        N_("the gateway refused the refund: %(why)s"),
    ),
    (
        re.compile(r"paid after the order was (?P<status>[a-z_]+)"),
        N_("paid after the order was %(status)s"),
    ),
    (
        re.compile(
            r"(?P<method>[a-z_]+) cannot be refunded through the gateway: refund it by hand"
        ),
        N_("%(method)s cannot be refunded through the gateway: refund it by hand"),
    ),
)


def refund_words(text: str | None) -> str:
    """A refund's reason or detail in the page's language, where bayar wrote it."""
    if not text:
        return ""
    if text in REFUND_WORDS:
        return _(REFUND_WORDS[text])
    for pattern, message in REFUND_PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {k: v for k, v in found.groupdict().items() if v is not None}
        rest = values.pop("rest", None)  # a person's own words, as written
        for name in ("why", "note"):
            if name in values:
                values[name] = refund_words(values[name])
        if "status" in values:
            values["status"] = status_name(values["status"])
        if "method" in values:
            values["method"] = method_label(values["method"])
        said = _(message, **values)
        return f"{said}: {rest}" if rest else said
    return text
