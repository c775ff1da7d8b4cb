"""Every route that takes an id, asked with another user's id, answers 404;
every admin route answers a plain user 403, whatever it names.

The routes come from the app's own route table, not from a list kept here: a
new route with a path parameter is walked too, and fails this test until the
test knows what real resource to name in it. User A owns one of each kind of
resource; user B, signed in and compliant, asks for each by A's id with every
method the route has. Each answer must be the same 404 an unknown id gets,
without a trace of A's data, and A's resources must be untouched afterwards.

Routes under /api/admin/ are the one place other users' data is read: each
answers 401 without a token and 403 to B (a plain user), with nothing of A
in the answer and nothing changed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from pourtier.presentation.responses import api_routes
from tests.helpers import bearer, create_user, link_wallet
from tests.integration.test_sessions import session_of
from tests.subscription_helpers import get_subscription, subscribe
from tests.support.escrow import create_funded_escrow

# Which of A's resources fills each path parameter.
RESOURCE_OF_PARAMETER = {
    "user_id": "user",
    "transaction_id": "escrow_transaction",
    "subscription_id": "subscription",
    "receipt_id": "receipt",
    "session_id": "session",
    "address": "linked_wallet",
    # Admin routes only: refused before anything is looked up.
    "webhook_id": "user",
    "event_id": "user",
}
# The most harmful form of a request, where a route takes options.
QUERY = {("DELETE", "/api/subscriptions/{subscription_id}"): {"immediately": "true"}}
KNOWN_ID_ROUTES = {
    ("GET", "/api/users/{user_id}"),
    ("GET", "/api/escrow/transactions/{transaction_id}"),
    ("GET", "/api/subscriptions/{subscription_id}"),
    ("DELETE", "/api/subscriptions/{subscription_id}"),
    ("POST", "/api/subscriptions/{subscription_id}/resume"),
    ("GET", "/api/subscriptions/receipts/{receipt_id}"),
    ("GET", "/api/subscriptions/receipts/{receipt_id}.pdf"),
    ("DELETE", "/api/auth/sessions/{session_id}"),
    ("DELETE", "/api/users/me/wallets/{address}"),
}
ADMIN_PREFIX = "/api/admin/"
KNOWN_ADMIN_ROUTES = {
    ("GET", "/api/admin/users"),
    ("GET", "/api/admin/users/{user_id}"),
    ("POST", "/api/admin/users/{user_id}/sessions/revoke"),
    ("POST", "/api/admin/legal/documents"),
    ("GET", "/api/admin/audit"),
    ("POST", "/api/admin/webhooks"),
    ("GET", "/api/admin/webhooks"),
    ("POST", "/api/admin/webhooks/{webhook_id}/rotate-secret"),
    ("PATCH", "/api/admin/webhooks/{webhook_id}"),
    ("GET", "/api/admin/webhooks/{webhook_id}/deliveries"),
    ("POST", "/api/admin/events/{event_id}/redeliver"),
}
# A body the route would accept from an admin: the refusal is the role's.
ADMIN_BODY = {
    ("POST", "/api/admin/legal/documents"): {
        "document_type": "terms_of_service",
        "version": "9.9",
        "title": "Not by a plain user",
        "content": "Refused.",
    },
    ("POST", "/api/admin/webhooks"): {"url": "http://127.0.0.1:9/not-by-a-user"},
    ("PATCH", "/api/admin/webhooks/{webhook_id}"): {"enabled": False},
}


def all_routes(container: Container) -> list[tuple[str, str, list[str]]]:
    """(method, path template, parameter names) of every API route."""
    app = create_app(container, manage_lifespan=False)
    found: list[tuple[str, str, list[str]]] = []
    for route in api_routes(app):
        names = re.findall(r"{([^}:]+)(?::[^}]*)?}", route.path_format)
        methods = route.methods or set()
        found.extend((method, route.path_format, names) for method in methods)
    return sorted(found)


def id_routes(container: Container) -> list[tuple[str, str, list[str]]]:
    """Routes with a parameter, less the admin ones (their own test, below)."""
    return [
        (method, path, names)
        for method, path, names in all_routes(container)
        if names and not path.startswith(ADMIN_PREFIX)
    ]


def admin_routes(container: Container) -> list[tuple[str, str, list[str]]]:
    return [r for r in all_routes(container) if r[1].startswith(ADMIN_PREFIX)]


async def owned_resources(
    client: httpx.AsyncClient, container: Container
) -> tuple[dict[str, Any], dict[str, str]]:
    """User A with one resource of each kind; returns A's tokens and the ids."""
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    subscribed = await subscribe(client, tokens, "basic")
    assert subscribed.status_code == 201, subscribed.text
    listed = await client.get("/api/escrow/transactions", headers=bearer(tokens))
    assert listed.status_code == 200, listed.text
    receipts = await client.get("/api/subscriptions/receipts", headers=bearer(tokens))
    assert receipts.status_code == 200, receipts.text
    linked = await link_wallet(client, tokens, Wallet())
    assert linked.status_code == 201, linked.text
    return tokens, {
        "user": tokens["user"]["id"],
        "escrow_transaction": listed.json()[0]["id"],
        "subscription": subscribed.json()["id"],
        "receipt": receipts.json()[0]["id"],
        "session": session_of(tokens),
        "linked_wallet": linked.json()["wallet_address"],
    }


