"""`/kiosk/{machine_id}` (the kiosk page) and `/ws/kiosk/{machine_id}` (its WebSocket)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bayar import i18n
from bayar.context import context_of
from bayar.kiosk import hub

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"
WORDS = "kiosk/static/js/translations.js"  # where the catalog's kiosk messages are used


def router() -> APIRouter:
    api = APIRouter(tags=["kiosk"])

    @api.get("/kiosk/{machine_id}", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, machine_id: str) -> HTMLResponse:
        # An unknown or disabled machine gets the kiosk page too (404): it shows "out of service"
        # from its socket's close code and comes back by itself once the machine exists again.
        ctx = context_of(request)
        found = await ctx.vending.machine(machine_id) is not None
        # A kiosk starts in the language of its address (`?lang=en`) or BAYAR_DEFAULT_LANGUAGE,
        # not its browser's: the customer in front of it switches on the screen.
        lang = (
            i18n.supported(request.query_params.get(i18n.QUERY))
            or ctx.settings.bayar_default_language
        )
        return TEMPLATES.TemplateResponse(
            request,
            "kiosk.html",
            {
                "machine_id": machine_id,
                "token": request.query_params.get("token", ""),
                "ws_path": f"/ws/kiosk/{machine_id}",
                "lang": lang,
                "static_base": "/kiosk/static",
                # Both languages: the screen switches without a reload.
                "words": {code: i18n.catalog_json(code, WORDS) for code in i18n.LANGUAGES},
            },
            status_code=200 if found else 404,
        )

    @api.websocket("/ws/kiosk/{machine_id}")
    async def socket(websocket: WebSocket, machine_id: str) -> None:
        ctx = context_of(websocket)
        await hub.serve(ctx, ctx.vending, websocket, machine_id)

    return api
