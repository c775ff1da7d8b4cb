"""The chain's wiring: a JSON-RPC node and the addresses the escrow program
works with (a part of the composition root, kept beside container.py)."""

from __future__ import annotations

from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from pourtier.config import Settings
from pourtier.infrastructure.solana import localnet
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from pourtier.infrastructure.solana.local_chain import (
    Faucet,
    LocalChain,
    load_or_create_keys,
)
from pourtier.infrastructure.solana.rpc import RpcNode


def fee_authority(settings: Settings) -> Keypair | None:
    secret = settings.FEE_AUTHORITY_KEYPAIR
    return Keypair.from_base58_string(secret.get_secret_value()) if secret else None


def _address(name: str, value: str) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise ValueError(f"{name} is not a Solana address") from None


def build_chain(
    settings: Settings, local_chain: LocalChain | None = None
) -> tuple[SolanaEscrowChain, Faucet | None]:
    """JSON-RPC to SOLANA_RPC_URL when set; else JSON-RPC to the local chain
    of the data directory (`pourtier localnet`, which `serve` and `worker`
    start or join). Tests pass `local_chain` to run LiteSVM in process."""
    if settings.SOLANA_RPC_URL:
        authority = fee_authority(settings)
        mint, treasury = settings.USDC_MINT, settings.TREASURY_TOKEN_ACCOUNT
        if authority is None or not mint or not treasury:
            required = {
                "FEE_AUTHORITY_KEYPAIR": authority,
                "USDC_MINT": mint,
                "TREASURY_TOKEN_ACCOUNT": treasury,
            }
            missing = ", ".join(name for name, value in required.items() if not value)
            raise ValueError(f"SOLANA_RPC_URL is set, so {missing} must be set too")
        chain = SolanaEscrowChain(
            RpcNode(settings.SOLANA_RPC_URL),
            mint=_address("USDC_MINT", mint),
            fee_authority=authority,
            treasury=_address("TREASURY_TOKEN_ACCOUNT", treasury),
        )
        return chain, None
    if local_chain is not None:
        return local_chain.escrow_chain(), local_chain
    chain_dir = Path(settings.POURTIER_DATA_DIR) / "chain"
    keys = load_or_create_keys(chain_dir, fee_authority(settings))
    # Not running yet (a CLI command that never touches the chain): calls
    # fail as ChainUnavailable until it is started.
    url = localnet.running_url(chain_dir) or (
        f"http://127.0.0.1:{settings.LOCALNET_PORT or localnet.DEFAULT_PORT}"
    )
    node = RpcNode(url)
    chain = SolanaEscrowChain(
        node,
        mint=keys["mint"].pubkey(),
        fee_authority=keys["fee_authority"],
        treasury=get_associated_token_address(
            keys["treasury"].pubkey(), keys["mint"].pubkey()
        ),
    )
    return chain, localnet.LocalnetFaucet(node, keys)
