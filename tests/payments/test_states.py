"""The order lifecycle as data (DESIGN rule 2): Midtrans' statuses as events, and every cell of the
transition table through the pure `machine.apply`."""

from __future__ import annotations

import pytest

from bayar.payments import machine
from bayar.payments.states import FINAL, PAID_LIKE, TRANSITIONS, Event, Status, gateway_event

E, S = Event, Status

# Midtrans' transaction_status + fraud_status (reference 3.8) -> event.
GATEWAY_EVENTS = [
    ("pending", None, E.PAYMENT_PENDING),
    ("authorize", "accept", E.PAYMENT_PENDING),
    ("settlement", None, E.PAYMENT_SUCCEEDED),
    ("settlement", "accept", E.PAYMENT_SUCCEEDED),
    ("settlement", "", E.PAYMENT_SUCCEEDED),
    ("capture", "accept", E.PAYMENT_SUCCEEDED),
    ("capture", None, E.PAYMENT_SUCCEEDED),
    ("capture", "challenge", E.PAYMENT_CHALLENGED),
    ("capture", "deny", E.PAYMENT_DENIED),
    ("deny", "deny", E.PAYMENT_DENIED),
    ("deny", "accept", E.PAYMENT_DENIED),
    ("failure", None, E.PAYMENT_DENIED),
    ("expire", None, E.PAYMENT_EXPIRED),
    ("cancel", None, E.PAYMENT_CANCELLED),
    ("cancel", "accept", E.PAYMENT_CANCELLED),
    ("refund", "accept", E.REFUNDED),
    ("chargeback", None, E.REFUNDED),
    ("partial_refund", "accept", E.PARTIALLY_REFUNDED),
    ("partial_chargeback", None, E.PARTIALLY_REFUNDED),
    ("unknown_status", None, None),
    ("", None, None),
    ("SETTLEMENT", None, None),  # Midtrans' values are lower case; anything else is unknown
]


@pytest.mark.parametrize(("transaction_status", "fraud_status", "event"), GATEWAY_EVENTS)
def test_gateway_event_maps_every_midtrans_status(
    transaction_status: str, fraud_status: str | None, event: Event | None
) -> None:
    assert gateway_event(transaction_status, fraud_status) == event


# The whole table, written out. Columns are the events in this order; a cell is the status after,
# "=" for "stays, applied", "-" for "recorded and ignored" (a late or stale event), "x" for "not in
# the table: a bug, raises".
COLUMNS = [
    E.PAYMENT_PENDING,
    E.PAYMENT_CHALLENGED,
    E.PAYMENT_SUCCEEDED,
    E.PAYMENT_DENIED,
    E.PAYMENT_EXPIRED,
    E.PAYMENT_CANCELLED,
    E.PARTIALLY_REFUNDED,
    E.REFUNDED,
    E.FULFILLED,
]
TABLE = """
pending            =  review  paid  failed expired cancelled partially_refunded refunded  x
review             -  =       paid  failed expired cancelled partially_refunded refunded  x
paid               -  -       =     -      -       cancelled partially_refunded refunded  fulfilled
fulfilled          -  -       -     -      -       -         partially_refunded refunded  =
partially_refunded -  -       -     -      -       -         =                  refunded  -
refunded           -  -       -     -      -       -         -                  =         -
failed             -  -       -     =      -       -         -                  -         -
expired            -  -       -     -      =       -         -                  -         -
cancelled          -  -       -     -      -       =         -                  -         -
"""
EXPECTED: dict[tuple[Status, Event], str] = {
    (S(row[0]), event): cell
    for row in (line.split() for line in TABLE.strip().splitlines())
    for event, cell in zip(COLUMNS, row[1:], strict=True)
}


def test_the_expected_table_covers_every_status_and_event() -> None:
    assert set(EXPECTED) == {(s, e) for s in Status for e in Event}
    assert {key for key, cell in EXPECTED.items() if cell != "x"} == set(TRANSITIONS)


# Sorted outside the decorator: inside it, mypy types the cells by parametrize's `object`.
CELLS = sorted(EXPECTED, key=lambda k: (k[0].value, k[1].value))


@pytest.mark.parametrize(("status", "event"), CELLS)
def test_apply_follows_the_table(status: Status, event: Event) -> None:
    cell = EXPECTED[(status, event)]

    if cell == "x":
        with pytest.raises(machine.InvalidTransition, match=f"no transition for {event.value}"):
            machine.apply(status, event)
        return
    outcome = machine.apply(status, event)

    assert (outcome.before, outcome.event) == (status, event)
    if cell == "-":
        assert (outcome.after, outcome.ignored, outcome.changed) == (status, True, False)
    elif cell == "=":
        assert (outcome.after, outcome.ignored, outcome.changed) == (status, False, False)
    else:
        assert (outcome.after, outcome.ignored, outcome.changed) == (S(cell), False, True)


def test_a_repeated_event_is_no_change() -> None:
    for (status, event), target in TRANSITIONS.items():
        if target is None:
            continue
        again = machine.apply(target, event)
        assert not again.changed, (status, event, target)
        assert again.after == target


@pytest.mark.parametrize("status", sorted(FINAL))
def test_final_states_never_move(status: Status) -> None:
    for event in Event:
        assert machine.apply(status, event).after == status


def test_late_payment_events_are_ignored_once_paid() -> None:
    late = (E.PAYMENT_PENDING, E.PAYMENT_CHALLENGED, E.PAYMENT_DENIED, E.PAYMENT_EXPIRED)
    for status in PAID_LIKE:
        for event in late:
            outcome = machine.apply(status, event)
            assert outcome.ignored, (status, event)
            assert outcome.after == status, (status, event)


def test_nothing_moves_back_to_an_earlier_status() -> None:
    for (status, _event), target in TRANSITIONS.items():
        if target is None or target == status:
            continue
        assert target not in (S.PENDING, S.REVIEW) or status == S.PENDING, (status, target)
        if status in PAID_LIKE:
            assert target not in (S.PAID, S.REVIEW, S.FAILED, S.EXPIRED), (status, target)
        if status == S.PARTIALLY_REFUNDED:
            assert target == S.REFUNDED


def test_money_states_are_the_paid_ones() -> None:
    assert frozenset({S.PAID, S.FULFILLED, S.PARTIALLY_REFUNDED}) == PAID_LIKE
    assert frozenset({S.FAILED, S.EXPIRED, S.CANCELLED, S.REFUNDED}) == FINAL
