from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from pourtier.application.receipts import ReceiptView
from pourtier.application.subscription_answers import SubscriptionView
from pourtier.domain.subscriptions import ChargeKind, PlanName
from pourtier.presentation.schemas.common import Out, RequestBody, Usdc


class PlanOut(Out):
    name: str
    price: Usdc = Field(description="USDC per period, decimal string")
    period_days: int
    max_active_strategies: int | None = Field(description="null: unlimited")
    features: list[str]


class SubscribeIn(RequestBody):
    plan: PlanName
    auto_renew: bool = True


class SubscriptionStateOut(Out):
    """A subscription's own fields."""

    id: uuid.UUID
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    auto_renew: bool
    cancel_at_period_end: bool
    scheduled_plan: str | None = Field(
        description="Plan taking over at the period's end (a downgrade)"
    )
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionOut(SubscriptionStateOut):
    charge_signature: str | None = Field(
        description="On-chain signature of the latest charge not failed"
    )

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionOut:
        fields = vars(view.subscription) | {"charge_signature": view.charge_signature}
        return cls.model_validate(fields)


class PaymentFailedOut(BaseModel):
    detail: str
    subscription: SubscriptionOut | None


class AccessOut(Out):
    has_access: bool
    plan: str | None
    status: str | None
    expires_at: datetime | None = Field(
        description="When access ends unless renewed (grace included)"
    )
    max_active_strategies: int | None = Field(description="null: unlimited")
    features: list[str]


class ReceiptOut(Out):
    id: uuid.UUID
    number: str = Field(description="Sequential across the service: PT-000123")
    subscription_id: uuid.UUID
    kind: ChargeKind
    plan: PlanName
    period_start: datetime
    period_end: datetime
    amount: Usdc
    signature: str = Field(description="The charge's on-chain signature")
    explorer_url: str | None = Field(
        description="The transaction on Solana Explorer for the configured "
        "cluster; null on a local chain the explorer cannot reach"
    )
    issued_at: datetime

    @classmethod
    def of(cls, view: ReceiptView) -> ReceiptOut:
        receipt = view.receipt
        fields = vars(receipt) | {
            "number": receipt.number,
            "explorer_url": view.explorer_url,
        }
        return cls.model_validate(fields)
