"""Subscriptions. The plan list is public; the rest is mounted behind the
legal-compliance gate (see app.py); `GET /check` is mounted on the app
itself, first, being the most-read route after the profile."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse

from pourtier.application.subscription_answers import Outcome
from pourtier.domain.subscriptions import SubscriptionStatus
from pourtier.presentation.deps import (
    ContainerDep,
    CurrentAuth,
    container_of,
    current_auth,
    gated_by,
    require_compliance,
)
from pourtier.presentation.responses import ModelResponse, errors
from pourtier.presentation.schemas.subscriptions import (
    AccessOut,
    PaymentFailedOut,
    PlanOut,
    ReceiptOut,
    SubscribeIn,
    SubscriptionOut,
)

public_router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])
router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])

STATUS_OF: dict[Outcome, int] = {
    Outcome.CHANGED: status.HTTP_200_OK,
    Outcome.CREATED: status.HTTP_201_CREATED,
    Outcome.PENDING: status.HTTP_202_ACCEPTED,
    Outcome.PAYMENT_FAILED: status.HTTP_402_PAYMENT_REQUIRED,
}
"""The HTTP status of each way a subscribe request ends."""
SUBSCRIBE_RESPONSES: dict[int | str, dict[str, Any]] = {
    STATUS_OF[Outcome.CHANGED]: {
        "model": SubscriptionOut,
        "description": "Upgraded, or downgrade scheduled",
    },
    STATUS_OF[Outcome.PENDING]: {
        "model": SubscriptionOut,
        "description": "Charge sent, not final yet",
    },
    STATUS_OF[Outcome.PAYMENT_FAILED]: {
        "model": PaymentFailedOut,
        "description": "Balance or allowance short",
    },
    **errors(
        409,
        502,
        503,
        s409="Same plan already active; a charge of the subscription in flight, "
        "or its period ended unrenewed (plan changes wait); or the "
        "Idempotency-Key was used for another request",
        s503="The chain or the database is unreachable; retry later",
    ),
}
NOT_YOURS = errors(404, s404="Not yours, or unknown")
CHANGE_ERRORS = {
    **NOT_YOURS,
    **errors(
        409,
        s409="Nothing to change in the subscription's current state, or (undoing "
        "a scheduled plan) a charge in flight or the period ended unrenewed",
    ),
}


@public_router.get("/plans")
async def plans(container: ContainerDep) -> list[PlanOut]:
    return [
        PlanOut.model_validate(plan) for plan in container.subscriptions.plan_list()
    ]


@router.post(
    "/",
    status_code=STATUS_OF[Outcome.CREATED],
    response_model=SubscriptionOut,
    responses=SUBSCRIBE_RESPONSES,
)
async def subscribe(
    body: SubscribeIn,
    auth: CurrentAuth,
    container: ContainerDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=128,
            description="Retrying with the same key returns the first answer",
        ),
    ] = None,
) -> JSONResponse:
    answer = await container.subscriptions.subscribe(
        auth.user.id, body.plan, body.auto_renew, idempotency_key
    )
    view = SubscriptionOut.of(answer.view) if answer.view else None
    content: dict[str, Any]
    if answer.outcome is Outcome.PAYMENT_FAILED:
        content = PaymentFailedOut(
            detail=answer.detail or "payment failed", subscription=view
        ).model_dump(mode="json")
    else:
        assert view is not None
        content = view.model_dump(mode="json")
    return JSONResponse(content, status_code=STATUS_OF[answer.outcome])


@router.get("/")
async def list_subscriptions(
    auth: CurrentAuth,
    container: ContainerDep,
    status: Annotated[SubscriptionStatus | None, Query()] = None,
) -> list[SubscriptionOut]:
    views = await container.subscriptions.list_for_user(auth.user.id, status)
    return [SubscriptionOut.of(view) for view in views]


@gated_by(current_auth, require_compliance)
async def check(request: Request) -> Response:
    """What the caller may use now; other services ask this before deploying."""
    # The gate by plain calls, not dependencies: nothing for FastAPI to resolve.
    auth = await require_compliance(request, await current_auth(request))
    access = await container_of(request).subscriptions.check(auth.user.id)
    return ModelResponse(AccessOut.model_validate(access))


# Receipts come before `/{subscription_id}`, which would otherwise take
# "receipts" for an id, and `{receipt_id}.pdf` before `{receipt_id}`, which
# would otherwise take "<id>.pdf" for one (test_receipts.py asks both).
@router.get("/receipts")
async def list_receipts(
    auth: CurrentAuth,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ReceiptOut]:
    """The caller's receipts, newest first: one per confirmed charge."""
    views = await container.receipts.list_for_user(auth.user.id, limit, offset)
    return [ReceiptOut.of(view) for view in views]


@router.get(
    "/receipts/{receipt_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "One A4 page"},
        **NOT_YOURS,
    },
)
async def receipt_pdf(
    receipt_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> Response:
    """The receipt, printable."""
    view, document = await container.receipts.pdf(auth.user.id, receipt_id)
    filename = f"receipt-{view.receipt.number}.pdf"
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/receipts/{receipt_id}", responses=NOT_YOURS)
async def get_receipt(
    receipt_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> ReceiptOut:
    return ReceiptOut.of(await container.receipts.get(auth.user.id, receipt_id))


@router.get("/{subscription_id}", responses=NOT_YOURS)
async def get_subscription(
    subscription_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> SubscriptionOut:
    return SubscriptionOut.of(
        await container.subscriptions.get(auth.user.id, subscription_id)
    )


@router.delete("/{subscription_id}", responses=CHANGE_ERRORS)
async def cancel(
    subscription_id: uuid.UUID,
    auth: CurrentAuth,
    container: ContainerDep,
    immediately: Annotated[
        bool, Query(description="End access now, without refund")
    ] = False,
) -> SubscriptionOut:
    """Cancel at the period's end (access until then), or now."""
    return SubscriptionOut.of(
        await container.subscriptions.cancel(auth.user.id, subscription_id, immediately)
    )


@router.post("/{subscription_id}/resume", responses=CHANGE_ERRORS)
async def resume(
    subscription_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> SubscriptionOut:
    """Undo a pending cancellation or scheduled downgrade before the period ends."""
    return SubscriptionOut.of(
        await container.subscriptions.resume(auth.user.id, subscription_id)
    )
