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

    async def run(self) -> None:
        while True:
            try:
                await reconcile_once(self.service)
                await self.vending.sweep()
            except Exception:
                # The database or gateway is not there yet: try again on the next tick.
                log.exception("worker pass failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="bayar-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
