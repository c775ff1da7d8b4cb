"""/docs and /redoc render in Chromium with every request off this machine
refused, as on a laptop without the internet."""

from __future__ import annotations

from playwright.async_api import Page, Route

from tests.support.browser import ConsoleLog, screenshot
from tests.support.servers import Server


async def offline(page: Page, server: Server) -> list[str]:
    """Refuse every request not to the served app; the list of refused ones."""
    refused: list[str] = []

    async def cut(route: Route) -> None:
        if route.request.url.startswith(server.url + "/"):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort("internetdisconnected")

    await page.route("**/*", cut)
    return refused


async def test_swagger_ui_lists_the_operations_offline(
    page: Page, page_log: ConsoleLog, app_server: Server
) -> None:
    refused = await offline(page, app_server)
    await page.goto(app_server.url + "/docs")
    operations = page.locator(".opblock")
    await operations.first.wait_for()
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/auth/nonce" in [p.strip().replace("\u200b", "") for p in paths]
    assert await operations.count() > 20
    await screenshot(page, "api-docs-swagger", full_page=False)
    assert refused == []


# ReDoc's one request elsewhere: the logo beside "API docs by Redocly" at the
# foot of its menu, an <img> it hides itself when it fails to load.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


async def test_redoc_renders_offline(
    page: Page, page_log: ConsoleLog, app_server: Server
) -> None:
    refused = await offline(page, app_server)
    page_log.expect(f"request failed: GET {REDOC_LOGO}")
    page_log.expect(f"Failed to load resource: .*{REDOC_LOGO}")
    await page.goto(app_server.url + "/redoc")
    heading = page.locator("h1", has_text="Pourtier")
    await heading.first.wait_for()
    await page.get_by_text("/api/auth/nonce").first.wait_for(state="attached")
    await page.locator("img[alt='redocly logo']").wait_for(state="detached")
    await screenshot(page, "api-docs-redoc", full_page=False)
    assert refused == [REDOC_LOGO]
    assert page_log.expected == []
