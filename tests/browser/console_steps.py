"""Steps of the console's browser tests, as a person takes them: by the
labels and roles on the page, never by CSS selectors, so a step that passes
is one a screen reader user can take too."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.support.browser import axe_violations, screenshot
from tests.support.servers import Server
from tests.support.test_wallet import TestWallet

CHAIN_TIMEOUT_MS = 30_000  # a transaction: prepare, sign, submit, finalize


async def check_page(page: Page, name: str) -> None:
    """The page as it is now: no serious or critical axe-core violation, and
    its screenshot (tests/browser/screenshots/console-<name>.png)."""
    violations = await axe_violations(page)
    assert violations == [], [(v["id"], v["help"], v["nodes"]) for v in violations]
    await screenshot(page, f"console-{name}")


async def open_console(page: Page, server: Server) -> None:
    await page.goto(server.url + "/")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()


async def sign_in(page: Page, wallet: TestWallet) -> None:
    """Choose the wallet on the sign-in page (it signs, or refuses)."""
    await page.get_by_role("button", name=f"Sign in with {wallet.name}").click()


async def register(page: Page, name: str | None = None) -> None:
    """A new wallet: accept every document shown and create the account."""
    create = page.get_by_role("button", name="Accept and create my account")
    await expect(create).to_be_visible()
    if name:
        await check_page(page, name)
    for box in await page.get_by_role("checkbox").all():
        await box.check()
    await create.click()
    await expect(page.get_by_role("heading", name="Profile")).to_be_visible()


async def signed_up(page: Page, server: Server, wallet: TestWallet) -> None:
    """A new account made in the console, on its Account page."""
    await open_console(page, server)
    await sign_in(page, wallet)
    await register(page)


async def go(page: Page, title: str) -> None:
    """Follow the main menu to a page and wait for its heading."""
    await page.get_by_role("navigation").get_by_role("link", name=title).click()
    await expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()


async def confirmed(page: Page, text: str) -> None:
    """The status message an action ends with (a transaction's: when final)."""
    await expect(page.get_by_role("status").filter(has_text=text)).to_be_visible(
        timeout=CHAIN_TIMEOUT_MS
    )


async def funded_escrow(page: Page, deposit: str) -> None:
    """On the Escrow page: test funds from the faucet, the escrow opened, and
    `deposit` USDC put in, each signed by the wallet and followed until final."""
    await go(page, "Escrow")
    await page.get_by_role("button", name="Get test funds").click()
    await confirmed(page, "Your wallet now holds 1000.000000 USDC")
    await page.get_by_role("button", name="Initialize escrow").click()
    await confirmed(page, "Escrow initialized: confirmed.")
    await page.get_by_label("Deposit amount (USDC)").fill(deposit)
    await page.get_by_role("button", name="Deposit", exact=True).click()
    await confirmed(page, "Deposit: confirmed.")
