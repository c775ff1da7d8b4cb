"""The books after a soak: every sent transaction settled, each wallet's
ledger equal to its escrow on chain, no balance ever negative, no period
charged twice, no transaction with two ledger entries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
from soak_sim import Sim, Stats, units, usdc

# --- the books -------------------------------------------------------------------


async def pending(dsn: str, wanted: Callable[[int], bool], seconds: float) -> int:
    """How many sent transactions are not final, once `wanted` of that count
    or after `seconds`."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + seconds
        while True:
            count = int(
                await connection.fetchval(
                    "SELECT count(*) FROM escrow_transactions WHERE status = 'pending'"
                )
            )
            if wanted(count) or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def settle(dsn: str, seconds: float) -> int:
    """Wait for every sent transaction to be final; returns how many are not."""
    return await pending(dsn, lambda count: count == 0, seconds)


async def chain_balance(sim: Sim) -> int | None:
    for _ in range(20):
        response = await sim.call(
            "GET /api/escrow/balance (books)", "GET", "/api/escrow/balance"
        )
        if response is not None and response.status_code == 401:
            await sim.refresh()
            continue
        if response is not None and response.status_code == 200:
            return units(response.json()["balance"])
        await asyncio.sleep(1)
    return None


async def check_books(dsn: str, sims: list[Sim], stats: Stats) -> list[str]:
    lines: list[str] = []
    connection = await asyncpg.connect(dsn)
    try:
        ledger = {
            row["wallet_address"]: int(row["total"])
            for row in await connection.fetch(
                "SELECT u.wallet_address, coalesce(sum(l.delta), 0) AS total "
                "FROM users u LEFT JOIN ledger_entries l ON l.user_id = u.id "
                "GROUP BY u.wallet_address"
            )
        }
        dipped = await connection.fetch(
            "SELECT user_id, min(running) AS lowest FROM ("
            " SELECT l.user_id, sum(l.delta) OVER ("
            "  PARTITION BY l.user_id ORDER BY t.confirmed_at, l.created_at, l.id"
            " ) AS running FROM ledger_entries l"
            " JOIN escrow_transactions t ON t.id = l.escrow_transaction_id"
            ") s GROUP BY user_id HAVING min(running) < 0"
        )
        double_charged = await connection.fetch(
            "SELECT subscription_id, kind, period_start, count(*) AS n "
            "FROM subscription_charges WHERE status <> 'failed' "
            "GROUP BY subscription_id, kind, period_start HAVING count(*) > 1"
        )
        double_entries = await connection.fetch(
            "SELECT escrow_transaction_id FROM ledger_entries "
            "GROUP BY escrow_transaction_id HAVING count(*) > 1"
        )
        totals = {
            row["type"]: (int(row["n"]), int(row["amount"]))
            for row in await connection.fetch(
                "SELECT type, count(*) AS n, coalesce(sum(amount), 0) AS amount "
                "FROM escrow_transactions WHERE status = 'confirmed' GROUP BY type"
            )
        }
        charges = await connection.fetchval(
            "SELECT count(*) FROM subscription_charges WHERE status = 'confirmed'"
        )
    finally:
        await connection.close()

    matched = 0
    for sim in sims:
        if not sim.tokens:
            continue
        on_chain = await chain_balance(sim)
        in_ledger = ledger.get(sim.address, 0)
        if on_chain is None:
            stats.fail(f"wallet {sim.index}: balance unreadable")
        elif on_chain != in_ledger:
            books = f"ledger {usdc(in_ledger)} != chain {usdc(on_chain)}"
            stats.fail(f"wallet {sim.index}: {books}")
        elif on_chain < 0:
            stats.fail(f"wallet {sim.index}: negative balance {usdc(on_chain)}")
        else:
            matched += 1
    for row in dipped:
        stats.fail(f"user {row['user_id']}: ledger went to {usdc(row['lowest'])}")
    for row in double_charged:
        stats.fail(f"charged {row['n']} times: {dict(row)}")
    for row in double_entries:
        stats.fail(f"two ledger entries for {row['escrow_transaction_id']}")
    signed_up = sum(1 for sim in sims if sim.tokens)
    lines.append(f"ledger == chain: {matched} of {signed_up} wallets")
    lines.append(f"negative balances (ever): {len(dipped)}")
    lines.append(
        f"duplicate charges: {len(double_charged)}; "
        f"duplicate ledger entries: {len(double_entries)}; "
        f"Idempotency-Key replays: {stats.replays}"
    )
    confirmed = ", ".join(
        f"{kind} {n}" if kind == "initialize" else f"{kind} {n} ({usdc(amount)} USDC)"
        for kind, (n, amount) in sorted(totals.items())
    )
    lines.append(f"confirmed transactions: {confirmed}")
    lines.append(f"confirmed subscription charges: {charges}")
    return lines
