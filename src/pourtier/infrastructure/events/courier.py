"""Courier, the platform's event bus: `POST {COURIER_URL}/publish/{channel}`
with the envelope as JSON."""

from __future__ import annotations

from datetime import datetime

import httpx

from pourtier.domain.deliveries import DueDelivery, SendResult


class CourierSink:
    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self._base = base_url.rstrip("/")
        self._client = client

    async def send(self, due: DueDelivery, now: datetime) -> SendResult:
        url = f"{self._base}/publish/{due.event.type.channel}"
        try:
            response = await self._client.post(url, json=due.event.envelope())
        except httpx.HTTPError as error:
            return SendResult(None, f"{type(error).__name__}: {error}"[:500])
        return SendResult(response.status_code)
