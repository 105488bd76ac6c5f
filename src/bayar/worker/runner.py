"""The worker loop, in-process under `bayar up` or alone as `bayar worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bayar.payments.service import PaymentsService
from bayar.vending.service import VendingService
from bayar.worker.reconcile import reconcile_once

log = logging.getLogger("bayar.worker")


class Worker:
    def __init__(
        self, service: PaymentsService, vending: VendingService, *, interval: float
    ) -> None:
        self.service = service
        self.vending = vending
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await reconcile_once(self.service)
                await self.vending.sweep()
            except Exception:
                # The database or gateway is not there yet: try again on the next tick.
                log.exception("worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="bayar-worker")

    async def stop(self, *, grace: float = 0.0) -> None:
        """Stop after the pass under way, given `grace` seconds (BAYAR_SHUTDOWN_GRACE) to end it:
        a gateway call cut short leaves its outcome unknown for the next worker to ask about."""
        self._stopping.set()
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
