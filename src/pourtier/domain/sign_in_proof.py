"""What a wallet hands over to prove a sign-in, in each form wallets produce.

Wallets sign in different ways: the bare text, the text inside Solana's
off-chain envelope (hardware wallets), Wallet Standard's `signIn` output, a
transaction carrying the text. Every form comes down to the same three things,
`Opened`: the bytes the wallet's key signed, the sign-in text they carry, and
the signature. From there the checks (what the text says, whose signature,
the nonce) are one path for all of them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Protocol

from pourtier.domain.base58 import b58decode, b58encode
from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.offchain import SIGNING_DOMAIN, MessageEncoding, OffchainMessage
from pourtier.domain.sign_in_transaction import open_sign_in_transaction


@dataclass(frozen=True)
class Opened:
    signed: bytes
    """The bytes the signature is over, exactly as the wallet signed them."""
    text: str
    """The sign-in message those bytes carry."""
    signature: str
    """base58, as the signature verifier takes it."""


class SignInProof(Protocol):
    """One form of signed sign-in; `opened` refuses a malformed one."""

    @property
    def wallet_address(self) -> str: ...

    def opened(self) -> Opened: ...


@dataclass(frozen=True)
class SignedMessage:
    """`message` is the text as signed, or base64 of an off-chain envelope."""

    wallet_address: str
    message: str
    signature: str
    encoding: MessageEncoding = "text"

    def opened(self) -> Opened:
        if self.encoding == "text":
            return Opened(self.message.encode("utf-8"), self.message, self.signature)
        signed = strict_b64decode(
            self.message, "message_format", "an off-chain message"
        )
        return Opened(
            signed, open_envelope(self.wallet_address, signed), self.signature
        )


@dataclass(frozen=True)
class SignedTransaction:
    """The sign-in transaction the service issued, signed by the wallet
    (base64 wire format); see `sign_in_transaction`. Never broadcast."""

    wallet_address: str
    signed_transaction: str

    def opened(self) -> Opened:
        raw = strict_b64decode(self.signed_transaction, "transaction", "transaction")
        message, text, signature = open_sign_in_transaction(self.wallet_address, raw)
        return Opened(message, text, b58encode(signature))


def open_envelope(wallet_address: str, signed: bytes) -> str:
    """The sign-in text inside an off-chain envelope the wallet signed."""
    envelope = OffchainMessage.parse(signed)
    envelope.check_signer(b58decode(wallet_address))
    return envelope.text


def strict_b64decode(text: str, reason: str, name: str) -> bytes:
    """Canonical base64 only: the decoder alone lets stray padding through,
    so two spellings of one value would pass."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode() != text:
        raise AuthenticationFailed(reason, f"{name} must be base64")
    return raw


@dataclass(frozen=True)
class WalletStandardOutput:
    """A `solana:signIn` output: `signed_message` is base64 of the bytes the
    wallet signed (the text, or an off-chain envelope holding it), and the
    signature base58 or base64, as wallets and their adapters hand it on."""

    wallet_address: str
    signed_message: str
    signature: str

    def opened(self) -> Opened:
        signed = strict_b64decode(
            self.signed_message, "message_format", "signed_message"
        )
        if signed.startswith(SIGNING_DOMAIN):
            text = open_envelope(self.wallet_address, signed)
        else:
            try:
                text = signed.decode("utf-8")
            except UnicodeDecodeError:
                raise AuthenticationFailed(
                    "message_format", "signed_message is not UTF-8 text"
                ) from None
        return Opened(signed, text, _base58_signature(self.signature))


def _base58_signature(signature: str) -> str:
    """64 bytes in base64 are exactly the 88 characters ending in '=='; base58
    has no '=', so the two cannot be confused. Base58 goes on as it is (the
    verifier checks it)."""
    if not (len(signature) == 88 and signature.endswith("==")):
        return signature
    return b58encode(strict_b64decode(signature, "signature_format", "signature"))
