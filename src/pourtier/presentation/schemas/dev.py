from __future__ import annotations

from pydantic import BaseModel

from pourtier.presentation.schemas.common import RequestBody, WalletAddress
from pourtier.presentation.schemas.escrow import UsdcText


class FaucetIn(RequestBody):
    wallet_address: WalletAddress
    amount: UsdcText


class FaucetOut(BaseModel):
    wallet_address: str
    amount: str
    lamports: int
    usdc_balance: str
