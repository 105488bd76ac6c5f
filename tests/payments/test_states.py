"""The order lifecycle as data (DESIGN rule 2): the gateways' neutral events as the table's, and
every cell of the transition table through the pure `machine.apply`."""

from __future__ import annotations

import pytest

from bayar.gateways.base import GatewayEvent
from bayar.payments import machine
from bayar.payments.states import FINAL, PAID_LIKE, TRANSITIONS, Event, Status

E, S = Event, Status


def test_every_neutral_gateway_event_is_an_event_of_the_table() -> None:
    """Adapters report `GatewayEvent`s; the core takes each as the event of the same name."""
    assert {e.value for e in GatewayEvent} == {e.value for e in Event} - {E.FULFILLED.value}


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


def test_the_groups_of_a_status() -> None:
    assert {s for s in S if s.is_open} == {S.PENDING, S.REVIEW}
    assert {s for s in S if s.is_paid_like} == PAID_LIKE
    assert {s for s in S if s.is_final} == FINAL
    assert {s for s in S if s.holds_stock} == {s for s in S if s.is_open or s.is_paid_like}
    assert {s for s in S if s.released_stock} == {S.FAILED, S.EXPIRED, S.CANCELLED}
    # An open order is never final, and a final one never holds stock.
    assert not any(s.is_open and s.is_final for s in S)
    assert not any(s.is_final and s.holds_stock for s in S)
