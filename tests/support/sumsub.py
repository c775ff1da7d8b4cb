"""A stand-in Sumsub for tests: the API subset the `sumsub` provider speaks,
over real HTTP on 127.0.0.1, in a thread.

It checks every request as Sumsub documents it (docs.sumsub.com, API
authentication): `X-App-Token` must be the app token, `X-App-Access-Ts` unix
seconds within `max_skew_seconds` of its clock, and `X-App-Access-Sig` the
lowercase hex HMAC-SHA256, keyed with the secret key, of ts + METHOD + the
path with its query as sent + the body bytes. Anything else is 401 with a
Sumsub-like error body. The signing here is written separately from the
adapter's, so the adapter passes only if it signs as Sumsub does.

Endpoints: create an applicant (409 if its externalUserId exists), get one by
externalUserId or id, its review status, and SDK access tokens. Tests steer
reviews with `set_status` / `set_review`, fail it with `down`, and build signed
webhooks with `signed_webhook` / `webhook_for`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.threaded import ThreadedServer

APP_TOKEN = "sbx:stand-in-app-token"
SECRET_KEY = "stand-in-secret-key"
WEBHOOK_SECRET = "stand-in-webhook-secret"
LEVEL_NAME = "basic-kyc-level"

WEBHOOK_ALGORITHMS = {
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA512_HEX": hashlib.sha512,
}


def sumsub_time(when: datetime, millis: bool = False) -> str:
    """Sumsub's way of writing a UTC time: "2020-02-21 13:23:19[.321]"."""
    text = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return text + f".{when.microsecond // 1000:03d}" if millis else text


def signed_webhook(
    payload: dict[str, Any], secret: str, algorithm: str = "HMAC_SHA256_HEX"
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Sumsub would POST for `payload`."""
    body = json.dumps(payload, indent=2).encode()
    digest = hmac.new(secret.encode(), body, WEBHOOK_ALGORITHMS[algorithm])
    headers = {
        "content-type": "application/json",
        "x-payload-digest": digest.hexdigest(),
        "x-payload-digest-alg": algorithm,
    }
    return body, headers


def webhook_payload(
    kind: str,
    external_user_id: str,
    applicant_id: str = "5cb56e8e0a975a35f333cb83",
    review_status: str = "pending",
    review_result: dict[str, Any] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """A user-verification webhook as Sumsub's docs show it."""
    payload: dict[str, Any] = {
        "applicantId": applicant_id,
        "inspectionId": secrets.token_hex(12),
        "correlationId": f"req-{uuid.uuid4()}",
        "levelName": LEVEL_NAME,
        "externalUserId": external_user_id,
        "type": kind,
        "sandboxMode": True,
        "reviewStatus": review_status,
        "createdAtMs": sumsub_time(created_at or datetime.now(UTC), millis=True),
        "clientId": "standInClient",
    }
    if review_result is not None:
        payload["reviewResult"] = review_result
    return payload


@dataclass
class Applicant:
    id: str
    external_user_id: str
    level_name: str
    created_at: datetime
    review_status: str = "init"
    review_result: dict[str, Any] | None = None
    review_date: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": sumsub_time(self.created_at),
            "clientId": "standInClient",
            "inspectionId": self.id[::-1],
            "externalUserId": self.external_user_id,
            "type": "individual",
            "review": self.status_json(),
        }

    def status_json(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "levelName": self.level_name,
            "attemptCnt": 0,
            "createDate": sumsub_time(self.created_at),
            "reviewStatus": self.review_status,
        }
        if self.review_date is not None:
            status["reviewDate"] = sumsub_time(self.review_date)
        if self.review_result is not None:
            status["reviewResult"] = self.review_result
        return status


