"""The user's escrow. Mounted behind the legal-compliance gate (see app.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from pourtier.domain.escrow import TransactionType
from pourtier.domain.money import parse_usdc
from pourtier.presentation.deps import ContainerDep, CurrentAuth
from pourtier.presentation.responses import errors
from pourtier.presentation.schemas.escrow import (
    AmountIn,
    BalanceOut,
    InitializeIn,
    PreparedOut,
    SubmitIn,
    SubmittedOut,
    TransactionOut,
    decode_transaction,
)

router = APIRouter(prefix="/api/escrow", tags=["escrow"])

CHAIN_ERRORS = errors(
    502,
    503,
    s503="The chain or the database is unreachable; retry later",
)
PREPARE_ERRORS = {
    **CHAIN_ERRORS,
    **errors(409, s409="The escrow is not initialized, or already is"),
}
SUBMIT_ERRORS = {
    **CHAIN_ERRORS,
    **errors(
        404,
        409,
        s404="No such prepared transaction of the caller's",
        s409="Already settled, or submitted under another id",
    ),
}


@router.post("/initialize", responses=PREPARE_ERRORS)
async def initialize(
    body: InitializeIn, auth: CurrentAuth, container: ContainerDep
) -> PreparedOut:
    allowance = (
        parse_usdc(body.allowance, "allowance") if body.allowance is not None else None
    )
    return PreparedOut.of(await container.escrow.initialize(auth.user.id, allowance))


@router.post("/deposit", responses=PREPARE_ERRORS)
async def deposit(
    body: AmountIn, auth: CurrentAuth, container: ContainerDep
) -> PreparedOut:
    amount = parse_usdc(body.amount)
    return PreparedOut.of(await container.escrow.deposit(auth.user.id, amount))


@router.post("/withdraw", responses=PREPARE_ERRORS)
async def withdraw(
    body: AmountIn, auth: CurrentAuth, container: ContainerDep
) -> PreparedOut:
    amount = parse_usdc(body.amount)
    return PreparedOut.of(await container.escrow.withdraw(auth.user.id, amount))


@router.post("/submit", status_code=status.HTTP_202_ACCEPTED, responses=SUBMIT_ERRORS)
async def submit(
    body: SubmitIn, auth: CurrentAuth, container: ContainerDep
) -> SubmittedOut:
    signed = decode_transaction(body.signed_transaction)
    return SubmittedOut.model_validate(
        await container.escrow.submit(auth.user.id, body.transaction_id, signed)
    )


@router.get("/balance", responses=CHAIN_ERRORS)
async def balance(auth: CurrentAuth, container: ContainerDep) -> BalanceOut:
    return BalanceOut.model_validate(await container.escrow.balance(auth.user.id))


@router.get("/transactions")
async def transactions(
    auth: CurrentAuth,
    container: ContainerDep,
    type: TransactionType | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[TransactionOut]:
    found = await container.escrow.transactions(auth.user.id, type, limit, offset)
    return [TransactionOut.model_validate(t) for t in found]


@router.get(
    "/transactions/{transaction_id}",
    responses=errors(404, s404="Not yours, or unknown"),
)
async def transaction(
    transaction_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> TransactionOut:
    return TransactionOut.model_validate(
        await container.escrow.transaction(auth.user.id, transaction_id)
    )
