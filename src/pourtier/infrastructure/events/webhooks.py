"""Webhooks as the Standard Webhooks specification has them
(github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md).

Headers `webhook-id` (the event's id: the same on every retry, the consumer's
dedupe key), `webhook-timestamp` (unix seconds of this attempt) and
`webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
`{id}.{timestamp}.{body}`, keyed with the base64-decoded part of the
`whsec_` secret; during a rotation one such signature per secret, space
separated. The timestamp is the wall clock's: receivers compare it with
theirs to refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from base64 import b64decode, b64encode
from collections.abc import Callable
from datetime import datetime

import httpx

from pourtier.domain.deliveries import DueDelivery, SendResult, UrlPolicy
from pourtier.domain.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + b64encode(digest).decode()


class WebhookSink:
    def __init__(
        self,
        client: httpx.AsyncClient,
        urls: UrlPolicy,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._urls = urls
        self._wall_clock = wall_clock

    async def send(self, due: DueDelivery, now: datetime) -> SendResult:
        endpoint = due.endpoint
        assert endpoint is not None, "a webhook delivery has its endpoint"
        try:
            await self._urls.check(endpoint.url)  # again: DNS may have changed
        except InvalidInput as refused:
            return SendResult(None, refused.detail)
        body = json.dumps(due.event.envelope(), separators=(",", ":")).encode()
        message_id = str(due.event.id)
        timestamp = int(self._wall_clock())
        signatures = " ".join(
            signature(secret, message_id, timestamp, body)
            for secret in endpoint.signing_secrets(now)
        )
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signatures,
        }
        try:
            response = await self._client.post(
                endpoint.url, content=body, headers=headers
            )
        except httpx.HTTPError as error:
            return SendResult(None, f"{type(error).__name__}: {error}"[:500])
        return SendResult(response.status_code)