@dataclass
class SumsubStandIn:
    app_token: str = APP_TOKEN
    secret_key: str = SECRET_KEY
    max_skew_seconds: int = 60
    clock: Callable[[], float] = time.time
    applicants: dict[str, Applicant] = field(default_factory=dict)
    """By externalUserId."""
    tokens: dict[str, str] = field(default_factory=dict)
    """SDK access token -> userId."""
    calls: list[str] = field(default_factory=list)
    """"METHOD /path?query" of every request that passed the signature check."""
    refused: list[str] = field(default_factory=list)
    down: bool = False
    url: str = ""

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/resources/applicants", self._create, methods=["POST"]),
                Route("/resources/applicants/{ref}/one", self._one, methods=["GET"]),
                Route(
                    "/resources/applicants/{applicant_id}/status",
                    self._status,
                    methods=["GET"],
                ),
                Route("/resources/accessTokens/sdk", self._sdk_token, methods=["POST"]),
            ]
        )
        self._served: ThreadedServer | None = None

    # --- what tests steer ----------------------------------------------------

    def add_applicant(self, external_user_id: str) -> Applicant:
        """An applicant made elsewhere (the web SDK, the dashboard)."""
        with self.lock:
            return self._new_applicant(external_user_id, LEVEL_NAME)

    def applicant(self, external_user_id: str) -> Applicant:
        return self.applicants[external_user_id]

    def set_status(self, external_user_id: str, review_status: str) -> Applicant:
        with self.lock:
            found = self.applicants[external_user_id]
            found.review_status = review_status
            found.review_result = None
            found.review_date = None
            return found

    def set_review(
        self,
        external_user_id: str,
        answer: str,
        reject_type: str | None = None,
        moderation_comment: str | None = None,
        reject_labels: tuple[str, ...] = (),
        client_comment: str | None = None,
        at: datetime | None = None,
    ) -> Applicant:
        """A completed review, as an operator or Sumsub's checks decide it."""
        result: dict[str, Any] = {"reviewAnswer": answer}
        if answer == "RED":
            result["rejectLabels"] = list(reject_labels)
            if reject_type is not None:
                result["reviewRejectType"] = reject_type
            if moderation_comment is not None:
                result["moderationComment"] = moderation_comment
            if client_comment is not None:
                result["clientComment"] = client_comment
        with self.lock:
            found = self.applicants[external_user_id]
            found.review_status = "completed"
            found.review_result = result
            found.review_date = at or datetime.now(UTC)
            return found

    def webhook_for(
        self,
        kind: str,
        external_user_id: str,
        secret: str = WEBHOOK_SECRET,
        algorithm: str = "HMAC_SHA256_HEX",
    ) -> tuple[bytes, dict[str, str]]:
        """The signed webhook Sumsub would send now about this applicant."""
        found = self.applicants[external_user_id]
        payload = webhook_payload(
            kind,
            external_user_id,
            found.id,
            found.review_status,
            found.review_result,
            found.review_date,
        )
        return signed_webhook(payload, secret, algorithm)

    # --- the API -------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        refused, body = await self._check(request)
        if refused is not None:
            return refused
        level = request.query_params.get("levelName")
        try:
            external_id = json.loads(body)["externalUserId"]
        except (ValueError, KeyError, TypeError):
            external_id = None
        if not level or not isinstance(external_id, str) or not external_id:
            return _error(400, "levelName and externalUserId are required")
        with self.lock:
            existing = self.applicants.get(external_id)
            if existing is not None:
                return _error(
                    409,
                    f"Applicant with external user id '{external_id}' already"
                    f" exists: {existing.id}",
                )
            return JSONResponse(self._new_applicant(external_id, level).as_json())

    async def _one(self, request: Request) -> Response:
        refused, _ = await self._check(request)
        if refused is not None:
            return refused
        ref = request.path_params["ref"]
        with self.lock:
            if ref.startswith("-;externalUserId="):
                found = self.applicants.get(ref.removeprefix("-;externalUserId="))
            else:
                found = self._by_id(ref)
            if found is None:
                return _error(404, "Applicant not found")
            return JSONResponse(found.as_json())

    async def _status(self, request: Request) -> Response:
        refused, _ = await self._check(request)
        if refused is not None:
            return refused
        with self.lock:
            found = self._by_id(request.path_params["applicant_id"])
            if found is None:
                return _error(404, "Applicant not found")
            return JSONResponse(found.status_json())

    async def _sdk_token(self, request: Request) -> Response:
        refused, body = await self._check(request)
        if refused is not None:
            return refused
        try:
            asked = json.loads(body)
            user_id, level = asked["userId"], asked["levelName"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "userId and levelName are required")
        token = f"_act-sbx-jwt-{secrets.token_urlsafe(24)}"
        with self.lock:
            self.tokens[token] = user_id
        return JSONResponse({"token": token, "userId": user_id, "levelName": level})

    async def _check(self, request: Request) -> tuple[Response | None, bytes]:
        """Sumsub's request authentication, checked before anything else."""
        body = await request.body()
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        query: bytes = request.scope.get("query_string", b"")
        uri = raw_path + (b"?" + query if query else b"")
        label = f"{request.method} {uri.decode()}"
        if self.down:
            return _error(503, "Service temporarily unavailable"), body
        reason = self._refusal(request, uri, body)
        with self.lock:
            (self.refused if reason else self.calls).append(label)
        return (_error(401, reason) if reason else None), body

    def _refusal(self, request: Request, uri: bytes, body: bytes) -> str | None:
        token = request.headers.get("x-app-token")
        ts = request.headers.get("x-app-access-ts", "")
        given = request.headers.get("x-app-access-sig")
        if not token or not hmac.compare_digest(
            token.encode(), self.app_token.encode()
        ):
            return "App token is missing or invalid"
        if not ts.isdigit() or abs(int(ts) - self.clock()) > self.max_skew_seconds:
            return "Request timestamp is missing or too far from the server time"
        message = ts.encode() + request.method.encode() + uri + body
        expected = hmac.new(self.secret_key.encode(), message, hashlib.sha256)
        if not given or not hmac.compare_digest(expected.hexdigest(), given):
            return "Request signature mismatch"
        return None

    def _new_applicant(self, external_id: str, level: str) -> Applicant:
        created = Applicant(
            secrets.token_hex(12), external_id, level, datetime.now(UTC)
        )
        self.applicants[external_id] = created
        return created

    def _by_id(self, applicant_id: str) -> Applicant | None:
        found = (a for a in self.applicants.values() if a.id == applicant_id)
        return next(found, None)

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._served = ThreadedServer(self.app, "the Sumsub stand-in")
        self.url = self._served.start()

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()


def _error(code: int, description: str) -> JSONResponse:
    """Sumsub's error body: a description, the code and a correlation id."""
    body = {
        "description": description,
        "code": code,
        "correlationId": secrets.token_hex(16),
    }
    return JSONResponse(body, status_code=code)


@contextmanager
def running_sumsub() -> Iterator[SumsubStandIn]:
    server = SumsubStandIn()
    server.start()
    try:
        yield server
    finally:
        server.stop()
