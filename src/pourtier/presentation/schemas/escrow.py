from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, Field

from pourtier.application.escrow import Prepared
from pourtier.domain.errors import InvalidInput
from pourtier.presentation.schemas.common import Out, RequestBody, Usdc

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


class SubmittedOut(Out):
    # `id` on the transaction it is read from, its own name in an answer read
    # back by the client.
    transaction_id: uuid.UUID = Field(
        validation_alias=AliasChoices("id", "transaction_id")
    )
    signature: str
    status: str


class BalanceOut(Out):
    escrow_account: str
    is_initialized: bool
    balance: Usdc
    allowance_remaining: Usdc
    token_mint: str
    synced_at: datetime


class TransactionOut(Out):
    id: uuid.UUID
    type: str
    amount: Usdc
    status: str
    signature: str | None
    error: str | None
    created_at: datetime
    expires_at: datetime
    submitted_at: datetime | None
    confirmed_at: datetime | None
