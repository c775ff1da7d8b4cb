"""The test wallet's Python side: the keypair, what it signs, and whether it
refuses. The page gets a Wallet Standard wallet (test_wallet.js) that asks
this object for every signature, so the key never enters the page."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Page
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from pourtier.client.wallet import Wallet

SCRIPT = Path(__file__).with_name("test_wallet.js")
BINDING = "__pourtierTestWallet"
FEATURES = (
    "standard:connect",
    "standard:disconnect",
    "standard:events",
    "solana:signIn",
    "solana:signMessage",
    "solana:signTransaction",
)
CHAINS = ("solana:localnet", "solana:devnet", "solana:mainnet")
# A plain square: wallets must have an image data URI as their icon.
ICON = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
        b'<rect width="32" height="32" fill="#345"/></svg>'
    ).decode()
)


@dataclass
class TestWallet:
    """A browser wallet the test holds: `features` are fixed when it is
    installed in a page; `refuse` may change at any time (every request is
    then rejected, as by a person pressing Reject). `requests` lists the kinds
    asked (connect, signIn, signMessage, signTransaction), refused or not;
    `signed` the messages it signed."""

    __test__ = False

    wallet: Wallet = field(default_factory=Wallet)
    name: str = "Pourtier Test Wallet"
    features: tuple[str, ...] = FEATURES
    refuse: bool = False
    requests: list[str] = field(default_factory=list)
    signed: list[bytes] = field(default_factory=list)

    @property
    def keypair(self) -> Keypair:
        return self.wallet.keypair

    @property
    def address(self) -> str:
        return self.wallet.address

    async def install(self, page: Page) -> None:
        """Register the wallet in every document `page` loads from now on
        (call before `page.goto`)."""
        unknown = set(self.features) - set(FEATURES)
        assert not unknown, f"the test wallet has no {sorted(unknown)}"
        config = {
            "name": self.name,
            "icon": ICON,
            "address": self.address,
            "publicKey": list(bytes(self.keypair.pubkey())),
            "chains": list(CHAINS),
            "features": list(self.features),
            "binding": BINDING,
        }
        await page.expose_binding(BINDING, self._answer)
        source = SCRIPT.read_text().replace(
            "__POURTIER_TEST_WALLET__", json.dumps(config)
        )
        await page.add_init_script(source)

    async def _answer(
        self, _source: dict[str, Any], kind: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        self.requests.append(kind)
        if self.refuse:
            return {"refused": True}
        if kind == "connect":
            return {}
        if kind in ("signIn", "signMessage"):
            message = base64.b64decode(payload["message"])
            self.signed.append(message)
            signature = bytes(self.keypair.sign_message(message))
            return {"signature": base64.b64encode(signature).decode()}
        if kind == "signTransaction":
            raw = base64.b64decode(payload["transaction"])
            signed = self.sign_transaction(raw)
            return {"signedTransaction": base64.b64encode(signed).decode()}
        raise AssertionError(f"the test wallet was asked {kind!r}")

    def sign_transaction(self, raw: bytes) -> bytes:
        """`raw` (wire format, legacy or v0) with this wallet's signature in
        its slot; the other signatures stay as they came."""
        transaction = VersionedTransaction.from_bytes(raw)
        message = transaction.message
        keys = list(message.account_keys)
        slot = keys.index(self.keypair.pubkey())
        assert slot < message.header.num_required_signatures, "not a signer"
        signatures = list(transaction.signatures)
        signatures[slot] = self.keypair.sign_message(to_bytes_versioned(message))
        return bytes(VersionedTransaction.populate(message, signatures))
