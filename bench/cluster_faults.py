"""The faults `make cluster-soak` injects, on a schedule over the soak, and
which failed answers each one excuses.

Each fault is done to real processes while the traffic goes on (the blocking
kill, start and probe run in threads): SIGKILL an API replica and start it
again; SIGKILL a worker while it has work in hand; restart PgBouncer (its
safe shutdown: transactions in flight finish); restart Redis (its data gone);
stop the chain node for 10 s (it saves its state on SIGTERM, as `pourtier
localnet` does) and start it again.

What a fault may cost the clients, and nothing more:
- a killed replica: the requests in flight on it at the kill (nginx answers
  them 502; it does not pass a POST already sent to the other replica);
- the chain stopped: answers that say the chain is unreachable (503), for
  requests in flight while it was down; the service reads balances from the
  chain, its source of truth, and will not guess them;
- PgBouncer restarted: answers that say the database is unavailable (503),
  for requests whose transaction it was running when it stopped (each rolled
  back whole). Requests that start after it is gone wait for the new one
  (the service retries refused connections for 3 s and replaces the pooled
  connections the old one closed) and succeed;
- Redis restarted and a worker killed: none. The service carries on without
  Redis, and the other worker takes the work.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from soak_books import pending
from soak_sim import Sample

if TYPE_CHECKING:
    from cluster import Cluster

CHAIN_DOWN_SECONDS = 10.0
ROUND_SECONDS = 120.0
"""A soak this long or longer has its faults again in every such round."""
NOTICE_SECONDS = 0.1
"""How long nginx may take to notice a dead replica's kept-alive connection."""
CHAIN_GRACE_SECONDS = 3.0
"""After the chain is back, the answers already on their way may still say so."""


@dataclass
class Fault:
    name: str
    began: float = 0.0  # monotonic: the kill, or the start of the outage
    ended: float = 0.0  # monotonic: the process answering again
    detail: str = ""
    dead: float = 0.0  # monotonic: a killed process gone
    address: str = ""  # host:port of a killed replica

    @property
    def seconds(self) -> float:
        return self.ended - self.began


@dataclass
class Faults:
    cluster: Cluster
    direct_url: str
    done: list[Fault]

    async def kill_replica(self, name: str) -> Fault:
        replica = self.cluster.services[name]
        fault = Fault(f"SIGKILL {name}, start it again", time.monotonic())
        fault.address = replica.url.removeprefix("http://")
        await asyncio.to_thread(replica.kill)
        fault.dead = time.monotonic()
        await asyncio.to_thread(replica.start)
        await asyncio.to_thread(replica.wait_ready)
        return fault

    async def kill_worker(self, name: str) -> Fault:
        """When a sent transaction waits for a worker, so that the kill lands
        while there is work in hand (a pass runs every fraction of a second)."""
        worker = self.cluster.services[name]
        waited = await pending(self.direct_url, lambda count: count > 0, 10.0)
        fault = Fault(f"SIGKILL {name} mid-pass, start it again", time.monotonic())
        fault.detail = f"{waited} transactions pending at the kill"
        await asyncio.to_thread(worker.kill)
        await asyncio.to_thread(worker.start)
        await asyncio.to_thread(worker.wait_ready)
        return fault

    async def restart(self, name: str, stop_signal: int | None = None) -> Fault:
        service = self.cluster.services[name]
        fault = Fault(f"restart {name}", time.monotonic())
        await asyncio.to_thread(service.restart, stop_signal)
        return fault

    async def stop_chain(self) -> Fault:
        chain = self.cluster.services["chain"]
        fault = Fault(f"stop the chain node {CHAIN_DOWN_SECONDS:g} s", time.monotonic())
        await asyncio.to_thread(chain.stop)
        await asyncio.sleep(CHAIN_DOWN_SECONDS)
        await asyncio.to_thread(chain.start)
        await asyncio.to_thread(chain.wait_ready)
        return fault

    def schedule(
        self, round: int
    ) -> list[tuple[float, Callable[[], Awaitable[Fault]]]]:
        """When (a fraction of the round) and what; rounds take turns at
        which replica and which worker die."""
        one = f"{1 + round % 2}"
        return [
            (0.15, lambda: self.kill_replica(f"replica{one}")),
            (0.30, lambda: self.kill_worker(f"worker{one}")),
            # Not its safe shutdown: that holds new transactions until the
            # running ones end (the relays' take a webhook's round trip),
            # then drops every one it held; a plain stop drops only those
            # running at that instant.
            (0.45, lambda: self.restart("pgbouncer", signal.SIGTERM)),
            (0.60, lambda: self.restart("redis")),
            (0.70, self.stop_chain),
        ]

    def rounds(self, duration: float) -> int:
        return max(1, int(duration // ROUND_SECONDS))

    async def run(self, started: float, duration: float) -> None:
        """Round after round (one per ROUND_SECONDS of the soak, at least
        one); within a round, a fault starts once the previous one is over
        (on a busy machine a replica may take half a minute to be back)."""
        rounds = self.rounds(duration)
        length = duration / rounds
        for round in range(rounds):
            begins = started + round * length
            for fraction, action in self.schedule(round):
                when = begins + fraction * length
                await asyncio.sleep(max(0.0, when - time.monotonic()))
                fault = await action()
                fault.ended = time.monotonic()
                self.done.append(fault)
                detail = f"; {fault.detail}" if fault.detail else ""
                print(
                    f"[soak] fault at {fault.began - started:5.1f} s: {fault.name} "
                    f"(back in {fault.seconds:.1f} s){detail}",
                    flush=True,
                )


def excuse(sample: Sample, faults: list[Fault]) -> str | None:
    """The fault that explains this failed answer, or None: a broken promise."""
    for fault in faults:
        if fault.address:
            # Sent to it before it was gone; nginx does not pass a POST it
            # has sent on to the other replica (a GET it does).
            on_it = fault.address in sample.upstream
            sent = sample.started <= fault.dead + NOTICE_SECONDS
            if (
                on_it
                and sent
                and sample.ended >= fault.began
                and sample.status == "502"
            ):
                return "in flight on the killed replica"
        if fault.name == "restart pgbouncer":
            in_flight = sample.started <= fault.ended and sample.ended >= fault.began
            unavailable = "database is unavailable" in sample.detail
            if in_flight and sample.status == "503" and unavailable:
                return "in flight at the PgBouncer restart"
        if fault.name.startswith("stop the chain"):
            during = (
                sample.ended >= fault.began
                and sample.started <= fault.ended + CHAIN_GRACE_SECONDS
            )
            chain = "chain is unreachable" in sample.detail or (
                "solana node unreachable" in sample.detail
            )
            if during and sample.status == "503" and chain:
                return "the chain was down"
    return None
