"""The API docs pages, /docs (Swagger UI) and /redoc (ReDoc), with their
scripts, styles and icon served by the service itself: FastAPI's default
pages load them from a CDN, so on a machine without the internet they stay
blank. The files come from the `fastapi-offline` package (a dependency, so
`make run` needs no Node.js and nothing third-party lives in this repository).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

ASSETS_PATH = "/docs-assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))


def _page(
    app: FastAPI,
    render: Callable[..., HTMLResponse],
    name: str,
    file_of: dict[str, str],
    **options: bool,
) -> Callable[[Request], Awaitable[HTMLResponse]]:
    """A docs page: `render` (FastAPI's) given the schema's URL and, for each
    of its URL arguments in `file_of`, our copy of the file."""

    async def endpoint(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        urls = {key: f"{root}{ASSETS_PATH}/{file}" for key, file in file_of.items()}
        return render(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - {name}",
            **urls,
            **options,
        )

    return endpoint


def install_api_docs(app: FastAPI) -> None:
    """The pages and their files, after every API route (FastAPI itself
    puts its docs first, so every request would be matched against them);
    the app is built with `docs_url=None, redoc_url=None`."""
    swagger_ui = _page(
        app,
        get_swagger_ui_html,
        "Swagger UI",
        {
            "swagger_js_url": "swagger-ui-bundle.js",
            "swagger_css_url": "swagger-ui.css",
            "swagger_favicon_url": "favicon.png",
        },
    )
    redoc = _page(
        app,
        get_redoc_html,
        "ReDoc",
        {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"},
        with_google_fonts=False,
    )
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
