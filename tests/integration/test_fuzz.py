"""Property-based fuzz of every endpoint, driven by the service's own OpenAPI.

Schemathesis reads the schema the app serves at `/openapi.json` and generates
requests for every operation, both valid ones and ones that break the schema.
Each goes to the real app (real PostgreSQL, real local chain) as a signed-in
user with an initialized, funded escrow, and each answer must be:

- no 5xx;
- a status the operation declares;
- of the declared content type, with a body matching the declared schema;
- for a request that breaks the schema, a refusal (4xx).

The schema is loaded from the ASGI app (`schemathesis.openapi.from_asgi`), but
requests are not sent by schemathesis' own ASGI client, which runs the app on
an event loop of its own: Hypothesis runs in a worker thread and hands each
request to the test's loop, where the app's connection pool lives. Admin
routes are sent by a second user, an admin, so they reach past their gate
(their 403 to a plain user is walked in test_authorization_matrix.py). Routes that
take an id also get a run with ids of what the user owns, to reach their
success answers. `FUZZ_EXAMPLES` sets the examples per operation and mode
(small here; `make fuzz` runs 100).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.presentation.app import create_app
from tests.admin_helpers import create_admin
from tests.conftest import AUTH_URI
from tests.helpers import bearer, link_wallet, login
from tests.integration.test_sessions import session_of
from tests.subscription_helpers import subscribe
from tests.support.escrow import create_funded_escrow

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Any]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
T = TypeVar("T")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "generation": {
            # FastAPI ignores unknown query parameters, by design.
            "allow-extra-parameters": False,
            # The bearer token is the signed-in user's, never generated.
            "with-security-parameters": False,
        }
    }
)
# Each ends sessions of the fuzzing user: they get a session of their own.
ENDS_SESSIONS = {"/api/auth/logout", "/api/auth/logout-all"}
# Ends every session of the user it names (the fuzzing user, when it is theirs).
ENDS_USERS_SESSIONS = "/api/admin/users/{user_id}/sessions/revoke"
ADMIN_ROUTES = "/api/admin/"


def ok(result: Any) -> Operation:
    """An operation schemathesis could read; a schema it cannot is a failure."""
    assert isinstance(result, Ok), result
    operation: Operation = result.ok()
    return operation


def modes(operation: Operation) -> list[GenerationMode]:
    """Negative examples need something to break: a parameter or a body."""
    inputs = (operation.path_parameters, operation.query, operation.headers)
    if any(len(group) for group in inputs) or len(operation.body):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


@dataclass
class Fuzzer:
    """The signed-in user's side of the fuzz: its tokens and what it saw."""

    client: httpx.AsyncClient
    wallet: Wallet
    tokens: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    admin: dict[str, Any]
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    by_operation: dict[str, dict[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """From the Hypothesis thread: run on the app's loop and wait."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    async def send(self, case: Case) -> httpx.Response:
        session = self.tokens
        if case.path in ENDS_SESSIONS:
            session = await login(self.client, self.wallet)
        elif case.path.startswith(ADMIN_ROUTES):
            session = self.admin
        kwargs = case.as_transport_kwargs(base_url=AUTH_URI, headers=bearer(session))
        kwargs.pop("base_url", None)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):
            kwargs["content"] = kwargs.pop("data")
        response = await self.client.request(**kwargs)
        ended = ("/api/auth/logout-all", ENDS_USERS_SESSIONS)
        if case.path in ended and response.status_code == 200:
            self.tokens = await login(self.client, self.wallet)
        return response

    def check(self, case: Case, mode: GenerationMode) -> None:
        response = self.run(self.send(case))
        with self.lock:
            self.cases += 1
            status = response.status_code
            self.statuses[status] = self.statuses.get(status, 0) + 1
            key = f"{case.operation.label} {mode.value}"
            self.by_operation.setdefault(key, {}).setdefault(status, 0)
            self.by_operation[key][status] += 1
        case.validate_response(
            response,
            checks=NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else CHECKS,
        )


def fuzz_operation(
    fuzzer: Fuzzer,
    operation: Operation,
    mode: GenerationMode,
    path_parameters: dict[str, Any] | None = None,
) -> str | None:
    """Run one operation's examples in this (worker) thread; the failure, if any."""
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=path_parameters
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def examples(case: Case) -> None:
        fuzzer.check(case, mode)

    try:
        examples()
    except (Exception, BaseExceptionGroup) as error:
        where = f" with {path_parameters}" if path_parameters else ""
        return f"{operation.label} [{mode.value}]{where}: {error}"
    return None


def runs(
    operation: Operation, owned: dict[str, str]
) -> list[tuple[GenerationMode, dict[str, Any] | None]]:
    """Generated ids are almost never real: routes taking an id get a run with
    the id of something the user owns too, to reach their success answers."""
    found: list[tuple[GenerationMode, dict[str, Any] | None]] = [
        (mode, None) for mode in modes(operation)
    ]
    names = {parameter.name for parameter in operation.path_parameters}
    if names:
        assert names <= owned.keys(), f"{operation.label}: no owned {names}"
        found.append((GenerationMode.POSITIVE, {n: owned[n] for n in names}))
    return found


async def test_every_endpoint_survives_generated_requests(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(container, manage_lifespan=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
        wallet, tokens = await create_funded_escrow(client, container, deposit="100")
        subscribed = await subscribe(client, tokens, "basic")
        assert subscribed.status_code == 201, subscribed.text
        listed = await client.get("/api/escrow/transactions", headers=bearer(tokens))
        receipts = await client.get(
            "/api/subscriptions/receipts", headers=bearer(tokens)
        )
        hook = await container.events.create_webhook(
            Actor.cli(), "http://127.0.0.1:9/fuzz", []
        )
        (event, *_) = await container.events.recent_events(1)
        linked = await link_wallet(client, tokens, Wallet())
        assert linked.status_code == 201, linked.text
        owned = {
            "user_id": tokens["user"]["id"],
            "transaction_id": listed.json()[0]["id"],
            "subscription_id": subscribed.json()["id"],
            "receipt_id": receipts.json()[0]["id"],
            "webhook_id": str(hook.id),
            "event_id": str(event.id),
            "address": linked.json()["wallet_address"],
        }
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
        operations = [ok(result) for result in schema.get_all_operations()]
        assert len(operations) == sum(
            len(methods) for methods in schema.raw_schema["paths"].values()
        )
        assert len(operations) >= 30
        admin = await create_admin(client, container)
        loop = asyncio.get_running_loop()
        fuzzer = Fuzzer(client, wallet, tokens, loop, admin)
        failures = []
        for operation in operations:
            if any(p.name == "session_id" for p in operation.path_parameters):
                # Opened now: logout-all, walked before, ends every session.
                owned["session_id"] = session_of(await login(client, wallet))
            for mode, path_parameters in runs(operation, owned):
                failure = await asyncio.to_thread(
                    fuzz_operation, fuzzer, operation, mode, path_parameters
                )
                if failure is not None:
                    failures.append(failure)
    if "FUZZ_EXAMPLES" in os.environ:  # `make fuzz`: say what was covered
        with capsys.disabled():
            for key, seen in fuzzer.by_operation.items():
                print(f"  {key}: {dict(sorted(seen.items()))}")
            print(
                f"fuzz: {len(operations)} operations, {fuzzer.cases} cases, "
                f"statuses {dict(sorted(fuzzer.statuses.items()))}"
            )
    assert not failures, "\n\n".join(failures)
    assert fuzzer.cases >= len(operations)
    assert all(status < 500 for status in fuzzer.statuses)
