"""`/docs`: Swagger UI served by bayar itself (FastAPI's default page loads it from a CDN and
starts it with an inline script, which bayar's Content-Security-Policy refuses: here the page
loads `docs-init.js`, a file).

FastAPI writes OpenAPI 3.1, which Swagger UI reads from 5.0 on (4.x answers "Unable to render this
definition"): the files come from the pinned `swagger-ui-py` wheel (Swagger UI 5), served from
its `static` folder. The package itself is never imported: only its files are used.

Unlike bayar's pages, `/docs` is in English whatever the reader's language, and says so in
`<html lang>`: it is Swagger UI's page (its own words are English) showing `/openapi.json`, the
API's reference, which is one document for every reader: code generators and clients read it,
caches keep it, and its field names and operations are English like the APIs of the gateways
it sits between. People who pay or run a shop read the shop, the admin and the kiosk, which
follow their language."""

from __future__ import annotations

from html import escape
from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
INIT = Path(__file__).parent / "static" / "docs-init.js"


def swagger_ui_files() -> Path:
    """The folder of Swagger UI's files in the installed `swagger-ui-py` (found without running it)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: pip install -e . installs it")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


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
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_files()), name="docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            PAGE.format(
                assets=ASSETS,
                title=escape(f"{app.title} API"),
                openapi_url=escape(app.openapi_url or "/openapi.json"),
            )
        )
