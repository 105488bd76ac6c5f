"""Core errors as HTTP answers: a clear message and the right status, never a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from bayar.payments.errors import PaymentError
from bayar.storage.db import lost_connection

log = logging.getLogger("bayar.api")


async def _payment_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PaymentError)
    return JSONResponse({"detail": exc.message}, status_code=exc.http_status)


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not lost_connection(exc):
        raise exc
    # The database dropped the pool's connections (it restarted). The pool is renewed, so the
    # same request again (with its Idempotency-Key, which makes a retry safe) will work.
    log.warning("database connection lost; the request may be retried")
    return JSONResponse(
        {"detail": "the database connection was lost; retry the request"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(PaymentError, _payment_error)
    app.add_exception_handler(DBAPIError, _database_error)
