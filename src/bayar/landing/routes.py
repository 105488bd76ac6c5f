from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def router(*, sandbox_path: str | None) -> APIRouter:
    api = APIRouter()

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "landing.html", {"sandbox_path": sandbox_path})

    return api
