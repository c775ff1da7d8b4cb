"""The web console in Chromium: a person's journey from first visit to sign
out, the other ways to sign in, a refusal in the wallet, the legal lock, and
an administrator's KYC decision. Every page is checked with axe-core and
photographed; the page must log no error (the `page` fixture)."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.legal import DocumentType
from tests.browser.console_steps import (
    check_page,
    confirmed,
    funded_escrow,
    go,
    open_console,
    register,
    sign_in,
    signed_up,
)
from tests.helpers import create_user, login
from tests.kyc_helpers import kyc_of, start_manual
from tests.support.browser import ConsoleLog
from tests.support.db import fetch_value
from tests.support.servers import Server
from tests.support.test_wallet import FEATURES, TestWallet

USERS = "SELECT count(*) FROM users"


async def test_journey(page: Page, test_wallet: TestWallet, app_server: Server) -> None:
    await open_console(page, app_server)
    await check_page(page, "sign-in")
    await sign_in(page, test_wallet)
    await register(page, "register")
    assert test_wallet.requests == ["signIn"]  # one step: no connect first
    await expect(page.get_by_text(test_wallet.address)).to_be_visible()
    await page.get_by_label("Display name").fill("Ada")
    await page.get_by_role("button", name="Save profile").click()
    await confirmed(page, "Profile saved.")
    await check_page(page, "account")
    await sessions_refresh_by_themselves(page)

    await funded_escrow(page, "100")
    await page.get_by_label("Withdraw amount (USDC)").fill("0.01")
    await page.get_by_role("button", name="Withdraw", exact=True).click()
    await confirmed(page, "Withdrawal: confirmed.")
    await expect(page.get_by_text("99.990000 USDC", exact=True)).to_be_visible()
    history = page.get_by_role("table", name="Transactions")
    for kind in ("initialize", "deposit", "withdraw"):
        await expect(history).to_contain_text(kind)
    links = history.get_by_role("link")
    await expect(links).to_have_count(3)
    assert "explorer.solana.com/tx/" in (await links.first.get_attribute("href") or "")
    # The reloads left the page without the wallet's accounts: connect first.
    assert test_wallet.requests == [
        "signIn",
        "connect",
        "signTransaction",
        "signTransaction",
        "signTransaction",
    ]
    await check_page(page, "escrow")

    await go(page, "Plans")
    await page.get_by_role("button", name="Subscribe to basic").click()
    await confirmed(page, "Subscribed to basic.")
    await expect(page.get_by_text("You have the basic plan until")).to_be_visible()
    await page.get_by_role("button", name="Upgrade to pro").click()
    await confirmed(page, "Upgraded to pro.")
    await expect(page.get_by_text("You have the pro plan until")).to_be_visible()
    await page.get_by_role("button", name="Switch to basic at period end").click()
    await confirmed(page, "basic is scheduled for the next period.")
    await expect(page.get_by_text(re.compile("^Changes to basic on"))).to_be_visible()
    await page.get_by_role("button", name="Resume").click()
    await confirmed(page, "Resumed: nothing changes at the period's end.")
    await page.get_by_role("button", name="Cancel at period end").click()
    await confirmed(page, "Cancelled: access continues until the period's end.")
    await expect(page.get_by_role("button", name="Resume")).to_be_visible()
    receipts = page.get_by_role("table", name="Receipts")
    await expect(receipts).to_contain_text("pro upgrade")
    await expect(receipts).to_contain_text("basic initial")
    await check_page(page, "plans")
    number = re.compile(r"PT-\d{6}")
    newest = number.search(await receipts.locator("tbody tr").first.inner_text())
    assert newest is not None
    async with page.expect_download() as download:
        await page.get_by_role("button", name=f"Download {newest.group()}").click()
    pdf = await (await download.value).path()
    assert pdf.read_bytes().startswith(b"%PDF")
    assert (await download.value).suggested_filename == f"receipt-{newest.group()}.pdf"

    await go(page, "Notifications")
    await expect(
        page.get_by_role("heading", name=re.compile(r"[1-9]\d* unread"))
    ).to_be_visible()
    await expect(page.get_by_role("link", name=re.compile("unread"))).to_be_visible()
    await check_page(page, "notifications")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(
        page.get_by_role("heading", name=re.compile("^0 unread"))
    ).to_be_visible()
    await expect(page.get_by_role("link", name=re.compile("unread"))).to_have_count(0)

    await login(app_server.client, test_wallet.wallet)  # from another device
    await go(page, "Sessions")
    await expect(page.get_by_text("This session")).to_be_visible()
    sessions = page.get_by_role("table", name="Sessions").locator("tbody tr")
    await expect(sessions).to_have_count(2)
    await check_page(page, "sessions")
    await page.get_by_role("button", name=re.compile("^Revoke")).click()
    await expect(sessions).to_have_count(1)
    await go(page, "Legal")
    await expect(
        page.get_by_text("You have accepted every active document.")
    ).to_be_visible()
    await check_page(page, "legal")

    await page.set_viewport_size({"width": 375, "height": 800})
    await go(page, "Plans")
    await check_page(page, "phone-plans")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    assert (
        await page.evaluate("() => sessionStorage.getItem('pourtier.session')") is None
    )


async def test_sign_in_without_one_step(
    page: Page, browser: Browser, page_log: ConsoleLog, app_server: Server
) -> None:
    """Wallets without `solana:signIn` connect, then sign the message the
    service wrote, or (no `signMessage` either) the sign-in transaction; a
    second sign-in with each goes straight in. Two wallets, two browsers'
    worth of storage (contexts), one server."""
    other = await browser.new_context()
    try:
        for tab, dropped, asked in (
            (page, ("solana:signIn",), ["connect", "signMessage"]),
            (
                await other.new_page(),
                ("solana:signIn", "solana:signMessage"),
                ["connect", "signTransaction"],
            ),
        ):
            page_log.watch(tab)
            wallet = TestWallet(features=tuple(f for f in FEATURES if f not in dropped))
            await wallet.install(tab)
            await signed_up(tab, app_server, wallet)
            assert wallet.requests == asked
            await expect(tab.get_by_text(wallet.address)).to_be_visible()
            if tab is page:  # and the identity check, from the Account page
                await tab.get_by_label("Legal name").fill("Ada Lovelace")
                await tab.get_by_label("Date of birth").fill("1990-12-10")
                await tab.get_by_label("Country").fill("gb")
                await tab.get_by_role("button", name="Submit for review").click()
                await expect(tab.get_by_text("In review")).to_be_visible()

            await tab.get_by_role("button", name="Sign out").click()
            await sign_in(tab, wallet)  # now an account: straight in
            await expect(tab.get_by_role("heading", name="Profile")).to_be_visible()
    finally:
        await other.close()


async def test_refused_signature_shows_why_and_changes_nothing(
    page: Page, test_wallet: TestWallet, app_server: Server, container: Container
) -> None:
    await open_console(page, app_server)
    test_wallet.refuse = True
    await sign_in(page, test_wallet)
    await expect(page.get_by_role("alert")).to_contain_text("User rejected the request")
    assert await fetch_value(container, USERS) == 0
    await check_page(page, "sign-in-refused")

    test_wallet.refuse = False
    await sign_in(page, test_wallet)
    await register(page)
    await go(page, "Escrow")
    test_wallet.refuse = True
    await page.get_by_role("button", name="Initialize escrow").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "The wallet did not sign: User rejected the request. Nothing was sent."
    )
    submitted = "SELECT count(*) FROM escrow_transactions WHERE signature IS NOT NULL"
    assert await fetch_value(container, submitted) == 0
    await page.reload()
    await expect(page.get_by_text("Not opened yet")).to_be_visible()


async def test_new_legal_version_locks_business_pages_until_accepted(
    page: Page, test_wallet: TestWallet, app_server: Server, container: Container
) -> None:
    await signed_up(page, app_server, test_wallet)
    await go(page, "Escrow")
    initialize = page.get_by_role("button", name="Initialize escrow")
    await expect(initialize).to_be_visible()
    await container.legal.publish(
        DocumentType.TERMS_OF_SERVICE, "9.0", "Terms of Service", "New terms."
    )

    # Already on the page: the API's refusal says what to accept.
    await initialize.click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Accept on the Legal page: Terms of Service (version 9.0)"
    )
    assert test_wallet.requests == ["signIn"]  # nothing prepared to sign
    # Going there: the page says why it is locked, and where to go.
    for title in ("Plans", "Escrow"):
        await go(page, title)
        await expect(
            page.get_by_role("heading", name="Escrow and subscriptions are locked")
        ).to_be_visible()
        await expect(page.get_by_text("Terms of Service (version 9.0)")).to_be_visible()
    await check_page(page, "locked")

    await page.get_by_role("link", name="Review and accept").click()
    await page.get_by_role("checkbox", name=re.compile("version 9.0")).check()
    await page.get_by_role("button", name="Accept", exact=True).click()
    await expect(
        page.get_by_text("You have accepted every active document.")
    ).to_be_visible()
    await go(page, "Escrow")
    await expect(page.get_by_role("button", name="Initialize escrow")).to_be_visible()


async def test_admin_approves_a_kyc_submission(
    page: Page, test_wallet: TestWallet, app_server: Server, container: Container
) -> None:
    applicant = await create_user(app_server.client, Wallet())
    await start_manual(app_server.client, applicant, legal_name="Ada Applicant")
    await signed_up(page, app_server, test_wallet)
    navigation = page.get_by_role("navigation")
    await expect(navigation.get_by_role("link", name="Admin")).to_have_count(0)
    await container.admin.grant(Actor.cli(), test_wallet.address)

    await page.reload()
    await go(page, "Admin")
    queue = page.get_by_role("table", name="Cases in review")
    await queue.get_by_role("button", name=re.compile("^Review")).click()
    await expect(page.get_by_text("Ada Applicant")).to_be_visible()
    await check_page(page, "admin")
    await page.get_by_role("button", name="Record the decision").click()
    await confirmed(page, "is verified")
    await expect(page.get_by_text("No cases in review yet.")).to_be_visible()
    assert (await kyc_of(app_server.client, applicant))["status"] == "verified"

    hook = page.get_by_role("form", name="Add a webhook")
    await hook.get_by_label("Endpoint URL").fill("ftp://127.0.0.1/hook")
    await hook.get_by_role("button", name="Add webhook").click()
    await expect(hook.get_by_role("alert")).to_contain_text("URL is http(s)://")
    await hook.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/console-hook")
    await hook.get_by_role("button", name="Add webhook").click()
    await confirmed(page, "Its signing secret, shown this once: whsec_")
    await expect(page.get_by_role("table", name="Webhook endpoints")).to_contain_text(
        "http://127.0.0.1:9/console-hook"
    )

    await page.get_by_label("Wallet, email or user id").fill(
        applicant["user"]["wallet_address"][:8]
    )
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("table", name="Users found")).to_contain_text(
        "verified"
    )


SESSION = "JSON.parse(sessionStorage.getItem('pourtier.session'))"


async def sessions_refresh_by_themselves(page: Page) -> None:
    """Before the access token expires, and after a 401 (here: a token the
    service never issued), the console rotates its refresh token and carries
    on; the person notices nothing."""
    first = await page.evaluate(f"() => {SESSION}.refresh")
    await page.evaluate(
        f"() => sessionStorage.setItem('pourtier.session', JSON.stringify("
        f"{{...{SESSION}, expiresAt: Date.now()}}))"
    )
    await page.reload()
    await page.wait_for_function(f"(old) => {SESSION}.refresh !== old", arg=first)
    second = await page.evaluate(f"() => {SESSION}.refresh")
    await page.evaluate(
        f"() => sessionStorage.setItem('pourtier.session', JSON.stringify("
        f"{{...{SESSION}, access: 'not.a.token'}}))"
    )
    await page.reload()
    await expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    assert await page.evaluate(f"() => {SESSION}.refresh") not in (first, second)
