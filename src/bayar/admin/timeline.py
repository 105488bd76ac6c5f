"""An order's technical timeline on its admin page: status changes, every notification received
(its raw body and headers, cut and with secrets left out) and every call to the gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from bayar.admin.views import aware, refund_words, status_kind, status_name
from bayar.i18n import _
from bayar.payments.reads import OrderDetails
from bayar.storage.snapshots import EventSnapshot, GatewayCallSnapshot, NotificationSnapshot

HIDDEN_HEADERS = ("authorization", "cookie", "proxy-authorization")
# A raw body on the order page: its first 2 KB (whatever was received), pretty-printed only when
# it is small enough for that to be cheap; header names and values cut likewise.
BODY_SHOWN = 2048
BODY_PRETTY = 16 * 1024
HEADER_SHOWN = 300
# What became of a notification (payments/inbox.py's outcomes) as a badge colour.
OUTCOME_KIND = {
    "applied": "ok",
    "no_change": "off",
    "ignored": "off",
    "unconfirmed": "warn",
    "not_confirmed": "warn",
    "confirming": "warn",
    "unknown_order": "warn",
    "amount_mismatch": "bad",
    "bad_signature": "bad",
    "malformed": "bad",
}


@dataclass
class Entry:
    at: datetime
    kind: str  # status | notification | gateway
    title: str
    badge: str = ""
    badge_kind: str = "off"
    source: str = ""
    note: str | None = None
    ignored: bool = False
    signature_valid: bool | None = None
    body: str | None = None
    body_more: int = 0  # bytes of the body not shown
    headers: list[tuple[str, str]] = field(default_factory=list)
    rank: int = 0


def pretty_json(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=False)
    except (ValueError, RecursionError):
        return raw


def shown_body(raw: str) -> tuple[str, int]:
    """A raw body as the order page shows it: pretty-printed when it is small JSON, cut to its
    first BODY_SHOWN characters; and how many bytes (UTF-8) were left out."""
    text = pretty_json(raw) if len(raw) <= BODY_PRETTY else raw
    if len(text) <= BODY_SHOWN:
        return text, 0
    return text[:BODY_SHOWN], len(text[BODY_SHOWN:].encode("utf-8", "replace"))


def _history(event: EventSnapshot) -> Entry:
    if event.from_status is None:
        title = _("Order created: %(status)s", status=status_name(event.to_status))
    elif event.ignored:
        title = _(
            "%(event)s ignored (stays %(status)s)",
            event=event.event,
            status=status_name(event.to_status),
        )
    else:
        title = f"{status_name(event.from_status)} → {status_name(event.to_status)}"
    return Entry(
        at=aware(event.at),
        kind="status",
        title=title,
        badge=event.to_status,
        badge_kind="off" if event.ignored else status_kind(event.to_status),
        source=f"{event.event} · {event.source}",
        note=refund_words(event.note) or None,  # a refund's words, where it records one
        ignored=event.ignored,
        rank=event.id,
    )


def _notification(note: NotificationSnapshot) -> Entry:
    body, more = shown_body(note.body)
    headers = sorted(
        (name[:HEADER_SHOWN], str(value)[:HEADER_SHOWN])
        for name, value in note.headers.items()
        if name.lower() not in HIDDEN_HEADERS
    )
    return Entry(
        at=aware(note.received_at),
        kind="notification",
        title=_("Notification: %(status)s", status=note.transaction_status or _("unknown status")),
        badge=note.outcome,
        badge_kind=OUTCOME_KIND.get(note.outcome, "off"),
        source="webhook",
        signature_valid=note.signature_valid,
        body=body,
        body_more=more,
        headers=headers,
        rank=note.id,
    )


def _gateway_call(call: GatewayCallSnapshot) -> Entry:
    kinds = {"ok": "ok", "rejected": "bad", "unavailable": "warn", "not_found": "warn"}
    return Entry(
        at=aware(call.at),
        kind="gateway",
        title=_("Gateway call: %(operation)s", operation=call.operation),
        badge=call.outcome,
        badge_kind=kinds.get(call.outcome, "off"),
        source=f"{call.duration_ms} ms",
        note=call.detail,
        rank=call.id,
    )


def timeline(details: OrderDetails) -> list[Entry]:
    """Status changes, every notification received and every gateway call, oldest first."""
    entries = [_history(e) for e in details.history]
    entries += [_notification(n) for n in details.notifications]
    entries += [_gateway_call(c) for c in details.gateway_calls]
    order = {"gateway": 0, "notification": 1, "status": 2}
    return sorted(entries, key=lambda e: (e.at, order[e.kind], e.rank))
