"""Solana off-chain message envelope around a sign-in message.

Hardware wallets (the Ledger Solana app) and `solana sign-offchain-message`
will not sign bare text: they sign the text inside a binary preamble that can
never be mistaken for a transaction. We verify the signature over the whole
envelope and hand the text inside to the usual sign-in checks.

Two version-0 layouts are accepted (offsets in bytes, integers little-endian):

Legacy (agave `solana-offchain-message` crate, the CLI and older Ledger apps):
    0   signing domain  b"\\xffsolana offchain" (16)
    16  header version  0 (1)
    17  message format  (1)
    18  message length  u16 (2)
    20  message

Full (the proposal "Off-chain message signing", docs.anza.xyz/proposals):
    0   signing domain  b"\\xffsolana offchain" (16)
    16  header version  0 (1)
    17  application domain (32)
    49  message format  (1)
    50  signer count    u8, not 0 (1)
    51  signers         32 each
    51+32n  message length u16 (2)
    53+32n  message

Both start alike; each layout must account for every byte exactly, so a buffer
is read as whichever one fits. Should both fit (it takes a contrived
application domain), the envelope is refused as ambiguous rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pourtier.domain.errors import AuthenticationFailed

MessageEncoding = Literal["text", "offchain"]
"""How a sign-in `message` arrives: the text itself, or base64 of an envelope."""
SIGNING_DOMAIN = b"\xffsolana offchain"
ASCII_FORMAT = 0
UTF8_FORMAT = 1
# Formats 0 and 1 exist so that a hardware wallet can show the message: the
# whole envelope fits one packet. Format 2 (extended UTF-8) is refused.
MAX_ENVELOPE_BYTES = 1232
_LEGACY_HEADER = len(SIGNING_DOMAIN) + 4
KEY_BYTES = 32


def _refuse(reason: str) -> AuthenticationFailed:
    return AuthenticationFailed("message_format", reason)


@dataclass(frozen=True)
class OffchainMessage:
    text: str
    message_format: int
    application_domain: bytes | None = None
    signers: tuple[bytes, ...] = ()

    @classmethod
    def parse(cls, signed: bytes) -> OffchainMessage:
        """The envelope as signed, refused unless every byte is accounted for."""
        if not signed.startswith(SIGNING_DOMAIN):
            raise _refuse("off-chain message lacks the Solana signing domain")
        if len(signed) > MAX_ENVELOPE_BYTES:
            raise _refuse(f"off-chain message exceeds {MAX_ENVELOPE_BYTES} bytes")
        if len(signed) <= len(SIGNING_DOMAIN) or signed[len(SIGNING_DOMAIN)] != 0:
            raise _refuse("off-chain message header version must be 0")
        legacy = _legacy(signed)
        full = _full(signed)
        if legacy is not None and full is not None:
            raise _refuse("off-chain message header is ambiguous")
        found = legacy or full
        if found is None:
            raise _refuse("off-chain message header does not match its length")
        message_format, body, application_domain, signers = found
        return cls(
            _text(message_format, body), message_format, application_domain, signers
        )

    def check_signer(self, wallet_key: bytes) -> None:
        """A signer list, when the envelope has one, must name the wallet."""
        if self.application_domain is not None and wallet_key not in self.signers:
            raise AuthenticationFailed(
                "signer", "off-chain message does not list this wallet as a signer"
            )


def parse_offchain(signed: bytes) -> str:
    """The text inside an envelope, for callers with no wallet to check."""
    return OffchainMessage.parse(signed).text


# format, message bytes, application domain (full layout only), signers
_Layout = tuple[int, bytes, bytes | None, tuple[bytes, ...]]


def _length(signed: bytes, at: int) -> int:
    return int.from_bytes(signed[at : at + 2], "little")


def _legacy(signed: bytes) -> _Layout | None:
    if len(signed) <= _LEGACY_HEADER:
        return None
    if _length(signed, _LEGACY_HEADER - 2) != len(signed) - _LEGACY_HEADER:
        return None
    return signed[len(SIGNING_DOMAIN) + 1], signed[_LEGACY_HEADER:], None, ()


def _full(signed: bytes) -> _Layout | None:
    start = len(SIGNING_DOMAIN) + 1
    if len(signed) < start + 34:
        return None
    count = signed[start + 33]
    keys_at = start + 34
    length_at = keys_at + KEY_BYTES * count
    body_at = length_at + 2
    if count == 0 or body_at >= len(signed):
        return None
    if _length(signed, length_at) != len(signed) - body_at:
        return None
    signers = tuple(
        signed[at : at + KEY_BYTES] for at in range(keys_at, length_at, KEY_BYTES)
    )
    return signed[start + 32], signed[body_at:], signed[start : start + 32], signers


def _text(message_format: int, body: bytes) -> str:
    """Format 0 is printable ASCII (0x20-0x7e) only, so it cannot hold the
    sign-in message's line breaks; it is decoded all the same and refused by
    the sign-in layout, one place saying what a sign-in message looks like."""
    if message_format == ASCII_FORMAT:
        if not all(0x20 <= byte <= 0x7E for byte in body):
            raise _refuse("off-chain message is not restricted ASCII")
    elif message_format != UTF8_FORMAT:
        raise _refuse("off-chain message format must be 0 or 1")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("off-chain message is not valid UTF-8") from None
