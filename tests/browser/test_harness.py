"""The browser harness itself: Chromium opens a page of the served app, the
test wallet registers through the Wallet Standard's events, an app in the
page finds it and has it connect and sign, and what it signed verifies here;
the console watch, screenshots and axe-core do what the other tests rely on."""

from __future__ import annotations

import base64

import pytest
from playwright.async_api import Error, Page
from solders.hash import Hash
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from tests.support.browser import ConsoleLog, axe_violations, screenshot
from tests.support.servers import Server
from tests.support.test_wallet import FEATURES, TestWallet

HARNESS_PATH = "/__harness__"
# An app's side of the handshake, as `getWallets()` does it: listen for
# wallets registering, then say the app is ready to those already there.
APP = """
const wallets = [];
const api = { register: (...found) => { wallets.push(...found); return () => {}; } };
addEventListener("wallet-standard:register-wallet", (event) => event.detail(api));
window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: api }));
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
window.harness = {
  wallets,
  describe: () => wallets.map((w) => ({
    name: w.name, version: w.version, icon: w.icon, chains: [...w.chains],
    features: Object.keys(w.features),
  })),
  async connect() {
    const { accounts } = await wallets[0].features["standard:connect"].connect();
    return accounts.map((a) => ({ address: a.address, publicKey: [...a.publicKey] }));
  },
  async signMessage(text) {
    const wallet = wallets[0];
    const [account] = wallet.accounts;
    const message = new TextEncoder().encode(text);
    const [out] = await wallet.features["solana:signMessage"].signMessage(
      { account, message });
    return { signature: b64(out.signature), signedMessage: b64(out.signedMessage) };
  },
  async signTransaction(transaction) {
    const wallet = wallets[0];
    const [account] = wallet.accounts;
    const [out] = await wallet.features["solana:signTransaction"].signTransaction(
      { account, transaction: unb64(transaction), chain: "solana:localnet" });
    return b64(out.signedTransaction);
  },
  async register() {
    const call = async (path, body) => {
      const response = await fetch(path, {
        method: body === undefined ? "GET" : "POST",
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    const documents = (await call("/api/legal/documents")).body;
    const nonce = (await call("/api/auth/nonce", {})).body;
    const [out] = await wallets[0].features["solana:signIn"].signIn(
      nonce.sign_in_input);
    return await call("/api/auth/register", {
      output: {
        address: out.account.address,
        signed_message: b64(out.signedMessage),
        signature: b64(out.signature),
      },
      accepted_document_ids: documents.map((d) => d.id),
    });
  },
};
"""
PIXEL = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harness</title></head>
<body><main><h1>Harness</h1><p>The browser harness's own page.</p></main>
<script type="module">{APP}</script></body></html>"""


async def open_harness(page: Page, server: Server, html: str = PAGE) -> None:
    """A page of the served app's origin (so it can call the API as the
    console will), whose document the test gives."""
    await page.route(
        server.url + HARNESS_PATH,
        lambda route: route.fulfill(content_type="text/html", body=html),
    )
    await page.goto(server.url + HARNESS_PATH)
    await page.wait_for_function("() => window.harness !== undefined")


async def test_app_finds_the_wallet_which_connects_and_signs(
    page: Page, test_wallet: TestWallet, app_server: Server
) -> None:
    await open_harness(page, app_server)

    [found] = await page.evaluate("() => harness.describe()")
    assert found["name"] == test_wallet.name
    assert found["version"] == "1.0.0"
    assert found["icon"].startswith("data:image/svg+xml;base64,")
    assert "solana:localnet" in found["chains"]
    assert sorted(found["features"]) == sorted(FEATURES)

    [account] = await page.evaluate("() => harness.connect()")
    assert account["address"] == test_wallet.address
    assert bytes(account["publicKey"]) == bytes(test_wallet.keypair.pubkey())

    signed = await page.evaluate("(t) => harness.signMessage(t)", "hello, Pourtier")
    signature = Signature.from_bytes(base64.b64decode(signed["signature"]))
    assert signature.verify(test_wallet.keypair.pubkey(), b"hello, Pourtier")
    assert test_wallet.requests == ["connect", "signMessage"]


async def test_sign_in_text_is_what_the_service_accepts(
    page: Page, test_wallet: TestWallet, app_server: Server
) -> None:
    await open_harness(page, app_server)
    registered = await page.evaluate("() => harness.register()")
    assert registered["status"] == 201, registered
    assert registered["body"]["user"]["wallet_address"] == test_wallet.address


async def test_wallet_signs_a_transaction_in_its_slot(
    page: Page, test_wallet: TestWallet, app_server: Server
) -> None:
    payer = test_wallet.keypair.pubkey()
    instruction = transfer(
        TransferParams(from_pubkey=payer, to_pubkey=Pubkey.new_unique(), lamports=1)
    )
    message = Message.new_with_blockhash([instruction], payer, Hash.new_unique())
    raw = bytes(Transaction.new_unsigned(message))
    await open_harness(page, app_server)
    await page.evaluate("() => harness.connect()")

    out = await page.evaluate("(t) => harness.signTransaction(t)", _b64(raw))

    signed = VersionedTransaction.from_bytes(base64.b64decode(out))
    assert signed.message == VersionedTransaction.from_bytes(raw).message
    assert signed.verify_with_results() == [True]


async def test_refusing_wallet_rejects_with_an_error(
    page: Page, test_wallet: TestWallet, app_server: Server
) -> None:
    await open_harness(page, app_server)
    await page.evaluate("() => harness.connect()")
    test_wallet.refuse = True
    with pytest.raises(Error, match="User rejected the request"):
        await page.evaluate("() => harness.signMessage('no')")
    assert test_wallet.signed == []
    assert test_wallet.requests == ["connect", "signMessage"]


async def test_wallet_features_are_the_tests_choice(
    page: Page, app_server: Server
) -> None:
    without_sign_in = tuple(f for f in FEATURES if f != "solana:signIn")
    await TestWallet(name="No Sign-In", features=without_sign_in).install(page)
    await open_harness(page, app_server)
    [found] = await page.evaluate("() => harness.describe()")
    assert found["name"] == "No Sign-In"
    assert sorted(found["features"]) == sorted(without_sign_in)


async def test_wallet_registers_with_an_app_already_listening(
    page: Page, app_server: Server
) -> None:
    """The other order of the handshake: the app listens before the wallet
    announces itself (its init script runs first)."""
    await page.add_init_script(
        "window.early = [];"
        "window.addEventListener('wallet-standard:register-wallet', (event) =>"
        " event.detail({ register: (w) => { window.early.push(w.name); } }));"
    )
    wallet = TestWallet(name="Early")
    await wallet.install(page)
    await open_harness(page, app_server)
    assert await page.evaluate("() => window.early") == ["Early"]


async def test_console_errors_are_recorded_and_fail_the_test(
    page: Page, page_log: ConsoleLog, app_server: Server
) -> None:
    await open_harness(page, app_server)
    await page.evaluate("() => console.error('something broke')")
    await page.evaluate("() => setTimeout(() => { throw new Error('uncaught') })")
    await page.wait_for_timeout(100)
    assert any("something broke" in e for e in page_log.errors), page_log.errors
    assert any("uncaught" in e for e in page_log.errors), page_log.errors
    with pytest.raises(AssertionError, match="something broke"):
        page_log.assert_clean()
    page_log.errors.clear()  # the teardown check passes: this test made them

    page_log.expect("declared on purpose")
    await page.evaluate("() => console.error('declared on purpose')")
    await page.evaluate("() => console.warn('only a warning')")
    status = await page.evaluate("async () => (await fetch('/api/users/me')).status")
    assert status == 401
    await page.wait_for_timeout(100)
    assert page_log.errors == []
    assert any("only a warning" in w for w in page_log.warnings)
    assert any("401" in e for e in page_log.client_errors), page_log.client_errors


async def test_screenshot_and_axe(page: Page, app_server: Server) -> None:
    broken = PAGE.replace("<h1>", f'<img src="data:image/gif;base64,{PIXEL}"><h1>')
    await open_harness(page, app_server, broken)
    violations = await axe_violations(page)
    assert [v["id"] for v in violations] == ["image-alt"], violations

    await open_harness(page, app_server)
    assert await axe_violations(page) == []
    path = await screenshot(page, "harness")
    assert path.read_bytes().startswith(b"\x89PNG")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
