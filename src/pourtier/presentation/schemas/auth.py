from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from pourtier.domain.auth import NoncePurpose
from pourtier.domain.offchain import MessageEncoding
from pourtier.domain.sign_in_proof import SignedMessage as SignedMessageProof
from pourtier.domain.sign_in_proof import SignedTransaction, SignInProof
from pourtier.presentation.schemas.common import (
    Out,
    RequestBody,
    SignatureText,
    SignedMessage,
    SignedTransactionText,
    WalletAddress,
)
from pourtier.presentation.schemas.users import UserOut


class NonceIn(RequestBody):
    wallet_address: WalletAddress
    method: Literal["message", "transaction"] = Field(
        default="message",
        description="`transaction`: also answer `transaction`, for wallets that "
        "sign transactions only (Ledger).",
    )
    purpose: NoncePurpose = Field(
        default=NoncePurpose.SIGN_IN,
        description=(
            "`sign_in`: for verify, register and login. `link`: for linking "
            "the wallet to the caller's account (`POST /api/users/me/wallets`); "
            "its message has its own statement. A nonce is good for its own "
            "purpose only."
        ),
    )


class NonceOut(BaseModel):
    nonce: str
    message: str = Field(description="The exact text the wallet must sign.")
    issued_at: datetime
    expires_at: datetime
    transaction: str | None = Field(
        default=None,
        description="With `method: transaction`: base64 of an unsigned legacy "
        "transaction, fee payer the wallet, one Memo instruction carrying "
        "`message`, and the all-zero blockhash, so it can never be broadcast. "
        "The wallet signs it and sends it back as `signed_transaction`.",
    )


class SignedIn(RequestBody):
    """A signed sign-in, in one of the forms wallets produce: `message` and
    `signature`, or `signed_transaction` (wallets that sign transactions only)."""

    wallet_address: WalletAddress
    message: SignedMessage | None = None
    signature: SignatureText | None = Field(
        default=None, description="base58 ed25519 signature"
    )
    message_encoding: MessageEncoding = Field(
        default="text",
        description=(
            "`text`: `message` is the sign-in text as signed. `offchain`: "
            "`message` is base64 of a Solana off-chain message envelope "
            "(`\\xffsolana offchain`, version 0) holding that text, as "
            "`solana sign-offchain-message` and hardware wallets sign it."
        ),
    )
    signed_transaction: SignedTransactionText | None = Field(
        default=None,
        description="base64 of the `transaction` from `POST /nonce` with "
        "`method: transaction`, signed by the wallet. Never broadcast.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.signed_transaction is not None:
            if self.message is not None or self.signature is not None:
                raise ValueError(
                    "signed_transaction comes without message and signature"
                )
        elif self.message is None or self.signature is None:
            raise ValueError(
                "message and signature are required (or signed_transaction)"
            )
        return self

    def proof(self) -> SignInProof:
        if self.signed_transaction is not None:
            return SignedTransaction(self.wallet_address, self.signed_transaction)
        assert self.message is not None
        assert self.signature is not None
        return SignedMessageProof(
            self.wallet_address, self.message, self.signature, self.message_encoding
        )


class RegisterIn(SignedIn):
    accepted_document_ids: list[uuid.UUID] = Field(max_length=16)


class VerifyOut(Out):
    valid: bool = True
    wallet_address: str
    user_exists: bool


class TokenOut(Out):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int
    user: UserOut


class RefreshIn(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutAllOut(BaseModel):
    sessions_ended: int


class SessionOut(Out):
    """One of the caller's live sessions (ended ones are not listed)."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When its refresh token was last rotated; null until then "
        "(requests with an access token do not update it)"
    )
    ip_address: str | None
    user_agent: str | None
    current: bool = Field(description="The session of the access token used")
