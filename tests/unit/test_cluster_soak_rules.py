"""The rules `make cluster-soak` judges by: which failed answers a fault
excuses (and which it must not), and the webhook receiver's signature check
against the service's own signer."""

from __future__ import annotations

from base64 import b64encode

from cluster_faults import CHAIN_GRACE_SECONDS, Fault, excuse
from cluster_soak_checks import Receiver
from soak_sim import Sample

from pourtier.infrastructure.events.webhooks import signature

KILLED = "127.0.0.1:8081"
OTHER = "127.0.0.1:8082"
DB_DOWN = '{"detail":"the database is unavailable; retry in a moment"}'
CHAIN_DOWN = '{"detail":"solana node unreachable: getAccountInfo: refused"}'


def replica_kill() -> Fault:
    return Fault("SIGKILL replica1", began=10.0, ended=30.0, dead=10.05, address=KILLED)


def sample(status: str, started: float, ended: float, **kw: str) -> Sample:
    return Sample("POST /x", status, started, ended, **kw)


def test_a_502_in_flight_on_the_killed_replica_is_excused() -> None:
    assert excuse(sample("502", 9.9, 10.1, upstream=KILLED), [replica_kill()])


def test_a_502_from_the_killed_replica_long_after_it_died_is_not() -> None:
    # nginx had seen it gone: it should have sent this one to the other.
    assert excuse(sample("502", 11.0, 11.1, upstream=KILLED), [replica_kill()]) is None


def test_a_502_from_the_replica_that_was_not_killed_is_not() -> None:
    assert excuse(sample("502", 9.9, 10.1, upstream=OTHER), [replica_kill()]) is None


def test_a_503_of_the_database_is_excused_only_during_the_pooler_restart() -> None:
    restart = Fault("restart pgbouncer", began=20.0, ended=20.3)
    assert excuse(sample("503", 19.9, 20.1, detail=DB_DOWN), [restart])
    assert excuse(sample("503", 21.0, 21.1, detail=DB_DOWN), [restart]) is None
    # During the restart, but not the database's answer.
    assert excuse(sample("500", 19.9, 20.1, detail=DB_DOWN), [restart]) is None


def test_a_503_of_the_chain_is_excused_only_while_it_was_down() -> None:
    outage = Fault("stop the chain node 10 s", began=40.0, ended=52.0)
    assert excuse(sample("503", 39.9, 40.2, detail=CHAIN_DOWN), [outage])
    late = 52.0 + CHAIN_GRACE_SECONDS + 0.5
    assert excuse(sample("503", late, late + 0.1, detail=CHAIN_DOWN), [outage]) is None
    assert excuse(sample("503", 45.0, 45.1, detail=DB_DOWN), [outage]) is None


def test_a_429_is_not_a_failure_and_a_4xx_is_never_excused() -> None:
    assert not sample("429", 1, 2).failed
    refused = sample("409", 45.0, 45.1, detail="chain is unreachable")
    assert refused.failed
    everything = [replica_kill(), Fault("stop the chain node", 40.0, 52.0)]
    assert excuse(refused, everything) is None


def test_the_receiver_accepts_the_services_signature_and_counts_a_forgery() -> None:
    secret = "whsec_" + b64encode(b"k" * 32).decode()
    receiver = Receiver(secret=secret)
    body = b'{"type":"user.registered"}'
    signed = signature(secret, "evt_1", 1_700_000_000, body)
    headers = {
        "Webhook-Id": "evt_1",
        "Webhook-Timestamp": "1700000000",
        "Webhook-Signature": signed,
    }
    receiver.receive(headers, body)
    receiver.receive({**headers, "Webhook-Id": "evt_2"}, body)  # not what was signed
    assert receiver.ids == {"evt_1"}
    assert receiver.forged == 1