async def test_every_id_route_hides_other_users_resources(
    client: httpx.AsyncClient, container: Container
) -> None:
    routes = id_routes(container)
    walked = {(method, path) for method, path, _ in routes}
    assert walked >= KNOWN_ID_ROUTES, "the route walk missed known routes"

    unknown = [
        f"{method} {path}: {name}"
        for method, path, names in routes
        for name in names
        if name not in RESOURCE_OF_PARAMETER
    ]
    assert not unknown, (
        "routes with a path parameter this test cannot fill with another "
        f"user's resource (add it to RESOURCE_OF_PARAMETER): {unknown}"
    )

    owner, ids = await owned_resources(client, container)
    intruder = await create_user(client)
    subscription_before = await get_subscription(client, owner, ids["subscription"])

    for method, path, names in routes:
        values = {name: ids[RESOURCE_OF_PARAMETER[name]] for name in names}
        url = path.format(**values)
        params = QUERY.get((method, path))

        theirs = await client.request(
            method, url, params=params, headers=bearer(intruder)
        )
        assert theirs.status_code == 404, (method, url, theirs.text)
        assert theirs.headers["content-type"] == "application/json"
        body = theirs.json()
        assert isinstance(body["detail"], str), body
        assert set(body) == {"detail"}, body
        for value in values.values():
            assert value not in theirs.text
        assert ids["user"] not in theirs.text

        # The same as for an id that does not exist at all.
        nowhere = path.format(**{name: str(uuid.uuid4()) for name in names})
        unknown_answer = await client.request(
            method, nowhere, params=params, headers=bearer(intruder)
        )
        assert unknown_answer.status_code == 404
        assert unknown_answer.json() == body, (method, path)

    # Nothing B asked for changed A's resources, and A still sees each of them
    # (with the very session B named).
    sessions = await client.get("/api/auth/sessions", headers=bearer(owner))
    assert ids["session"] in [s["id"] for s in sessions.json()]
    wallets = await client.get("/api/users/me/wallets", headers=bearer(owner))
    assert ids["linked_wallet"] in [w["wallet_address"] for w in wallets.json()]
    assert await get_subscription(client, owner, ids["subscription"]) == (
        subscription_before
    )
    for method, path, names in routes:
        if method != "GET":
            continue
        values = {name: ids[RESOURCE_OF_PARAMETER[name]] for name in names}
        mine = await client.get(path.format(**values), headers=bearer(owner))
        assert mine.status_code == 200, (path, mine.text)
        if mine.headers["content-type"] == "application/pdf":  # a receipt's
            assert mine.content.startswith(b"%PDF-")
        else:
            assert mine.json()["id"] in values.values()


async def test_every_admin_route_refuses_a_plain_user(
    client: httpx.AsyncClient, container: Container
) -> None:
    routes = admin_routes(container)
    assert {(method, path) for method, path, _ in routes} >= KNOWN_ADMIN_ROUTES
    owner, ids = await owned_resources(client, container)
    intruder = await create_user(client)
    documents_before = (await client.get("/api/legal/documents")).json()
    me_before = (await client.get("/api/users/me", headers=bearer(owner))).json()

    for method, path, names in routes:
        url = path.format(**{n: ids[RESOURCE_OF_PARAMETER[n]] for n in names})
        body = ADMIN_BODY.get((method, path))
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url, anonymous.text)
        refused = await client.request(method, url, json=body, headers=bearer(intruder))
        assert refused.status_code == 403, (method, url, refused.text)
        assert refused.json() == {"detail": "this needs the admin role"}
        assert ids["user"] not in refused.text

    # Nothing was done: the owner is still signed in, documents unchanged.
    assert (await client.get("/api/legal/documents")).json() == documents_before
    assert (await client.get("/api/users/me", headers=bearer(owner))).json() == (
        me_before
    )
