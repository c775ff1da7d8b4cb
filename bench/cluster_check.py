"""`make cluster`'s `--check`: a sign-in through the load balancer, every
process's metrics, and Prometheus' view of its targets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
from solders.keypair import Keypair

if TYPE_CHECKING:
    from cluster import Cluster

TARGETS_SECONDS = 20.0


def _result(name: str, ok: bool, detail: str = "") -> bool:
    print(f"  {'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else ""))
    return ok


def sign_in(base: str) -> tuple[bool, str]:
    """nonce, register, nonce, login, GET /api/users/me: through nginx."""
    wallet = Keypair()
    address = str(wallet.pubkey())
    with httpx.Client(base_url=base, timeout=30) as client:

        def signed() -> dict[str, str]:
            nonce = client.post("/api/auth/nonce", json={"wallet_address": address})
            nonce.raise_for_status()
            message = nonce.json()["message"]
            signature = wallet.sign_message(message.encode("utf-8"))
            return {
                "wallet_address": address,
                "message": message,
                "signature": str(signature),
            }

        documents = [d["id"] for d in client.get("/api/legal/documents").json()]
        registered = client.post(
            "/api/auth/register",
            json={**signed(), "accepted_document_ids": documents},
        )
        if registered.status_code != 201:
            return False, f"register: {registered.status_code} {registered.text}"
        login = client.post("/api/auth/login", json=signed())
        if login.status_code != 200:
            return False, f"login: {login.status_code} {login.text}"
        token = login.json()["access_token"]
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        if me.status_code != 200 or me.json().get("wallet_address") != address:
            return False, f"/api/users/me: {me.status_code} {me.text}"
    return True, f"wallet {address[:8]}… signed in, /api/users/me answered"


def metrics_answer(url: str, family: str) -> tuple[bool, str]:
    answer = httpx.get(f"{url}/metrics", timeout=5)
    ok = answer.status_code == 200 and family in answer.text
    return ok, f"{answer.status_code}, {len(answer.text)} bytes"


def targets_up(prometheus: str, expected: int) -> tuple[bool, str]:
    """Waits (scrapes are every second) until Prometheus reports every target up."""
    deadline = time.monotonic() + TARGETS_SECONDS
    while True:
        answer = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()
        active = answer["data"]["activeTargets"]
        health = {t["scrapeUrl"]: t["health"] for t in active}
        up = [url for url, state in health.items() if state == "up"]
        if len(up) == expected == len(health):
            return True, f"{len(up)} of {expected} up"
        if time.monotonic() > deadline:
            return False, ", ".join(f"{u}: {h}" for u, h in sorted(health.items()))
        time.sleep(0.5)


def check(cluster: Cluster) -> bool:
    print("check:")
    results = []
    try:
        results.append(_result("sign-in", *sign_in(cluster.balancer_url)))
    except (httpx.HTTPError, ValueError, KeyError) as error:
        results.append(_result("sign-in", False, repr(error)))
    for service in cluster.replicas():
        found = metrics_answer(service.url, "pourtier_http_requests_total")
        results.append(_result(f"{service.name} /metrics", *found))
    for service in cluster.workers():
        found = metrics_answer(service.url, "pourtier_worker_last_pass")
        results.append(_result(f"{service.name} /metrics", *found))
    expected = len(cluster.replicas()) + len(cluster.workers())
    results.append(
        _result("Prometheus targets", *targets_up(cluster.prometheus_url, expected))
    )
    passed = all(results)
    print("PASS" if passed else "FAIL")
    return passed
