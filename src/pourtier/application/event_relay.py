"""The relay: delivers the outbox's pending deliveries to their sinks.

Each pass claims due deliveries (`FOR UPDATE SKIP LOCKED`: any number of
relays, in the API processes and `pourtier worker`, share them), sends them
concurrently while holding them, and records each outcome in the same
transaction. A relay that dies mid-send leaves its transaction to roll back:
the deliveries are due again and sent again (at least once; consumers dedupe
by the event id). Only the first pending delivery of a subject for a sink is
ever claimed, so each sink sees a subject's events in sequence order.

Outcomes: a 2xx is delivered. Courier is retried with backoff forever. A
webhook is retried on WEBHOOK_RETRY_DELAYS then given up (`failed`); 410 Gone
disables its endpoint at once, and an endpoint failing for
WEBHOOK_FAILING_LIMIT is disabled; deliveries to a disabled endpoint are
marked `disabled` without being sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from pourtier.application.common import Clock
from pourtier.domain.deliveries import (
    COURIER,
    WEBHOOK_FAILING_LIMIT,
    DeliveryStatus,
    DisabledReason,
    DueDelivery,
    EventSink,
    SendResult,
    courier_retry_at,
    webhook_retry_at,
)
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

BATCH = 50
MAX_BATCHES = 20
"""Batches per pass: a subject's next event is claimable once the previous
one is committed delivered, so a pass drains a backlog batch by batch."""

Outcome = Callable[[str, str], None]
"""Told (sink kind, outcome) for every attempt: the metrics' counter."""


def _ignore(sink: str, outcome: str) -> None:
    pass


@dataclass
class EventRelay:
    uow: Callable[[], UnitOfWork]
    clock: Clock
    webhooks: EventSink
    courier: EventSink | None = None
    on_outcome: Outcome = field(default=_ignore)
    batch: int = BATCH
    max_batches: int = MAX_BATCHES

    async def run_once(self) -> int:
        """Deliver what is due; how many deliveries were attempted."""
        done = 0
        for _ in range(self.max_batches):
            claimed = await self._batch()
            if not claimed:
                break
            done += claimed
        return done

    async def pending(self) -> int:
        async with self.uow() as uow:
            return await uow.deliveries.count_pending()

    async def _batch(self) -> int:
        async with self.uow() as uow:
            due = await uow.deliveries.claim_due(
                self.clock(), self.batch, courier=self.courier is not None
            )
            if not due:
                return 0
            results = await asyncio.gather(*(self._send(d) for d in due))
            now = self.clock()
            # Endpoint rows in one order in every relay: no deadlock.
            done = sorted(zip(due, results, strict=True), key=_endpoint_order)
            for item, result in done:
                outcome = await self._record(uow, item, result, now)
                kind = "courier" if item.endpoint is None else "webhook"
                self.on_outcome(kind, outcome)
            await uow.commit()
        return len(due)

    async def _send(self, due: DueDelivery) -> SendResult | None:
        """The sink's answer; None: not sent (its endpoint is disabled)."""
        if due.endpoint is not None and not due.endpoint.enabled:
            return None
        sink = self.webhooks if due.endpoint is not None else self.courier
        if sink is None:
            return SendResult(None, "no COURIER_URL configured")
        try:
            return await sink.send(due, self.clock())
        except Exception as error:  # a sink's bug must not stop the others
            log.warning("event sink failed", sink=due.delivery.sink, exc_info=True)
            return SendResult(None, f"{type(error).__name__}: {error}"[:500])

    async def _record(
        self,
        uow: UnitOfWork,
        due: DueDelivery,
        result: SendResult | None,
        now: datetime,
    ) -> str:
        delivery, endpoint = due.delivery, due.endpoint
        if result is None:
            delivery.status = DeliveryStatus.DISABLED
            await uow.deliveries.save(delivery)
            return "disabled"
        delivery.attempts += 1
        delivery.last_error = None if result.delivered else result.describe()
        if result.delivered:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            outcome = "delivered"
            if endpoint is not None and endpoint.failing_since is not None:
                await uow.webhooks.record_success(endpoint.id)
        elif endpoint is None:
            delivery.next_attempt_at = courier_retry_at(delivery.attempts, now)
            outcome = "retry"
        else:
            outcome = await self._webhook_failed(uow, due, result, now)
        await uow.deliveries.save(delivery)
        if outcome != "delivered":
            log.info(
                "event delivery not done",
                sink=delivery.sink,
                event_id=str(delivery.event_id),
                attempts=delivery.attempts,
                outcome=outcome,
                error=delivery.last_error,
            )
        return outcome

    async def _webhook_failed(
        self, uow: UnitOfWork, due: DueDelivery, result: SendResult, now: datetime
    ) -> str:
        delivery, endpoint = due.delivery, due.endpoint
        assert endpoint is not None
        reason: DisabledReason | None = None
        if result.gone:
            reason = DisabledReason.GONE
        else:
            since = await uow.webhooks.record_failure(endpoint.id, now)
            if now - since >= WEBHOOK_FAILING_LIMIT:
                reason = DisabledReason.FAILING
        if reason is not None:
            await uow.webhooks.disable(endpoint.id, reason)
            log.warning(
                "webhook endpoint disabled", endpoint=str(endpoint.id), reason=reason
            )
            delivery.status = DeliveryStatus.DISABLED
            return "disabled"
        retry_at = webhook_retry_at(delivery.attempts, now)
        if retry_at is None:
            delivery.status = DeliveryStatus.FAILED
            return "failed"
        delivery.next_attempt_at = retry_at
        return "retry"


def _endpoint_order(item: tuple[DueDelivery, SendResult | None]) -> str:
    endpoint = item[0].endpoint
    return COURIER if endpoint is None else str(endpoint.id)
