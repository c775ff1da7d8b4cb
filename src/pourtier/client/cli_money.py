"""`pourtier client escrow ...`, `faucet`, `subscribe` and `subscription ...`:
each escrow transaction is prepared by the service, signed here, submitted,
then awaited until final behind a spinner."""

from __future__ import annotations

from typing import Annotated

import typer

from pourtier.client.api import PourtierClient
from pourtier.client.output import REFUSED, Output, errors, fail, note
from pourtier.client.runner import app, command
from pourtier.domain.subscriptions import PlanName, SubscriptionStatus
from pourtier.presentation.schemas.escrow import PreparedOut, TransactionOut
from pourtier.presentation.schemas.subscriptions import SubscriptionOut

escrow_app = typer.Typer(help="Your escrow (each transaction signed here).")
subscription_app = typer.Typer(help="Your subscription.", no_args_is_help=True)
app.add_typer(escrow_app, name="escrow", no_args_is_help=True)
app.add_typer(subscription_app, name="subscription")
WAIT_SECONDS = 120.0
AmountArgument = Annotated[str, typer.Argument(help="USDC, e.g. 25 or 12.5")]


async def settle(client: PourtierClient, prepared: PreparedOut) -> TransactionOut:
    """Sign, submit and wait for finality behind a spinner (on stderr)."""
    with errors.status(f"waiting for transaction {prepared.transaction_id}"):
        return await client.settle(prepared, WAIT_SECONDS)


@command(escrow_app, "init")
async def escrow_init(
    client: PourtierClient,
    out: Output,
    allowance: Annotated[
        str | None,
        typer.Option(help="USDC the service may charge (default: a year of Pro)."),
    ] = None,
) -> None:
    """Create your escrow account, approving the service's capped allowance."""
    out.record(await settle(client, await client.prepare_initialize(allowance)))


@command(escrow_app, "deposit")
async def escrow_deposit(
    client: PourtierClient, out: Output, amount: AmountArgument
) -> None:
    """Move USDC from your wallet into your escrow."""
    out.record(await settle(client, await client.prepare_deposit(amount)))


@command(escrow_app, "withdraw")
async def escrow_withdraw(
    client: PourtierClient, out: Output, amount: AmountArgument
) -> None:
    """Move USDC from your escrow back to your wallet."""
    out.record(await settle(client, await client.prepare_withdraw(amount)))


@command(escrow_app, "balance")
async def escrow_balance(client: PourtierClient, out: Output) -> None:
    """Balance and remaining allowance, as the service last read the chain."""
    out.record(await client.balance())


@command(escrow_app, "history")
async def escrow_history(
    client: PourtierClient,
    out: Output,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Your escrow transactions, newest first."""
    columns = ["created_at", "type", "amount", "status", "signature"]
    out.rows(await client.transactions(limit), columns, empty="no transactions")


@command(app)
async def faucet(client: PourtierClient, out: Output, amount: AmountArgument) -> None:
    """Development chain only: 1 SOL and AMOUNT test USDC to your wallet."""
    out.record(await client.faucet(amount))


async def current(client: PourtierClient) -> SubscriptionOut | None:
    """The live subscription (pending, active or past due), if any."""
    for found in await client.subscriptions():
        if SubscriptionStatus(found.status).is_live:
            return found
    return None


async def live(client: PourtierClient) -> SubscriptionOut:
    found = await current(client)
    if found is None:
        raise fail("no live subscription (see pourtier client subscribe)", REFUSED)
    return found


@command(app)
async def subscribe(
    client: PourtierClient,
    out: Output,
    plan: PlanName,
    auto_renew: Annotated[bool, typer.Option(help="Renew each period.")] = True,
) -> None:
    """Subscribe to PLAN (or change to it), charged from your escrow."""
    answer = await client.subscribe(plan, auto_renew)
    if answer.status == SubscriptionStatus.PENDING:
        note("the charge is on its way; `subscription status` shows when final")
    out.record(answer)


@command(subscription_app, "status")
async def subscription_status(client: PourtierClient, out: Output) -> None:
    """What you may use now, and your live subscription."""
    access, found = await client.access(), await current(client)
    if out.as_json:
        out.json({"access": access, "subscription": found})
        return
    out.record(access, title="Access")
    if found is not None:
        out.record(found, title="Subscription")


@command(subscription_app, "cancel")
async def subscription_cancel(
    client: PourtierClient,
    out: Output,
    now: Annotated[
        bool, typer.Option("--now", help="End access now, without refund.")
    ] = False,
) -> None:
    """Cancel at the period's end (access until then), or --now."""
    found = await live(client)
    out.record(await client.cancel(found.id, immediately=now))


@command(subscription_app, "resume")
async def subscription_resume(client: PourtierClient, out: Output) -> None:
    """Undo a pending cancellation or scheduled downgrade."""
    out.record(await client.resume((await live(client)).id))
