"""Faults on demand, for drills and tests: each one applies to the next N calls or notifications."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

API_FAULTS = ("api_error", "api_hang")
NOTIFICATION_FAULTS = ("duplicate", "out_of_order", "drop", "delay")
KINDS = API_FAULTS + NOTIFICATION_FAULTS


@dataclass
class Fault:
    kind: str
    remaining: int
    status: int = 500  # api_error: the HTTP status to answer
    seconds: float = (
        30.0  # api_hang: how long to hang; delay: how late to deliver (sandbox seconds)
    )
    copies: int = 2  # duplicate: how many times the notification is delivered


class Faults:
    def __init__(self) -> None:
        self._armed: list[Fault] = []

    def arm(self, fault: Fault) -> None:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault {fault.kind!r}; one of {', '.join(KINDS)}")
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        if fault.kind == "api_error" and not 500 <= fault.status <= 599:
            raise ValueError("api_error status must be a 5xx code")
        if fault.seconds < 0:
            raise ValueError("seconds must not be negative")
        if fault.copies < 2:
            raise ValueError("duplicate copies must be at least 2")
        self._armed.append(fault)

    def take(self, kinds: tuple[str, ...]) -> Fault | None:
        """The oldest armed fault among `kinds`, consuming one of its uses."""
        for fault in self._armed:
            if fault.kind in kinds and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._armed.remove(fault)
                return fault
        return None

    def armed(self, kinds: tuple[str, ...]) -> bool:
        """Whether a fault among `kinds` waits, without taking it."""
        return any(fault.kind in kinds and fault.remaining > 0 for fault in self._armed)

    def clear(self) -> None:
        self._armed.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self._armed]
