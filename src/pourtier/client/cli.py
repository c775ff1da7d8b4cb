"""`pourtier client ...`: the user's wallet on the command line, against a
running service. The keypair signs here; only signatures leave the machine.
Sign-in, sessions and linked wallets are here; legal and KYC in cli_legal,
escrow and subscriptions in cli_money."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from pourtier.client.api import DEFAULT_URL, PourtierClient
from pourtier.client.cli_legal import kyc_app, legal_app
from pourtier.client.cli_money import escrow_app, faucet, subscribe, subscription_app
from pourtier.client.errors import ApiError
from pourtier.client.output import PEOPLE, REFUSED, USAGE, Output, fail
from pourtier.client.runner import Options, confirm, run
from pourtier.client.wallet import DEFAULT_KEYPAIR, KeypairFileError, Wallet

app = typer.Typer(
    help="Act as your wallet against a running service: sign in, accept the "
    "legal documents, fund the escrow, subscribe. Exit status: 1 refused by "
    "the service, 2 usage, 3 service unreachable, 4 transaction not final yet.",
    no_args_is_help=True,
)
sessions_app = typer.Typer(help="Your sessions (listed without a command).")
wallets_app = typer.Typer(help="Wallets linked to your account.")
app.add_typer(legal_app, name="legal")
app.add_typer(escrow_app, name="escrow", no_args_is_help=True)
app.add_typer(subscription_app, name="subscription")
app.add_typer(kyc_app, name="kyc")
app.add_typer(sessions_app, name="sessions")
app.add_typer(wallets_app, name="wallets")


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="POURTIER_URL", help="The service.")
    ] = DEFAULT_URL,
    keypair: Annotated[
        Path,
        typer.Option(
            envvar="POURTIER_KEYPAIR",
            help="Solana CLI keypair file (JSON array of 64 bytes).",
        ),
    ] = DEFAULT_KEYPAIR,
    as_json: Annotated[
        bool, typer.Option("--json", help="Answer in JSON on stdout, for scripts.")
    ] = False,
) -> None:
    ctx.obj = Options(url, keypair, Output(as_json))


@app.command()
def login(
    ctx: typer.Context,
    accept_terms: Annotated[
        bool,
        typer.Option(
            "--accept-terms", help="Accept the active legal documents to register."
        ),
    ] = False,
) -> None:
    """Sign in with the keypair; a wallet without an account registers,
    accepting the active legal documents (shown first)."""

    async def work(client: PourtierClient, out: Output) -> None:
        signed = await client.sign()
        try:
            answer = await client.login(signed)
            registered = False
        except ApiError as error:
            if error.status != 404:
                raise
            documents = await client.legal_documents()
            PEOPLE.rows(
                documents,
                ["document_type", "version", "title", "id"],
                title="This wallet has no account. Registering accepts:",
            )
            if not (accept_terms or confirm("Accept them and open an account?")):
                raise fail(
                    "no account registered: read the documents (`pourtier client "
                    "legal list`), then run again with --accept-terms",
                    REFUSED,
                ) from None
            answer = await client.register([d.id for d in documents], signed)
            registered = True
        verb = "registered and signed in" if registered else "signed in"
        out.done(
            f"{verb} as {answer.user.wallet_address} (user {answer.user.id})",
            {"registered": registered, "user": answer.user},
        )

    run(ctx, work)


@app.command()
def whoami(ctx: typer.Context) -> None:
    """Your profile (exit status 1 when not signed in)."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await client.me())

    run(ctx, work)


@app.command()
def logout(ctx: typer.Context) -> None:
    """End this session at the service and forget its tokens."""

    async def work(client: PourtierClient, out: Output) -> None:
        await client.logout()
        out.done("signed out", {"signed_out": True})

    run(ctx, work)


@sessions_app.callback(invoke_without_command=True)
def sessions(ctx: typer.Context) -> None:
    """Your live sessions, newest first."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(client: PourtierClient, out: Output) -> None:
        found = await client.sessions()
        out.rows(found, ["id", "created_at", "last_used_at", "ip_address", "current"])

    run(ctx, work)


@sessions_app.command("revoke")
def sessions_revoke(ctx: typer.Context, session_id: uuid.UUID) -> None:
    """End one of your sessions (the current one: a logout)."""

    async def work(client: PourtierClient, out: Output) -> None:
        await client.end_session(session_id)
        out.done(f"session {session_id} ended", {"ended": str(session_id)})

    run(ctx, work)


@wallets_app.callback(invoke_without_command=True)
def wallets(ctx: typer.Context) -> None:
    """The wallets linked to your account."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(client: PourtierClient, out: Output) -> None:
        out.rows(await client.wallets(), ["wallet_address", "linked_at"])

    run(ctx, work)


@wallets_app.command("link")
def wallets_link(
    ctx: typer.Context,
    other: Annotated[Path, typer.Argument(help="The other wallet's keypair file.")],
) -> None:
    """Link another wallet: its keypair signs the service's link message."""
    try:
        linked = Wallet.from_file(other)
    except KeypairFileError as error:
        raise fail(str(error), USAGE) from None

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await client.link_wallet(linked))

    run(ctx, work)


app.command()(faucet)
app.command()(subscribe)
