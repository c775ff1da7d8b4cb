"""Receipt numbers and explorer links, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial

from pourtier.domain.receipts import Receipt, explorer_url
from pourtier.domain.subscriptions import ChargeKind, PlanName

SIGNATURE = "5" * 88
TX = f"https://explorer.solana.com/tx/{SIGNATURE}"


def test_mainnet_links_to_the_explorer_without_a_cluster() -> None:
    assert explorer_url("mainnet", SIGNATURE, None) == TX
    assert explorer_url("mainnet", SIGNATURE, "https://rpc.example") == TX


def test_devnet_and_testnet_name_their_cluster() -> None:
    assert explorer_url("devnet", SIGNATURE, None) == f"{TX}?cluster=devnet"
    assert explorer_url("testnet", SIGNATURE, None) == f"{TX}?cluster=testnet"


def test_localnet_points_the_explorer_at_the_node_or_gives_no_link() -> None:
    assert explorer_url("localnet", SIGNATURE, "http://127.0.0.1:8899") == (
        f"{TX}?cluster=custom&customUrl=http%3A%2F%2F127.0.0.1%3A8899"
    )
    assert explorer_url("localnet", SIGNATURE, None) is None


def test_the_container_binds_the_configured_cluster() -> None:
    explorer = partial(explorer_url, "testnet", rpc_url=None)
    assert explorer(SIGNATURE) == f"{TX}?cluster=testnet"


def test_numbers_are_the_sequence_zero_padded_to_six_digits() -> None:
    now = datetime.now(UTC)
    receipt = Receipt(
        sequence=123,
        user_id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        charge_id=uuid.uuid4(),
        kind=ChargeKind.INITIAL,
        plan=PlanName.BASIC,
        period_start=now,
        period_end=now,
        amount=1,
        signature=SIGNATURE,
        issued_at=now,
    )
    assert receipt.number == "PT-000123"
    assert Receipt(**{**vars(receipt), "sequence": 1_234_567}).number == "PT-1234567"
