"""`pourtier client legal ...` and `kyc ...`."""

from __future__ import annotations

import sys
import uuid
from typing import Annotated

import typer

from pourtier.client.api import PourtierClient
from pourtier.client.output import PEOPLE, REFUSED, Output, fail
from pourtier.client.runner import app, command, confirm

legal_app = typer.Typer(help="Legal documents.", no_args_is_help=True)
kyc_app = typer.Typer(help="Your identity check.", no_args_is_help=True)
app.add_typer(legal_app, name="legal")
app.add_typer(kyc_app, name="kyc")
DOCUMENT_COLUMNS = ["document_type", "version", "title", "id"]


@command(legal_app, "list")
async def legal_list(client: PourtierClient, out: Output) -> None:
    """The active legal documents (their content in --json)."""
    out.rows(await client.legal_documents(), [*DOCUMENT_COLUMNS, "effective_date"])


@command(legal_app, "accept")
async def legal_accept(
    client: PourtierClient,
    out: Output,
    document_ids: Annotated[
        list[uuid.UUID] | None,
        typer.Argument(help="Documents to accept; default: every pending one."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Accept without asking.")] = False,
) -> None:
    """Accept the documents you have not accepted yet."""
    compliance = await client.compliance()
    pending = compliance.pending_documents
    if not document_ids and not pending:
        out.done("nothing to accept: you are compliant", compliance)
        return
    if not document_ids:
        PEOPLE.rows(pending, DOCUMENT_COLUMNS, title="Pending:")
    if not (yes or confirm("Accept these documents?")):
        raise fail("nothing accepted: run again with --yes to accept", REFUSED)
    ids = document_ids or [d.id for d in pending]
    out.done(f"accepted {len(ids)} document(s)", await client.accept(ids))


@command(kyc_app, "start")
async def kyc_start(
    client: PourtierClient,
    out: Output,
    legal_name: Annotated[str | None, typer.Option()] = None,
    date_of_birth: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2")] = None,
) -> None:
    """Start the check. The manual provider takes your details (asked for at a
    terminal when not given); a hosted one answers its SDK token."""
    details = [legal_name, date_of_birth, country]
    if (await client.kyc()).provider == "manual" and sys.stdin.isatty():
        prompts = ["Legal name", "Date of birth (YYYY-MM-DD)", "Country (e.g. FR)"]
        details = [
            value or typer.prompt(prompt, err=True)
            for value, prompt in zip(details, prompts, strict=True)
        ]
    out.record(await client.kyc_start(*details))


@command(kyc_app, "status")
async def kyc_status(client: PourtierClient, out: Output) -> None:
    """Your identity check's status."""
    out.record(await client.kyc())
