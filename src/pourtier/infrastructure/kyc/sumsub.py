"""The `sumsub` KYC provider: Sumsub's REST API and its webhooks.

What it speaks (docs.sumsub.com):
- every request carries `X-App-Token`, `X-App-Access-Ts` (unix seconds) and
  `X-App-Access-Sig`: lowercase hex HMAC-SHA256, keyed with the secret key,
  over ts + METHOD + path-with-query + body bytes. The path and body signed
  are taken from the request as built, so what is signed is what is sent;
- `start`: create the applicant (`externalUserId` is our user id, never the
  wallet), or fetch it when Sumsub answers 409 (it exists), then an SDK access
  token for the web SDK;
- `current`: the applicant's review status, for the reconciliation of missed
  webhooks;
- `webhook`: `X-Payload-Digest` checked over the raw body with the algorithm
  `X-Payload-Digest-Alg` names, before anything is parsed.

Errors: an unreachable Sumsub, a 5xx or a 429 is ServiceUnavailable (retry
later); a 404 is NotFound, a 409 Conflict (creating an applicant that exists
is handled: it is fetched); any other refusal is SumsubRefused. Details name
the call and Sumsub's own description, never the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from pourtier.domain.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    UpstreamRefused,
)
from pourtier.domain.kyc import KycEvent, ProviderStart, RejectionType
from pourtier.domain.users import KycStatus

SOURCE = "provider:sumsub"
Decision = tuple[KycStatus, "RejectionType | None", "str | None"]
"""Our status for a Sumsub state, the rejection's type and its reason."""
SDK_TOKEN_TTL_SECONDS = 600
DESCRIPTION_MAX_LENGTH = 200
_APPLICANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

DIGESTS: dict[str, str] = {
    "HMAC_SHA1_HEX": "sha1",
    "HMAC_SHA256_HEX": "sha256",
    "HMAC_SHA512_HEX": "sha512",
}
"""`X-Payload-Digest-Alg` values and the hashlib name each stands for."""

_WEBHOOK_STATUS: dict[str, KycStatus] = {
    "applicantCreated": KycStatus.PENDING,
    "applicantPending": KycStatus.IN_REVIEW,
    "applicantOnHold": KycStatus.IN_REVIEW,
    "applicantReset": KycStatus.PENDING,
}
"""Webhook types that set a status by themselves (applicantReviewed reads
its result); every other type changes nothing."""

_REVIEW_STATUS: dict[str, KycStatus] = {
    "pending": KycStatus.IN_REVIEW,
    "queued": KycStatus.IN_REVIEW,
    "onHold": KycStatus.IN_REVIEW,
    "prechecked": KycStatus.IN_REVIEW,
    "awaitingService": KycStatus.IN_REVIEW,
    "awaitingUser": KycStatus.PENDING,
}
"""A status read's `reviewStatus` while no decision is made; `init` (nothing
submitted yet) and unknown values apply nothing, `completed` reads the result."""


class SumsubRefused(UpstreamRefused):
    """Sumsub refused a call for a reason retrying will not fix (bad keys,
    unknown level): a configuration problem on our side, not the user's."""


def signature(secret_key: str, ts: str, method: str, path: bytes, body: bytes) -> str:
    """`X-App-Access-Sig` as Sumsub computes it."""
    message = ts.encode() + method.upper().encode() + path + body
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def payload_digest(secret: str, algorithm: str, body: bytes) -> str:
    """`X-Payload-Digest` of a webhook body; KeyError for an unknown algorithm."""
    return hmac.new(secret.encode(), body, DIGESTS[algorithm]).hexdigest()


