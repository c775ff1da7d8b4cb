"""The local chain's transaction history: bounded, persisted, never phantom."""

from __future__ import annotations

from pathlib import Path

from pourtier.infrastructure.solana.chain_history import ChainHistory
from pourtier.infrastructure.solana.node import (
    ChainTransaction,
    HistoryPage,
    TokenBalance,
)


def record(n: int, *keys: str) -> ChainTransaction:
    return ChainTransaction(
        signature=f"sig{n}",
        slot=n,
        block_time=1_700_000_000 + n,
        error=None,
        transaction=bytes([n]),
        account_keys=list(keys),
        pre_token_balances=[TokenBalance(1, "mint", "owner", n, 6)],
        post_token_balances=[TokenBalance(1, "mint", "owner", n + 1, 6)],
    )


def signatures(
    history: ChainHistory,
    address: str,
    before: str | None = None,
    until: str | None = None,
) -> list[str]:
    found = history.signatures_for_address(address, HistoryPage(before, until))
    return [info.signature for info in found]


def test_newest_first_between_before_and_until() -> None:
    history = ChainHistory(None)
    for n in range(6):
        history.record(record(n, "payer", "escrow" if n % 2 else "other"))
    assert signatures(history, "escrow") == ["sig5", "sig3", "sig1"]
    assert signatures(history, "escrow", until="sig1") == ["sig5", "sig3"]
    assert signatures(history, "escrow", before="sig5") == ["sig3", "sig1"]
    assert signatures(history, "payer", before="sig4", until="sig1") == [
        "sig3",
        "sig2",
    ]
    assert [
        i.signature
        for i in history.signatures_for_address("payer", HistoryPage(limit=2))
    ] == [
        "sig5",
        "sig4",
    ]
    assert signatures(history, "nobody") == []
    assert history.transaction("sig3") == record(3, "payer", "escrow")
    assert history.transaction("sig9") is None


def test_only_the_newest_are_kept_and_the_file_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = ChainHistory(path, limit=3)
    for n in range(20):
        history.record(record(n, "escrow"))
    assert signatures(history, "escrow") == ["sig19", "sig18", "sig17"]
    assert history.transaction("sig16") is None
    assert len(path.read_text().splitlines()) <= 2 * 3 + 1

    again = ChainHistory(path, limit=3)
    again.load({f"sig{n}" for n in range(20)})
    assert signatures(again, "escrow") == ["sig19", "sig18", "sig17"]
    assert again.transaction("sig18") == record(18, "escrow")


def test_a_restart_forgets_what_did_not_execute_and_a_torn_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.jsonl"
    history = ChainHistory(path)
    for n in range(3):
        history.record(record(n, "escrow"))
    with path.open("a") as file:
        file.write('{"signature": "sig3", "slot"')  # cut short by a crash

    # sig2 was written here, but the crash came before its outcome was saved.
    again = ChainHistory(path)
    again.load({"sig0", "sig1"})
    assert signatures(again, "escrow") == ["sig1", "sig0"]
    again.record(record(3, "escrow"))

    third = ChainHistory(path)
    third.load({"sig0", "sig1", "sig3"})
    assert signatures(third, "escrow") == ["sig3", "sig1", "sig0"]
