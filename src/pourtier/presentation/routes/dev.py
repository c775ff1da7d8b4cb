"""Development helpers on the local chain. Never mounted in production."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from solders.pubkey import Pubkey

from pourtier.di.container import Container
from pourtier.domain.errors import InvalidInput
from pourtier.domain.money import UNITS_PER_USDC, format_usdc, parse_usdc
from pourtier.infrastructure.solana.local_chain import LAMPORTS_PER_SOL
from pourtier.presentation.deps import ContainerDep
from pourtier.presentation.schemas.dev import FaucetIn, FaucetOut

router = APIRouter(prefix="/api/dev", tags=["development"])

FAUCET_LAMPORTS = LAMPORTS_PER_SOL
FAUCET_MAX_USDC = 1_000_000 * UNITS_PER_USDC


def enabled(container: Container) -> bool:
    """Mounted only outside production, and only with the local chain."""
    return container.settings.ENV != "production" and container.faucet is not None


@router.post("/faucet")
async def faucet(body: FaucetIn, container: ContainerDep) -> FaucetOut:
    """Give a wallet 1 SOL for fees and rent, and `amount` test USDC."""
    faucet = container.faucet
    if faucet is None:  # pragma: no cover - the router is not mounted then
        raise HTTPException(404, "Not Found")
    units = parse_usdc(body.amount)
    if units > FAUCET_MAX_USDC:
        raise InvalidInput(f"amount is at most {format_usdc(FAUCET_MAX_USDC)}")
    await faucet.fund(Pubkey.from_string(body.wallet_address), units, FAUCET_LAMPORTS)
    balance = await container.chain.wallet_usdc_balance(body.wallet_address)
    return FaucetOut(
        wallet_address=body.wallet_address,
        amount=format_usdc(units),
        lamports=FAUCET_LAMPORTS,
        usdc_balance=format_usdc(balance),
    )
