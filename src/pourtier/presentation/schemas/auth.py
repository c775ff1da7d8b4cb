from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from pourtier.domain.offchain import MessageEncoding
from pourtier.domain.sign_in import NoncePurpose
from pourtier.domain.sign_in_proof import SignedMessage as SignedMessageProof
from pourtier.domain.sign_in_proof import (
    SignedTransaction,
    SignInProof,
    WalletStandardOutput,
)
from pourtier.presentation.schemas.common import (
    Out,
    RequestBody,
    SignatureText,
    SignedMessage,
    SignedTransactionText,
    WalletAddress,
)
from pourtier.presentation.schemas.users import UserOut


def _absent(value: object) -> bool:
    return value is None


class NonceIn(RequestBody):
    wallet_address: WalletAddress | None = Field(
        default=None,
        description="The wallet signing in, if known; without it the nonce "
        "goes to whichever wallet first uses it (Wallet Standard `signIn`). "
        "Required with `method: transaction` and `purpose: link`.",
    )
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

    @model_validator(mode="after")
    def _wallet_when_needed(self) -> Self:
        if self.wallet_address is None:
            if self.method == "transaction":
                raise ValueError("wallet_address is required with method transaction")
            if self.purpose == NoncePurpose.LINK:
                raise ValueError("wallet_address is required with purpose link")
        return self


class SignInInputOut(BaseModel):
    """A Wallet Standard `SolanaSignInInput`: pass it to `signIn` as it is.
    Its strings are exactly those the server compares."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        serialize_by_alias=True,
        validate_by_name=True,
        from_attributes=True,
    )

    domain: str
    address: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="Present when the nonce was asked for a wallet",
    )
    statement: str
    uri: str
    version: str
    chain_id: str
    nonce: str
    issued_at: str
    expiration_time: str


class NonceOut(BaseModel):
    nonce: str
    message: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="The exact text the wallet must sign; present when "
        "`wallet_address` was given.",
    )
    sign_in_input: SignInInputOut
    issued_at: datetime
    expires_at: datetime
    transaction: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="With `method: transaction`: base64 of an unsigned legacy "
        "transaction, fee payer the wallet, one Memo instruction carrying "
        "`message`, and the all-zero blockhash, so it can never be broadcast. "
        "The wallet signs it and sends it back as `signed_transaction`.",
    )


class WalletStandardOutputIn(RequestBody):
    """A `solana:signIn` output as the wallet returned it."""

    address: WalletAddress
    signed_message: SignedMessage = Field(
        description="base64 of the bytes signed: the sign-in text, or a Solana "
        "off-chain message envelope holding it"
    )
    signature: SignatureText = Field(description="ed25519 signature, base58 or base64")

    def proof(self) -> WalletStandardOutput:
        return WalletStandardOutput(self.address, self.signed_message, self.signature)


_FORMS = {
    "message": ("wallet_address", "message", "signature"),
    "transaction": ("wallet_address", "signed_transaction"),
    "output": ("output",),
}
"""Each form a signed sign-in comes in, by its required fields."""
_SHARED = {"wallet_address"}
"""Required by more than one form, so it tells none of them apart."""
_OPTIONAL = {"message_encoding": "message"}
"""Optional fields, by the form they belong to."""


class SignedIn(RequestBody):
    """A signed sign-in in exactly one form: the message as signed
    (`wallet_address`, `message`, `signature`, optionally `message_encoding`),
    a signed sign-in transaction (`wallet_address`, `signed_transaction`), or a
    Wallet Standard `signIn` output (`output`)."""

    wallet_address: WalletAddress | None = None
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
    output: WalletStandardOutputIn | None = Field(
        default=None, description="A Wallet Standard `solana:signIn` output"
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        self.form()
        return self

    def form(self) -> str:
        """The one form given, all its required fields present and no field
        of another form (`wallet_address` belongs to two of them)."""
        given = {
            form
            for form, names in _FORMS.items()
            if self.model_fields_set.intersection(names) - _SHARED
        } | {_OPTIONAL[name] for name in self.model_fields_set & _OPTIONAL.keys()}
        if len(given) != 1:
            forms = " or ".join(", ".join(names) for names in _FORMS.values())
            raise ValueError(f"give exactly one of: {forms}")
        (form,) = given
        for name in _FORMS[form]:
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required with {', '.join(_FORMS[form])}")
        for name in (self.model_fields_set & _SHARED).difference(_FORMS[form]):
            raise ValueError(f"{name} is not given with {', '.join(_FORMS[form])}")
        return form

    def proof(self) -> SignInProof:
        form = self.form()
        if form == "output" and self.output is not None:
            return self.output.proof()
        if form == "transaction" and self.signed_transaction is not None:
            return SignedTransaction(self.wallet_address or "", self.signed_transaction)
        return SignedMessageProof(
            self.wallet_address or "",
            self.message or "",
            self.signature or "",
            self.message_encoding,
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
