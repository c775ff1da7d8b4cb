"""A `pourtier worker` SIGKILLed mid-delivery loses no event.

Events are committed (about many subjects, to a webhook endpoint and to
Courier), a worker process starts relaying them to a receiver that holds its
answers, and is killed -9 with requests in flight and more events committed
meanwhile. A fresh worker then delivers everything: every committed event
reaches each sink at least once, each subject's events in order among their
first arrivals. The numbers are printed (`-s`) for the issue's note.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pourtier.di.container import Container
from pourtier.domain.events import Event
from tests.conftest import Serve
from tests.delivery_helpers import commit_events, endpoint, new_subject, statuses
from tests.support.processes import COMMAND, process_env
from tests.support.receiver import running_receiver
from tests.support.rpc_server import running_rpc_server

SUBJECTS = 15
EVENTS_BEFORE = 3
EVENTS_DURING = 2


async def until(condition: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def start_worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            *COMMAND, "worker", env=env, stdout=output, stderr=output
        )


async def test_a_worker_killed_mid_delivery_loses_no_event(
    container: Container,
    serve: Serve,
    database_url: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    with running_receiver() as receiver, running_rpc_server() as node:
        hook = await endpoint(container, receiver.url + "/hook")
        env = process_env(
            database_url,
            tmp_path / "worker",
            COURIER_URL=receiver.url,
            EVENT_DELIVERY_TIMEOUT_SECONDS="60",
            SOLANA_RPC_URL=node.url,
            FEE_AUTHORITY_KEYPAIR=str(node.chain.keys["fee_authority"]),
            USDC_MINT=str(node.chain.mint),
            TREASURY_TOKEN_ACCOUNT=str(node.chain.treasury),
        )
        subjects = [new_subject() for _ in range(SUBJECTS)]
        committed: list[Event] = []
        worker = None
        try:
            async with serve(COURIER_URL=receiver.url) as app:
                for subject in subjects:
                    committed += await commit_events(app, subject, EVENTS_BEFORE)
                receiver.hold = True
                worker = await start_worker(env, log)
                await until(lambda: receiver.waiting > 0, "a held delivery", 90)
                for subject in subjects:  # committed while deliveries hang
                    committed += await commit_events(app, subject, EVENTS_DURING)
                await asyncio.sleep(0.2)  # let the worker send all it claimed
                in_flight = receiver.waiting
                worker.send_signal(signal.SIGKILL)
                assert await asyncio.wait_for(worker.wait(), 10) == -signal.SIGKILL
                receiver.hold = False  # the dead worker never hears the answers
                worker = await start_worker(env, log)
                expected = {"delivered": 2 * len(committed)}
                deadline = time.monotonic() + 120
                while await statuses(container) != expected:
                    assert time.monotonic() < deadline, (
                        await statuses(container),
                        log.read_text(errors="replace")[-3000:],
                    )
                    await asyncio.sleep(0.1)
        finally:
            if worker is not None and worker.returncode is None:
                worker.kill()
                await worker.wait()
        got = receiver.accepted()
    assert hook.id
    ids = {str(e.id) for e in committed}
    webhook = Counter(r.json()["id"] for r in got if r.path == "/hook")
    courier = Counter(r.json()["id"] for r in got if r.path.startswith("/publish/"))
    duplicates = sum(n - 1 for n in webhook.values()) + sum(
        n - 1 for n in courier.values()
    )
    print(
        f"\ncrash test: {len(committed)} events committed, "
        f"{2 * len(committed)} deliveries due (webhook + Courier), "
        f"{in_flight} in flight at the SIGKILL, {len(got)} received, "
        f"{duplicates} duplicates, {len(ids - set(webhook))} missing at the "
        f"webhook, {len(ids - set(courier))} missing at Courier"
    )
    assert set(webhook) == ids
    assert set(courier) == ids
    sinks: list[Callable[[str], bool]] = [
        lambda path: path == "/hook",
        lambda path: path.startswith("/publish/"),
    ]
    for path_is in sinks:
        for subject in subjects:
            first_seen: list[int] = []
            for r in got:
                body = r.json()
                mine = path_is(r.path) and body["subject"]["id"] == subject
                if mine and body["sequence"] not in first_seen:
                    first_seen.append(body["sequence"])
            assert first_seen == sorted(first_seen), (subject, first_seen)
