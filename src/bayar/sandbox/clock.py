"""Sandbox time: real time, sped up by a scale and moved forward on demand (tests, drills)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class SandboxClock:
    def __init__(self, scale: float = 1.0, wall: Callable[[], float] = time.time) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self._wall = wall
        self._scale = scale
        self._origin_real = wall()
        self._origin_sandbox = self._origin_real
        self._listeners: list[Callable[[], None]] = []

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        now = self.timestamp()
        self._origin_real = self._wall()
        self._origin_sandbox = now
        self._scale = scale
        self._changed()

    def timestamp(self) -> float:
        return self._origin_sandbox + (self._wall() - self._origin_real) * self._scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._origin_sandbox += seconds
        self._changed()

    def real_seconds_until(self, sandbox_ts: float) -> float:
        return max(0.0, (sandbox_ts - self.timestamp()) / self._scale)

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
