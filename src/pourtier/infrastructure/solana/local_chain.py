"""The local chain's set-up: a test USDC mint, a treasury and a fee authority
bootstrapped on a LiteSVM node, their keys kept in the data directory, and a
faucet. Test SOL and USDC exist only here, never on a real cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    initialize_mint,
    mint_to,
)
from spl.token.models import InitializeMintParams, MintToParams

from pourtier.domain.escrow import (
    ChainRejected,
    Commitment,
)
from pourtier.domain.money import USDC_DECIMALS
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from pourtier.infrastructure.solana.files import write_atomically
from pourtier.infrastructure.solana.local import LiteSvmNode
from pourtier.infrastructure.solana.rpc import transaction_error_text
from pourtier.infrastructure.solana.token_accounts import MINT_SIZE

LAMPORTS_PER_SOL = 1_000_000_000
FEE_PAYER_FLOAT = 10 * LAMPORTS_PER_SOL


class Faucet(Protocol):
    """Test SOL and USDC for a wallet, on a local chain only (two adapters:
    in process, and over the local chain's JSON-RPC)."""

    async def fund(self, wallet: Pubkey, usdc_units: int, lamports: int) -> None: ...


class LocalChain:
    """Bootstraps a test USDC mint, treasury and fee authority; hands out funds."""

    def __init__(self, node: LiteSvmNode, keys: dict[str, Keypair]) -> None:
        self.node = node
        self.keys = keys
        self.mint = keys["mint"].pubkey()
        self.treasury = get_associated_token_address(
            keys["treasury"].pubkey(), self.mint
        )

    @classmethod
    def open(
        cls, state_dir: Path | None, fee_authority: Keypair | None = None
    ) -> LocalChain:
        node = LiteSvmNode(state_dir)
        keys = load_or_create_keys(state_dir, fee_authority)
        chain = cls(node, keys)
        if node.svm.get_account(chain.mint) is None:
            chain._bootstrap()
        elif not node.svm.get_balance(keys["fee_authority"].pubkey()):
            # A fee authority configured after bootstrap still needs fee money.
            chain.airdrop(keys["fee_authority"].pubkey(), FEE_PAYER_FLOAT)
        return chain

    def escrow_chain(self) -> SolanaEscrowChain:
        return SolanaEscrowChain(
            self.node, self.mint, self.keys["fee_authority"], self.treasury
        )

    def _send(self, signers: list[Keypair], instructions: list[Any]) -> None:
        payer = signers[0]
        blockhash, _ = self.node.current_blockhash()
        message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
        state = self.node.submit(bytes(Transaction(signers, message, blockhash)))
        if state.commitment is not Commitment.FINALIZED:
            raise ChainRejected(f"local chain set-up failed: {state.error}")

    def airdrop(self, pubkey: Pubkey, lamports: int) -> str:
        """Mint lamports to an address; returns the airdrop's signature."""
        # LiteSVM signs airdrops with its own blockhash, which never moves by
        # itself: without a fresh one a second equal airdrop is a duplicate
        # transaction and silently gives nothing.
        self.node.svm.expire_blockhash()
        result = self.node.svm.airdrop(pubkey, lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise ChainRejected(
                f"airdrop failed: {transaction_error_text(result.err())}"
            )
        self.node.track(pubkey)
        self.node.save()
        return str(result.signature())

    def _bootstrap(self) -> None:
        authority = self.keys["mint_authority"]
        self.airdrop(authority.pubkey(), FEE_PAYER_FLOAT)
        self.airdrop(self.keys["fee_authority"].pubkey(), FEE_PAYER_FLOAT)
        rent = self.node.svm.minimum_balance_for_rent_exemption(MINT_SIZE)
        self._send(
            [authority, self.keys["mint"]],
            [
                create_account(
                    CreateAccountParams(
                        from_pubkey=authority.pubkey(),
                        to_pubkey=self.mint,
                        lamports=rent,
                        space=MINT_SIZE,
                        owner=TOKEN_PROGRAM_ID,
                    )
                ),
                initialize_mint(
                    InitializeMintParams(
                        decimals=USDC_DECIMALS,
                        program_id=TOKEN_PROGRAM_ID,
                        mint=self.mint,
                        mint_authority=authority.pubkey(),
                    )
                ),
                create_idempotent_associated_token_account(
                    authority.pubkey(), self.keys["treasury"].pubkey(), self.mint
                ),
            ],
        )

    async def fund(self, wallet: Pubkey, usdc_units: int, lamports: int) -> None:
        self.faucet(wallet, usdc_units, lamports)

    def faucet(self, wallet: Pubkey, usdc_units: int, lamports: int) -> None:
        """Fund a wallet with SOL for fees and test USDC in its token account."""
        if lamports:
            self.airdrop(wallet, lamports)
        if usdc_units:
            authority = self.keys["mint_authority"]
            self._send([authority], mint_instructions(self.keys, wallet, usdc_units))
        self.node.save()


def mint_instructions(
    keys: dict[str, Keypair], wallet: Pubkey, usdc_units: int
) -> list[Instruction]:
    """Test USDC into the wallet's token account, created if needed; signed by
    the mint authority, which also pays."""
    authority, mint = keys["mint_authority"].pubkey(), keys["mint"].pubkey()
    return [
        create_idempotent_associated_token_account(authority, wallet, mint),
        mint_to(
            MintToParams(
                program_id=TOKEN_PROGRAM_ID,
                mint=mint,
                dest=get_associated_token_address(wallet, mint),
                mint_authority=authority,
                amount=usdc_units,
            )
        ),
    ]


KEY_NAMES = ("mint", "mint_authority", "treasury", "fee_authority")


def load_or_create_keys(
    state_dir: Path | None, fee_authority: Keypair | None
) -> dict[str, Keypair]:
    path = state_dir / "keys.json" if state_dir else None
    stored: dict[str, str] = {}
    if path is not None and path.exists():
        stored = json.loads(path.read_text())
    keys = {
        name: Keypair.from_base58_string(stored[name]) if name in stored else Keypair()
        for name in KEY_NAMES
    }
    if fee_authority is not None:
        keys["fee_authority"] = fee_authority
    if path is not None and not stored:
        path.parent.mkdir(parents=True, exist_ok=True)  # a client may come first
        write_atomically(
            path,
            json.dumps({name: str(key) for name, key in keys.items()}),
            mode=0o600,
        )
    return keys
