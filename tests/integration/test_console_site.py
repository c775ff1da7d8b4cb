"""The console is served beside the API without shadowing any of it."""

from __future__ import annotations

import httpx

from pourtier.presentation.console_site import CSP


async def test_console_page_and_files(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert '<script type="module" src="/console/js/app.js">' in page.text
    script = await client.get("/console/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    config = (await client.get("/console/config.json")).json()
    # The test container has a local chain: the faucet route is mounted.
    assert config["faucet"] is True
    assert (await client.post("/api/dev/faucet", json={})).status_code == 422
    assert (await client.get("/console/nothing.js")).status_code == 404


async def test_console_shadows_no_other_route(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/nothing")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not Found"}
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "Pourtier"
    assert "/" not in (await client.get("/openapi.json")).json()["paths"]
    for path in ("/docs", "/redoc", "/metrics"):
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get("/api/subscriptions/plans")).status_code == 200
