from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from pourtier.application.subscription_answers import SubscriptionView
from pourtier.application.subscriptions import Access
from pourtier.domain.money import format_usdc
from pourtier.domain.subscriptions import Plan, PlanName
from pourtier.presentation.schemas.common import RequestBody


class PlanOut(BaseModel):
    name: str
    price: str = Field(description="USDC per period, decimal string")
    period_days: int
    max_active_strategies: int | None = Field(description="null: unlimited")
    features: list[str]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(
            name=plan.name.value,
            price=format_usdc(plan.price),
            period_days=plan.period.days,
            max_active_strategies=plan.max_active_strategies,
            features=list(plan.features),
        )


class SubscribeIn(RequestBody):
    plan: PlanName
    auto_renew: bool = True


class SubscriptionOut(BaseModel):
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
    charge_signature: str | None = Field(
        description="On-chain signature of the latest charge not failed"
    )

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionOut:
        s = view.subscription
        return cls(
            id=s.id,
            plan=s.plan.value,
            status=s.status.value,
            current_period_start=s.current_period_start,
            current_period_end=s.current_period_end,
            auto_renew=s.auto_renew,
            cancel_at_period_end=s.cancel_at_period_end,
            scheduled_plan=s.scheduled_plan.value if s.scheduled_plan else None,
            canceled_at=s.canceled_at,
            created_at=s.created_at,
            updated_at=s.updated_at,
            charge_signature=view.charge_signature,
        )


class PaymentFailedOut(BaseModel):
    detail: str
    subscription: SubscriptionOut | None


class AccessOut(BaseModel):
    has_access: bool
    plan: str | None
    status: str | None
    expires_at: datetime | None = Field(
        description="When access ends unless renewed (grace included)"
    )
    max_active_strategies: int | None = Field(description="null: unlimited")
    features: list[str]

    @classmethod
    def of(cls, access: Access) -> AccessOut:
        return cls(
            has_access=access.has_access,
            plan=access.plan.value if access.plan else None,
            status=access.status.value if access.status else None,
            expires_at=access.expires_at,
            max_active_strategies=access.max_active_strategies,
            features=list(access.features),
        )
