"""What a subscribe request answers, and how an Idempotency-Key keeps it.

The first answer is stored as a snapshot (not re-read later), so a retry gets
exactly what the first request got; while the first request still waits for
its charge, the stored marker names the charge so a retry can join it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pourtier.domain.errors import InvalidInput
from pourtier.domain.subscriptions import (
    ChargeKind,
    PlanName,
    Subscription,
    SubscriptionStatus,
)

IDEMPOTENCY_KEY_MAX_LENGTH = 128


class Outcome(StrEnum):
    """How a subscribe request ended (the routes give each its HTTP status)."""

    CHANGED = "changed"  # upgraded, or a downgrade scheduled
    CREATED = "created"
    PENDING = "pending"  # the charge is sent but not final yet
    PAYMENT_FAILED = "payment_failed"  # the charge failed on chain; nothing taken
    IN_PROGRESS = "in_progress"  # stored only: the first request has not answered


@dataclass(frozen=True)
class SubscriptionView:
    subscription: Subscription
    charge_signature: str | None


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    view: SubscriptionView | None
    detail: str | None = None


def request_fingerprint(plan: PlanName, auto_renew: bool) -> str:
    return hashlib.sha256(f"{plan.value}:{auto_renew}".encode()).hexdigest()


def check_key(key: str) -> None:
    if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not all(
        "!" <= c <= "~" for c in key
    ):
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} visible "
            "ASCII characters"
        )


def snapshot(answer: Answer) -> dict[str, Any]:
    """What is stored for an idempotency key: the answer as first given."""
    body: dict[str, Any] = {"detail": answer.detail}
    if answer.view is not None:
        s = answer.view.subscription
        body["charge_signature"] = answer.view.charge_signature
        body["subscription"] = {
            "id": str(s.id),
            "user_id": str(s.user_id),
            "plan": s.plan.value,
            "status": s.status.value,
            "current_period_start": s.current_period_start.isoformat(),
            "current_period_end": s.current_period_end.isoformat(),
            "created_at": s.created_at.isoformat(),
            "updated_at": s.updated_at.isoformat(),
            "auto_renew": s.auto_renew,
            "cancel_at_period_end": s.cancel_at_period_end,
            "scheduled_plan": s.scheduled_plan.value if s.scheduled_plan else None,
            "canceled_at": s.canceled_at.isoformat() if s.canceled_at else None,
        }
    return body


def from_snapshot(outcome: Outcome, body: dict[str, Any]) -> Answer:
    view = None
    raw = body.get("subscription")
    if raw is not None:
        subscription = Subscription(
            id=uuid.UUID(raw["id"]),
            user_id=uuid.UUID(raw["user_id"]),
            plan=PlanName(raw["plan"]),
            status=SubscriptionStatus(raw["status"]),
            current_period_start=datetime.fromisoformat(raw["current_period_start"]),
            current_period_end=datetime.fromisoformat(raw["current_period_end"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            updated_at=datetime.fromisoformat(raw["updated_at"]),
            auto_renew=raw["auto_renew"],
            cancel_at_period_end=raw["cancel_at_period_end"],
            scheduled_plan=(
                PlanName(raw["scheduled_plan"]) if raw["scheduled_plan"] else None
            ),
            canceled_at=(
                datetime.fromisoformat(raw["canceled_at"])
                if raw["canceled_at"]
                else None
            ),
        )
        view = SubscriptionView(subscription, body.get("charge_signature"))
    return Answer(outcome, view, body.get("detail"))


@dataclass(frozen=True)
class StartedCharge:
    """A charge recorded and committed, to be sent and awaited."""

    subscription_id: uuid.UUID
    transaction_id: uuid.UUID
    kind: ChargeKind
    signed: bytes | None = None  # None when resuming: the first request sent it


def to_stored(result: StartedCharge | Answer) -> tuple[Outcome, dict[str, Any]]:
    if isinstance(result, Answer):
        return result.outcome, snapshot(result)
    return Outcome.IN_PROGRESS, {
        "subscription_id": str(result.subscription_id),
        "transaction_id": str(result.transaction_id),
        "kind": result.kind.value,
    }
