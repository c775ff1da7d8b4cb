"""/docs and /redoc need nothing but the service: every script, style and
icon they name is served by it (tests/browser/test_api_docs.py renders them
in Chromium with the internet cut off)."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_name_only_files_the_service_serves(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "/openapi.json" in html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    urls += re.findall(r"(?:url|dom_id): *'([^']+)'", html)
    assets = [u for u in urls if u.startswith("/docs-assets/")]
    assert assets, html
    assert not [u for u in urls if "//" in u], "a file from elsewhere"
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


async def test_docs_are_not_api_operations(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
