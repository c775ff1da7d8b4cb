"""Event delivery's wiring: the sinks' HTTP client, the relay, the admin use
cases (a part of the composition root, kept beside container.py)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.application.event_admin import EventAdmin
from pourtier.application.event_relay import EventRelay
from pourtier.config import Settings
from pourtier.infrastructure.events.courier import CourierSink
from pourtier.infrastructure.events.url_policy import WebhookUrlPolicy
from pourtier.infrastructure.events.webhooks import WebhookSink
from pourtier.infrastructure.monitoring.metrics import Metrics


@dataclass(frozen=True)
class EventDelivery:
    relay: EventRelay
    admin: EventAdmin
    http: httpx.AsyncClient
    """The sinks' connections, closed with the container."""


def build_event_delivery(
    settings: Settings, uow: UnitOfWorkFactory, clock: Clock, metrics: Metrics
) -> EventDelivery:
    http = httpx.AsyncClient(
        timeout=settings.EVENT_DELIVERY_TIMEOUT_SECONDS, follow_redirects=False
    )
    # Production calls public addresses only.
    urls = WebhookUrlPolicy(allow_private=settings.ENV != "production")
    courier_url = settings.COURIER_URL

    def counted(sink: str, outcome: str) -> None:
        metrics.event_deliveries.labels(sink, outcome).inc()

    relay = EventRelay(
        uow=uow,
        clock=clock,
        webhooks=WebhookSink(http, urls),
        courier=CourierSink(courier_url, http) if courier_url else None,
        on_outcome=counted,
    )
    return EventDelivery(relay, EventAdmin(uow=uow, clock=clock, urls=urls), http)
