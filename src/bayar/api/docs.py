"""`/docs`: Swagger UI served by bayar itself (FastAPI's default page loads it from a CDN and
starts it with an inline script, which bayar's Content-Security-Policy refuses: here the page
loads `docs-init.js`, a file)."""

from __future__ import annotations

from html import escape
from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
INIT = Path(__file__).parent / "static" / "docs-init.js"
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon-32x32.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/bayar-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Needs an app made with `docs_url=None, redoc_url=None`."""

    @app.get(f"{ASSETS}/bayar-init.js", include_in_schema=False)
    async def init() -> FileResponse:
        return FileResponse(
            INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    # After the route above: the mount would answer for every path under it.
    app.mount(ASSETS, StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)), name="docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            PAGE.format(
                assets=ASSETS,
                title=escape(f"{app.title} API"),
                openapi_url=escape(app.openapi_url or "/openapi.json"),
            )
        )
