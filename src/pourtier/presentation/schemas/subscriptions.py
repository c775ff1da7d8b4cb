from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from pourtier.application.subscription_answers import SubscriptionView
from pourtier.domain.subscriptions import PlanName
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
