"""Schema building blocks shared by every domain's schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from pourtier.domain.errors import InvalidInput
from pourtier.domain.money import format_usdc
from pourtier.domain.users import validate_wallet_address


def _wallet(value: str) -> str:
    try:
        return validate_wallet_address(value)
    except InvalidInput as error:
        raise ValueError(error.detail) from None


# Documented for clients (and fuzzers); the validator gives the friendly error.
BASE58_PATTERN = "^[1-9A-HJ-NP-Za-km-z]+$"
WalletAddress = Annotated[
    str,
    Field(min_length=32, max_length=44, json_schema_extra={"pattern": BASE58_PATTERN}),
    AfterValidator(_wallet),
]
SignedMessage = Annotated[str, Field(min_length=1, max_length=4096)]
SignatureText = Annotated[str, Field(min_length=1, max_length=256)]
SignedTransactionText = Annotated[str, Field(min_length=1, max_length=1644)]
"""base64 of at most 1,232 bytes, the most a Solana transaction may hold."""


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields: a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    detail: str


class Out(BaseModel):
    """Responses are read from the attributes of what a use case returns.

    The domain's objects carry the fields under the same names, so a response
    is `SomeOut.model_validate(obj)`, with no field list written twice.
    """

    model_config = ConfigDict(from_attributes=True)


def _usdc_text(value: int | str) -> str:
    return value if isinstance(value, str) else format_usdc(value)


Usdc = Annotated[
    str,
    BeforeValidator(_usdc_text),
    Field(description="USDC as a decimal string: '12.5'"),
]
"""An amount held in base units, answered in USDC; an answer read back (by
`pourtier.client`) is already that text, kept as it is."""
