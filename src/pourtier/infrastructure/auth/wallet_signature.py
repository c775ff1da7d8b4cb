"""ed25519 wallet signatures, checked with solders (Solana's own key types)."""

from __future__ import annotations

from solders.pubkey import Pubkey
from solders.signature import Signature

from pourtier.domain.auth import MAX_SIGNATURE_CHARS
from pourtier.domain.base58 import b58decode
from pourtier.domain.errors import AuthenticationFailed


class Ed25519SignatureVerifier:
    def verify(self, wallet_address: str, message: bytes, signature: str) -> None:
        if len(signature) > MAX_SIGNATURE_CHARS:
            raise AuthenticationFailed("signature_size", "signature is too long")
        try:
            raw = b58decode(signature)
        except ValueError:
            raise AuthenticationFailed(
                "signature_format", "signature must be base58"
            ) from None
        if len(raw) != 64:
            raise AuthenticationFailed("signature_format", "signature must be 64 bytes")
        try:
            pubkey = Pubkey.from_string(wallet_address)
        except ValueError:
            raise AuthenticationFailed("address", "wallet_address is invalid") from None
        if not Signature(raw).verify(pubkey, message):
            raise AuthenticationFailed(
                "signature", "signature does not match the wallet and message"
            )
