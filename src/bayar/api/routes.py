"""All API routers, each route declaring the errors any route can give (one shape: `Problem`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bayar.api import admin, catalog, ops, orders, payments, public_config
from bayar.api.schemas import Problem

# What the input guard (bayar.inputs) and the error handlers (api.errors) may answer on any route.
# A route's own declaration of a status wins; declaring 422 here also keeps FastAPI from adding its
# list-shaped HTTPValidationError, which no answer of bayar has.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the JSON body is nested too deeply"},
    413: {"model": Problem, "description": "the body is too large"},
    422: {
        "model": Problem,
        "description": "a field is missing or invalid, or a NUL character or an over-long string",
    },
    500: {"model": Problem, "description": "an unexpected error; the request may be retried"},
}


def router() -> APIRouter:
    api = APIRouter()
    for part in (
        payments.router,
        orders.router,
        catalog.router,
        public_config.router,
        admin.router,
        ops.router,
    ):
        api.include_router(part, responses=COMMON_ERRORS)
    return api
