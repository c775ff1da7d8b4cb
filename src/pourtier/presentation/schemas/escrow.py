from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from pourtier.application.escrow import EscrowBalance, Prepared, Submitted
from pourtier.domain.errors import InvalidInput
from pourtier.domain.escrow import EscrowTransaction
from pourtier.domain.money import format_usdc
from pourtier.presentation.schemas.common import RequestBody

UsdcText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="USDC as a decimal string, at most 6 decimals: '12.5'",
        examples=["25.00"],
    ),
]
# Base64 of a transaction of at most 1232 bytes is 1644 characters.
MAX_TRANSACTION_BASE64 = 2048


def decode_transaction(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("signed_transaction must be base64") from None


class InitializeIn(RequestBody):
    allowance: UsdcText | None = Field(
        default=None,
        description="Cap on what the fee authority may charge; default: "
        "twelve months of the Pro price.",
    )


class AmountIn(RequestBody):
    amount: UsdcText


class SubmitIn(RequestBody):
    transaction_id: uuid.UUID
    signed_transaction: str = Field(
        min_length=1,
        max_length=MAX_TRANSACTION_BASE64,
        description="The prepared transaction, signed by the wallet, base64.",
    )


class PreparedOut(BaseModel):
    transaction_id: uuid.UUID
    transaction: str = Field(
        description="Unsigned transaction, base64; the wallet is the fee payer."
    )
    escrow_account: str
    expires_at: datetime

    @classmethod
    def of(cls, prepared: Prepared) -> PreparedOut:
        t = prepared.transaction
        assert t.prepared_transaction is not None  # prepared here, so never None
        return cls(
            transaction_id=t.id,
            transaction=base64.b64encode(t.prepared_transaction).decode("ascii"),
            escrow_account=prepared.escrow_account,
            expires_at=t.expires_at,
        )


class SubmittedOut(BaseModel):
    transaction_id: uuid.UUID
    signature: str
    status: str

    @classmethod
    def of(cls, submitted: Submitted) -> SubmittedOut:
        return cls(
            transaction_id=submitted.transaction_id,
            signature=submitted.signature,
            status=submitted.status.value,
        )


class BalanceOut(BaseModel):
    escrow_account: str
    is_initialized: bool
    balance: str
    allowance_remaining: str
    token_mint: str
    synced_at: datetime

    @classmethod
    def of(cls, balance: EscrowBalance) -> BalanceOut:
        return cls(
            escrow_account=balance.escrow_account,
            is_initialized=balance.is_initialized,
            balance=format_usdc(balance.balance),
            allowance_remaining=format_usdc(balance.allowance_remaining),
            token_mint=balance.token_mint,
            synced_at=balance.synced_at,
        )


class TransactionOut(BaseModel):
    id: uuid.UUID
    type: str
    amount: str
    status: str
    signature: str | None
    error: str | None
    created_at: datetime
    expires_at: datetime
    submitted_at: datetime | None
    confirmed_at: datetime | None

    @classmethod
    def of(cls, t: EscrowTransaction) -> TransactionOut:
        return cls(
            id=t.id,
            type=t.type.value,
            amount=format_usdc(t.amount),
            status=t.status.value,
            signature=t.signature,
            error=t.error,
            created_at=t.created_at,
            expires_at=t.expires_at,
            submitted_at=t.submitted_at,
            confirmed_at=t.confirmed_at,
        )
