"""Core errors as HTTP answers: a clear message and the right status, never a 500."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bayar.payments.errors import PaymentError


async def _payment_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PaymentError)
    return JSONResponse({"detail": exc.message}, status_code=exc.http_status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PaymentError, _payment_error)
