"""`make cluster-soak`: many wallets through the cluster's load balancer for
`--duration` seconds while faults are injected, then every promise checked.

Starts `make cluster` (fresh directory, fresh database, its own chain and
Redis), registers an admin and a webhook to a receiver of its own, and drives
nginx with `--wallets` simulated users (bench/soak_sim.py: sign-ups,
sign-ins, reads, deposits, withdrawals, subscriptions, plan changes,
cancellations). Meanwhile bench/cluster_faults.py kills a replica, kills a
worker mid-pass, restarts PgBouncer and Redis, and stops the chain for 10 s.

Then it checks and prints: each acknowledged write is there; the books (each
wallet's ledger equals its escrow on chain, no balance ever negative, no
period charged twice; the treasury holds exactly the confirmed charges);
every event reached the webhook; the answers by status, where each failed
answer must be excused by a fault (cluster_faults.excuse); p50/p99 through
nginx; Prometheus' request rate against the clients'. Exits 1 on any broken
promise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
from cluster import Cluster
from cluster_config import Layout
from cluster_faults import Fault, Faults, excuse
from cluster_soak_checks import (
    Check,
    Receiver,
    acknowledged,
    events_delivered,
    prometheus_rate,
    treasury,
)
from soak_books import check_books, settle
from soak_sim import Sample, Sim, Stats
from solders.keypair import Keypair

DATABASE = "pourtier_cluster_soak"


def say(text: str) -> None:
    print(f"[soak] {text}", flush=True)


async def fresh_database(postgres_url: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def webhook(admin: Sim, receiver: Receiver) -> float:
    """The admin's endpoint for every event type; returns when it exists."""
    url = receiver.start()
    made = await admin.call(
        "POST /api/admin/webhooks", "POST", "/api/admin/webhooks", json={"url": url}
    )
    if made is None or made.status_code != 201:
        raise SystemExit(f"could not add the webhook: {made and made.text}")
    receiver.secret = made.json()["secret"]
    return time.time()


def percentile(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if values
        else 0.0
    )


def judge(
    samples: list[Sample], faults: list[Fault], started: float
) -> tuple[Counter[str], list[str]]:
    """Failed answers, each excused by a fault or listed as broken (with
    when it was sent and answered, in seconds into the soak)."""
    excused: Counter[str] = Counter()
    broken: list[str] = []
    for sample in samples:
        if not sample.failed:
            continue
        why = excuse(sample, faults)
        if why is None:
            when = f"{sample.started - started:.1f}-{sample.ended - started:.1f} s"
            broken.append(
                f"{when} {sample.upstream or '-'} {sample.label} -> {sample.status} "
                f"{sample.detail[:160]}"
            )
        else:
            excused[why] += 1
    return excused, broken


async def soak(
    cluster: Cluster, admin_key: Keypair, duration: float, wallets: int
) -> bool:
    dsn = cluster.layout.direct_url()
    stats = Stats()
    receiver = Receiver()
    limits = httpx.Limits(max_connections=wallets, max_keepalive_connections=wallets)
    async with httpx.AsyncClient(
        base_url=cluster.balancer_url, limits=limits, timeout=60
    ) as client:
        documents = [d["id"] for d in (await client.get("/api/legal/documents")).json()]
        admin = Sim(0, client, stats, documents, keypair=admin_key)
        if not await admin.sign_up():
            raise SystemExit(f"the admin could not sign up: {stats.errors}")
        since = await webhook(admin, receiver)
        sims = [Sim(i + 1, client, stats, documents) for i in range(wallets)]
        faults = Faults(cluster, dsn, [])
        say(f"{wallets} wallets for {duration:g} s, faults on a schedule")
        wall, started = time.time(), time.monotonic()
        # The traffic goes on until every fault is over, and 5 s more.
        deadline = [started + duration]

        async def inject() -> None:
            await faults.run(started, duration)
            deadline[0] = max(deadline[0], time.monotonic() + 5)

        await asyncio.gather(*(sim.run(lambda: deadline[0]) for sim in sims), inject())
        ended = time.monotonic()
        say("traffic stopped; waiting for transactions to settle")
        unsettled = await settle(dsn, 90)
        if unsettled:
            stats.fail(f"{unsettled} transactions still pending after 90 s")
        traffic = list(stats.samples)
        books = await check_books(dsn, sims, stats)
        checks: list[Check] = []
        checks += await acknowledged(dsn, stats.acked, len(documents))
        checks.append(
            await treasury(
                dsn, cluster.directory / "data", cluster.services["chain"].url
            )
        )
        checks.append(await events_delivered(dsn, receiver, since, 90))
        await asyncio.sleep(5)  # two more scrapes
        checks.append(
            await prometheus_rate(
                cluster.prometheus_url, traffic, wall, started, (started + 5, ended)
            )
        )
    planned = 5 * faults.rounds(duration)
    done = len(faults.done)
    checks.append(("every fault done", done == planned, f"{done} of {planned}"))
    return report(stats, traffic, faults.done, books, checks, started, ended, wallets)


def report(
    stats: Stats,
    traffic: list[Sample],
    faults: list[Fault],
    books: list[str],
    checks: list[Check],
    started: float,
    ended: float,
    wallets: int,
) -> bool:
    elapsed = ended - started
    served = [s for s in traffic if s.status.isdigit()]
    statuses = Counter(s.status for s in traffic)
    excused, broken = judge(traffic, faults, started)
    latencies = sorted(s.ended - s.started for s in served)
    print(f"cluster soak: {wallets} wallets, {elapsed:.0f} s, through nginx")
    print(f"requests served: {len(served)} ({len(served) / elapsed:.0f}/s)")
    print(
        "answers by status: "
        + ", ".join(f"{k}: {n}" for k, n in sorted(statuses.items()))
    )
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"latency through nginx: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    print("faults:")
    for fault in faults:
        at = fault.began - started
        print(f"  at {at:5.1f} s {fault.name}: back in {fault.seconds:.1f} s")
    print(
        "failed answers excused by a fault: "
        + (", ".join(f"{why}: {n}" for why, n in sorted(excused.items())) or "none")
    )
    print(f"failed answers not excused: {len(broken)}")
    for line in broken[:20]:
        print(f"  {line}")
    print("books:")
    for line in books:
        print(f"  {line}")
    for line in stats.failures[:20]:
        print(f"  FAIL {line}")
    print("checks:")
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    passed = (
        not broken
        and not stats.statuses["check-failed"]
        and all(ok for _, ok, _ in checks)
    )
    print("PASS" if passed else "FAIL")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--wallets", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=Path(".pourtier/cluster-soak"))
    parser.add_argument("--free-ports", action="store_true", help="any free ports")
    args = parser.parse_args()
    directory = args.dir.resolve()
    shutil.rmtree(directory, ignore_errors=True)  # a fresh chain and Redis
    postgres_url = os.environ.get(
        "CLUSTER_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    asyncio.run(fresh_database(postgres_url, DATABASE))
    layout = (
        Layout.free_ports(directory, postgres_url=postgres_url, database=DATABASE)
        if args.free_ports
        else Layout(directory, postgres_url=postgres_url, database=DATABASE)
    )
    admin = Keypair()
    cluster = Cluster(layout, settings={"ADMIN_WALLETS": f'["{admin.pubkey()}"]'})
    with cluster:
        passed = asyncio.run(soak(cluster, admin, args.duration, args.wallets))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
