"""`pourtier client ...`: the user's wallet on the command line, against a
running service. The keypair signs here and never leaves the machine.
Sign-in, sessions and linked wallets are here; legal and KYC in cli_legal,
escrow and subscriptions in cli_money (importing them adds their commands)."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Annotated

import typer

from pourtier.client import cli_legal, cli_money
from pourtier.client.api import PourtierClient
from pourtier.client.errors import ApiError
from pourtier.client.output import PEOPLE, REFUSED, Output, fail
from pourtier.client.runner import app, command, confirm, load_wallet

__all__ = ["app", "cli_legal", "cli_money"]
sessions_app = typer.Typer(help="Your sessions (listed without a command).")
wallets_app = typer.Typer(help="Wallets linked to your account.")
app.add_typer(sessions_app, name="sessions")
app.add_typer(wallets_app, name="wallets")


@command(app)
async def login(
    client: PourtierClient,
    out: Output,
    accept_terms: Annotated[
        bool,
        typer.Option(
            "--accept-terms", help="Accept the active legal documents to register."
        ),
    ] = False,
) -> None:
    """Sign in with the keypair; a wallet without an account registers,
    accepting the active legal documents (shown first). A session this
    machine already holds for the wallet is ended first: its tokens are
    about to be replaced, and nothing could end it afterwards."""
    if client.tokens is not None:
        with contextlib.suppress(ApiError):
            await client.logout()
    signed = await client.sign()
    try:
        answer, registered = await client.login(signed), False
    except ApiError as error:
        if error.status != 404:
            raise
        documents = await client.legal_documents()
        PEOPLE.rows(
            documents,
            cli_legal.DOCUMENT_COLUMNS,
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


@command(app)
async def whoami(client: PourtierClient, out: Output) -> None:
    """Your profile (exit status 1 when not signed in)."""
    out.record(await client.me())


@command(app)
async def logout(client: PourtierClient, out: Output) -> None:
    """End this session at the service and forget its tokens."""
    await client.logout()
    out.done("signed out", {"signed_out": True})


@command(sessions_app, default=True)
async def sessions(client: PourtierClient, out: Output) -> None:
    """Your live sessions, newest first."""
    columns = ["id", "created_at", "last_used_at", "ip_address", "current"]
    out.rows(await client.sessions(), columns)


@command(sessions_app, "revoke")
async def sessions_revoke(
    client: PourtierClient, out: Output, session_id: uuid.UUID
) -> None:
    """End one of your sessions (the current one: a logout)."""
    await client.end_session(session_id)
    out.done(f"session {session_id} ended", {"ended": str(session_id)})


@command(wallets_app, default=True)
async def wallets(client: PourtierClient, out: Output) -> None:
    """The wallets linked to your account."""
    out.rows(await client.wallets(), ["wallet_address", "linked_at", "primary"])


@command(wallets_app, "link")
async def wallets_link(
    client: PourtierClient,
    out: Output,
    other: Annotated[Path, typer.Argument(help="The other wallet's keypair file.")],
) -> None:
    """Link another wallet: its keypair signs the service's link message."""
    out.record(await client.link_wallet(load_wallet(other)))


@command(wallets_app, "unlink")
async def wallets_unlink(
    client: PourtierClient,
    out: Output,
    address: Annotated[str, typer.Argument(help="The linked wallet's address.")],
) -> None:
    """Unlink a wallet: it no longer signs in to your account (the primary,
    your escrow's owner, stays)."""
    await client.unlink_wallet(address)
    out.done(f"wallet {address} unlinked", {"unlinked": address})
