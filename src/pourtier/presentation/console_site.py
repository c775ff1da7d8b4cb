"""The web console: static files served by the service itself, beside the API.

The page is plain HTML, CSS and ES modules (no build step), so `make run`
serves a working product. It lives outside `/api`, `/docs`, `/redoc`,
`/openapi.json`, `/metrics` and `/health`: `/` is its page, `/console/` its
files, and `/console/config.json` what the page cannot learn from the API
without provoking an error (whether the faucet exists, the explorer's links).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from pourtier.di.container import Container
from pourtier.domain.receipts import explorer_url

CONSOLE = Path(__file__).with_name("console")
SIGNATURE = "SIGNATURE"
"""Stands for a transaction's signature in the explorer link template."""
# The page sends nothing but to its own origin, runs only its own modules and
# is framed by no one; wallets inject themselves as extensions, unaffected.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def mount_console(app: FastAPI, container: Container, *, faucet: bool) -> None:
    """Serve the console at `/` and its files under `/console/`."""
    settings = container.settings
    explorer = explorer_url(
        settings.SOLANA_CLUSTER, SIGNATURE, rpc_url=settings.SOLANA_RPC_URL
    )
    config: dict[str, object] = {
        "faucet": faucet,
        "explorer": explorer,
        "cluster": settings.SOLANA_CLUSTER,
    }

    async def index() -> FileResponse:
        return FileResponse(
            CONSOLE / "index.html", headers={"Content-Security-Policy": CSP}
        )

    async def console_config() -> dict[str, object]:
        return config

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/console/config.json", console_config, methods=["GET"], include_in_schema=False
    )
    app.mount("/console", StaticFiles(directory=CONSOLE), name="console")
