"""KYC: the user's own check, and the provider's webhook (public, signed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, status
from fastapi.exceptions import RequestValidationError

from pourtier.presentation.deps import ContainerDep, CurrentAuth
from pourtier.presentation.responses import errors
from pourtier.presentation.schemas.kyc import (
    PERSONAL,
    KycOut,
    KycStartIn,
    KycStartOut,
)

router = APIRouter(prefix="/api/kyc", tags=["kyc"])
NO_DETAILS = KycStartIn()
OptionalBody = Annotated[KycStartIn, Body()]
webhooks = APIRouter(prefix="/api/kyc/webhooks", tags=["kyc"])


@router.get("")
async def kyc_status(auth: CurrentAuth, container: ContainerDep) -> KycOut:
    return KycOut.of(await container.kyc.view(auth.user.id))


@router.post(
    "/start",
    responses=errors(
        409,
        502,
        503,
        s409="Already verified or in review",
        s502="The KYC provider refused the service's call",
        s503="The KYC provider is unreachable; retry later",
    ),
)
async def start(
    auth: CurrentAuth, container: ContainerDep, body: OptionalBody = NO_DETAILS
) -> KycStartOut:
    """The manual provider takes the personal details; sumsub, nothing."""
    kyc = container.kyc
    details = body.details(kyc.clock().date())
    if details is None and kyc.provider.name == "manual":
        raise RequestValidationError(
            [
                {"loc": ("body", name), "msg": "Field required", "type": "missing"}
                for name in PERSONAL
            ]
        )
    return KycStartOut.of(*await kyc.start(auth.user.id, details))


@webhooks.post(
    "/sumsub",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 404, s401="Bad signature", s404="Not this provider"),
)
async def sumsub_webhook(request: Request, container: ContainerDep) -> None:
    """Checked over the raw body; a repeated event changes nothing."""
    await container.kyc.webhook(await request.body(), request.headers)
