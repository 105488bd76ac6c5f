"""Request-level dependencies: the app context and admin authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bayar.context import AppContext, context_of

bearer = HTTPBearer(auto_error=False, description="BAYAR_ADMIN_TOKEN")


async def context(request: Request) -> AppContext:
    return context_of(request)


Context = Annotated[AppContext, Depends(context)]


async def require_admin(
    ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    expected = ctx.settings.bayar_admin_token
    if expected is None or not expected.get_secret_value():
        raise HTTPException(401, "the admin API is disabled: set BAYAR_ADMIN_TOKEN")
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise HTTPException(
            401, "a valid admin token is required", headers={"WWW-Authenticate": "Bearer"}
        )
