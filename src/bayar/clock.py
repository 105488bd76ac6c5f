"""bayar's one clock. Every "now" of a process comes from the `Clock` its composition root
(`bayar.app.build_context`) hands each service and edge; tests hand a fake one they move on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# An aware datetime (UTC) each time it is called.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
