"""Pure application of an event to a status, by the table in `states`."""

from __future__ import annotations

from dataclasses import dataclass

from bayar.payments.states import TRANSITIONS, Event, Status


class InvalidTransition(Exception):
    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"no transition for {event.value} in {status.value}")
        self.status = status
        self.event = event


@dataclass(frozen=True)
class Outcome:
    before: Status
    after: Status
    event: Event
    ignored: bool  # a late or stale event, recorded and not acted on

    @property
    def changed(self) -> bool:
        return not self.ignored and self.after != self.before

    @property
    def repeat(self) -> bool:
        """The order already says this: nothing to change and nothing to record."""
        return not self.ignored and self.after == self.before


def apply(status: Status, event: Event) -> Outcome:
    if (status, event) not in TRANSITIONS:
        raise InvalidTransition(status, event)
    target = TRANSITIONS[(status, event)]
    if target is None:
        return Outcome(status, status, event, ignored=True)
    return Outcome(status, target, event, ignored=False)