class SumsubProvider:
    """Sumsub as the `KycProvider`; closes its HTTP client only if it made it."""

    name = "sumsub"

    def __init__(
        self,
        base_url: str,
        app_token: str,
        secret_key: str,
        level_name: str,
        webhook_secret: str,
        client: httpx.AsyncClient | None = None,
        *,
        timeout_seconds: float = 10.0,
        sdk_token_ttl_seconds: int = SDK_TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._app_token = app_token
        self._secret_key = secret_key
        self._level_name = level_name
        self._webhook_secret = webhook_secret
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
        self._sdk_token_ttl = sdk_token_ttl_seconds
        self._clock = clock

    def __repr__(self) -> str:  # never the keys
        return f"SumsubProvider({self._base_url!r}, level={self._level_name!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # --- KycProvider ---------------------------------------------------------

    async def start(self, user_id: uuid.UUID) -> ProviderStart:
        external_id = str(user_id)
        try:
            applicant = await self._call(
                "POST",
                "/resources/applicants",
                "create applicant",
                params={"levelName": self._level_name},
                body={"externalUserId": external_id},
            )
        except Conflict:  # it exists already: the same applicant, reused
            applicant = await self._call(
                "GET",
                f"/resources/applicants/-;externalUserId={external_id}/one",
                "get applicant",
            )
        applicant_id = _text(applicant, "id", "get applicant")
        answer = await self._call(
            "POST",
            "/resources/accessTokens/sdk",
            "sdk access token",
            body={
                "userId": external_id,
                "levelName": self._level_name,
                "ttlInSecs": self._sdk_token_ttl,
            },
        )
        token = _text(answer, "token", "sdk access token")
        return ProviderStart(KycStatus.PENDING, applicant_id, token)

    async def current(self, user_id: uuid.UUID, applicant_id: str) -> KycEvent | None:
        if not _APPLICANT_ID.match(applicant_id):
            raise InvalidInput("not a Sumsub applicant id")
        answer = await self._call(
            "GET", f"/resources/applicants/{applicant_id}/status", "applicant status"
        )
        review_status = answer.get("reviewStatus")
        result = _object(answer.get("reviewResult"))
        decision = _decision(review_status, "completed", _REVIEW_STATUS, result)
        if decision is None:
            return None
        date = answer.get("reviewDate") or answer.get("createDate")
        occurred_at = _parse_time(date) if isinstance(date, str) else None
        reply = ":".join(
            str(result[key])
            for key in ("reviewAnswer", "reviewRejectType")
            if result.get(key)
        )  # the decision itself: a revision in the same second is another event
        event_id = f"status:{applicant_id}:{review_status}:{reply}:{date or ''}"
        return self._event(user_id, decision, occurred_at or self._now(), event_id)

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> KycEvent | None:
        self._verify_digest(body, headers)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("webhook body is not JSON") from None
        if not isinstance(payload, dict):
            raise InvalidInput("webhook body is not a JSON object")
        kind = payload.get("type")
        result = _object(payload.get("reviewResult"))
        decision = _decision(kind, "applicantReviewed", _WEBHOOK_STATUS, result)
        if decision is None:
            return None
        user_id = _user_id(payload.get("externalUserId"))
        occurred_at = self._webhook_time(payload)
        event_id = hashlib.sha256(body).hexdigest()  # a replay is the same event
        return self._event(user_id, decision, occurred_at, event_id)

    def _event(
        self,
        user_id: uuid.UUID,
        decision: Decision,
        occurred_at: datetime,
        event_id: str,
    ) -> KycEvent:
        status, rejection, reason = decision
        return KycEvent(
            user_id,
            status,
            occurred_at,
            SOURCE,
            self._now(),
            event_id,
            rejection,
            reason,
        )

    # --- webhooks --------------------------------------------------------------

    def _verify_digest(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Before anything is read from the body: a forged webhook changes nothing."""
        lowered = {key.lower(): value for key, value in headers.items()}
        algorithm = lowered.get("x-payload-digest-alg")
        given = lowered.get("x-payload-digest")
        if not algorithm or algorithm not in DIGESTS:
            raise AuthenticationFailed("webhook signature", "unknown digest algorithm")
        if not given:
            raise AuthenticationFailed("webhook signature", "no payload digest")
        expected = payload_digest(self._webhook_secret, algorithm, body)
        if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
            raise AuthenticationFailed("webhook signature", "digest mismatch")

    def _webhook_time(self, payload: Mapping[str, Any]) -> datetime:
        for field in ("createdAtMs", "createdAt"):
            value = payload.get(field)
            if value is None:
                continue
            when = _parse_time(value) if isinstance(value, str) else None
            if when is None:
                raise InvalidInput(f"webhook {field} is not a time")
            return when
        return self._now()

    # --- HTTP ----------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One signed call and the JSON object it answers."""
        content = b"" if body is None else json.dumps(body).encode()
        headers = {"X-App-Token": self._app_token, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            method, self._base_url + path, params=params, content=content
        )
        request.headers.update(headers)
        ts = str(int(self._clock()))
        request.headers["X-App-Access-Ts"] = ts
        request.headers["X-App-Access-Sig"] = signature(
            self._secret_key, ts, method, request.url.raw_path, content
        )
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as error:
            raise ServiceUnavailable(
                f"sumsub unreachable ({what}): {type(error).__name__}"
            ) from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise ServiceUnavailable(f"sumsub unavailable ({what}): HTTP {status}")
        if status == 404:
            raise NotFound(f"sumsub: {what}: not found")
        if status == 409:
            raise Conflict(f"sumsub: {what}: already exists")
        if status >= 400:
            said = _description(response)
            raise SumsubRefused(
                f"sumsub refused {what}: HTTP {status}" + (f" ({said})" if said else "")
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ServiceUnavailable(f"sumsub answered {what} unreadably")
        return answer

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _decision(
    state: object,
    reviewed: str,
    statuses: Mapping[str, KycStatus],
    result: Mapping[str, Any],
) -> Decision | None:
    """Sumsub's state (`reviewed`: decided, see `result`; else looked up in
    `statuses`) as ours; None when it is nothing to apply.

    A review result: GREEN verified, RED rejected (FINAL only when Sumsub says
    so: otherwise the user may try again)."""
    if state != reviewed:
        found = statuses.get(state) if isinstance(state, str) else None
        return None if found is None else (found, None, None)
    answer = result.get("reviewAnswer")
    if answer == "GREEN":
        return KycStatus.VERIFIED, None, None
    if answer != "RED":
        return None
    final = result.get("reviewRejectType") == "FINAL"
    rejection = RejectionType.FINAL if final else RejectionType.RETRY
    return KycStatus.REJECTED, rejection, _reason(result)


def _reason(result: Mapping[str, Any]) -> str | None:
    """What the user may be told: `moderationComment`, else the labels.
    `clientComment` is for operators only and never used."""
    comment = result.get("moderationComment")
    if isinstance(comment, str) and comment.strip():
        return comment.strip()
    labels = result.get("rejectLabels")
    if isinstance(labels, list):
        named = [label for label in labels if isinstance(label, str)]
        if named:
            return ", ".join(named)
    return None


def _user_id(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise InvalidInput("webhook externalUserId is missing")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(
            "webhook externalUserId is not one of our user ids"
        ) from None


def _parse_time(value: str) -> datetime | None:
    """Sumsub's times: "2020-02-21 13:23:19.321" (UTC), "... 12:50:27+0000",
    or ISO 8601; a time without a zone is UTC."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(answer: Mapping[str, Any], field: str, what: str) -> str:
    value = answer.get(field)
    if not isinstance(value, str) or not value:
        raise ServiceUnavailable(f"sumsub answered {what} without {field}")
    return value


def _description(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return ""
    found = answer.get("description") if isinstance(answer, dict) else None
    return found[:DESCRIPTION_MAX_LENGTH] if isinstance(found, str) else ""
