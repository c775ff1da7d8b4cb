"""`pourtier client escrow ...`, `faucet`, `subscribe` and `subscription ...`:
each escrow transaction is prepared by the service, signed here, submitted,
then awaited until final behind a spinner."""

from __future__ import annotations

from typing import Annotated

import typer

from pourtier.client.api import PourtierClient
from pourtier.client.output import REFUSED, Output, errors, fail, note
from pourtier.client.runner import run
from pourtier.domain.subscriptions import PlanName, SubscriptionStatus
from pourtier.presentation.schemas.escrow import PreparedOut, TransactionOut
from pourtier.presentation.schemas.subscriptions import SubscriptionOut

escrow_app = typer.Typer(help="Your escrow (each transaction signed here).")
subscription_app = typer.Typer(help="Your subscription.", no_args_is_help=True)
WAIT_SECONDS = 120.0


async def settle(client: PourtierClient, prepared: PreparedOut) -> TransactionOut:
    """Sign, submit and wait for finality behind a spinner (on stderr)."""
    with errors.status(f"waiting for transaction {prepared.transaction_id}"):
        return await client.settle(prepared, WAIT_SECONDS)


@escrow_app.command("init")
def escrow_init(
    ctx: typer.Context,
    allowance: Annotated[
        str | None,
        typer.Option(help="USDC the service may charge (default: a year of Pro)."),
    ] = None,
) -> None:
    """Create your escrow account, approving the service's capped allowance."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await settle(client, await client.prepare_initialize(allowance)))

    run(ctx, work)


AmountArgument = Annotated[str, typer.Argument(help="USDC, e.g. 25 or 12.5")]


@escrow_app.command("deposit")
def escrow_deposit(ctx: typer.Context, amount: AmountArgument) -> None:
    """Move USDC from your wallet into your escrow."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await settle(client, await client.prepare_deposit(amount)))

    run(ctx, work)


@escrow_app.command("withdraw")
def escrow_withdraw(ctx: typer.Context, amount: AmountArgument) -> None:
    """Move USDC from your escrow back to your wallet."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await settle(client, await client.prepare_withdraw(amount)))

    run(ctx, work)


@escrow_app.command("balance")
def escrow_balance(ctx: typer.Context) -> None:
    """Balance and remaining allowance, as the service last read the chain."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await client.balance())

    run(ctx, work)


@escrow_app.command("history")
def escrow_history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Your escrow transactions, newest first."""

    async def work(client: PourtierClient, out: Output) -> None:
        found = await client.transactions(limit)
        columns = ["created_at", "type", "amount", "status", "signature"]
        out.rows(found, columns, empty="no transactions")

    run(ctx, work)


def faucet(ctx: typer.Context, amount: AmountArgument) -> None:
    """Development chain only: 1 SOL and AMOUNT test USDC to your wallet."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await client.faucet(amount))

    run(ctx, work)


async def current(client: PourtierClient) -> SubscriptionOut | None:
    """The live subscription (pending, active or past due), if any."""
    for found in await client.subscriptions():
        if SubscriptionStatus(found.status).is_live:
            return found
    return None


async def live(client: PourtierClient) -> SubscriptionOut:
    found = await current(client)
    if found is None:
        raise fail(
            "no live subscription (subscribe: pourtier client subscribe)", REFUSED
        )
    return found


def subscribe(
    ctx: typer.Context,
    plan: PlanName,
    auto_renew: Annotated[bool, typer.Option(help="Renew each period.")] = True,
) -> None:
    """Subscribe to PLAN (or change to it), charged from your escrow."""

    async def work(client: PourtierClient, out: Output) -> None:
        answer = await client.subscribe(plan, auto_renew)
        if answer.status == SubscriptionStatus.PENDING:
            note("the charge is on its way; `subscription status` shows when final")
        out.record(answer)

    run(ctx, work)


@subscription_app.command("status")
def subscription_status(ctx: typer.Context) -> None:
    """What you may use now, and your live subscription."""

    async def work(client: PourtierClient, out: Output) -> None:
        access, found = await client.access(), await current(client)
        if out.as_json:
            out.json({"access": access, "subscription": found})
            return
        out.record(access, title="Access")
        if found is not None:
            out.record(found, title="Subscription")

    run(ctx, work)


@subscription_app.command("cancel")
def subscription_cancel(
    ctx: typer.Context,
    now: Annotated[
        bool, typer.Option("--now", help="End access now, without refund.")
    ] = False,
) -> None:
    """Cancel at the period's end (access until then), or --now."""

    async def work(client: PourtierClient, out: Output) -> None:
        found = await live(client)
        out.record(await client.cancel(found.id, immediately=now))

    run(ctx, work)


@subscription_app.command("resume")
def subscription_resume(ctx: typer.Context) -> None:
    """Undo a pending cancellation or scheduled downgrade."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await client.resume((await live(client)).id))

    run(ctx, work)
