"""All API routers."""

from __future__ import annotations

from fastapi import APIRouter

from bayar.api import catalog, ops, orders, payments


def router() -> APIRouter:
    api = APIRouter()
    for part in (payments.router, orders.router, catalog.router, ops.router):
        api.include_router(part)
    return api
