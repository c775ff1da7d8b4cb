"""SPL Token account layout (165 bytes), decoded without extra dependencies."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

TOKEN_ACCOUNT_SIZE = 165
MINT_SIZE = 82


@dataclass(frozen=True)
class TokenAccount:
    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    delegated_amount: int
    initialized: bool


def decode_token_account(data: bytes) -> TokenAccount:
    if len(data) < TOKEN_ACCOUNT_SIZE:
        raise ValueError("not an SPL token account")
    mint = Pubkey.from_bytes(data[0:32])
    owner = Pubkey.from_bytes(data[32:64])
    (amount,) = struct.unpack_from("<Q", data, 64)
    (delegate_tag,) = struct.unpack_from("<I", data, 72)
    delegate = Pubkey.from_bytes(data[76:108]) if delegate_tag == 1 else None
    state = data[108]
    (delegated_amount,) = struct.unpack_from("<Q", data, 121)
    return TokenAccount(
        mint=mint,
        owner=owner,
        amount=amount,
        delegate=delegate,
        delegated_amount=delegated_amount if delegate else 0,
        initialized=state != 0,
    )


def mint_decimals(data: bytes) -> int:
    """A mint's decimals: after its authority option (36 bytes) and supply (8)."""
    if len(data) < MINT_SIZE:
        raise ValueError("not an SPL mint")
    return data[44]
