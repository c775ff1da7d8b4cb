"""`pourtier client legal ...` and `kyc ...`."""

from __future__ import annotations

import sys
import uuid
from typing import Annotated

import typer

from pourtier.client.api import PourtierClient
from pourtier.client.output import PEOPLE, REFUSED, Output, fail
from pourtier.client.runner import confirm, run

legal_app = typer.Typer(help="Legal documents.", no_args_is_help=True)
kyc_app = typer.Typer(help="Your identity check.", no_args_is_help=True)


@legal_app.command("list")
def legal_list(ctx: typer.Context) -> None:
    """The active legal documents (content in --json)."""

    async def work(client: PourtierClient, out: Output) -> None:
        documents = await client.legal_documents()
        columns = ["document_type", "version", "title", "effective_date", "id"]
        out.rows(documents, columns)

    run(ctx, work)


@legal_app.command("accept")
def legal_accept(
    ctx: typer.Context,
    document_ids: Annotated[
        list[uuid.UUID] | None,
        typer.Argument(help="Documents to accept; default: every pending one."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Accept without asking.")] = False,
) -> None:
    """Accept the documents you have not accepted yet."""

    async def work(client: PourtierClient, out: Output) -> None:
        compliance = await client.compliance()
        pending = compliance.pending_documents
        if not document_ids and not pending:
            out.done("nothing to accept: you are compliant", compliance)
            return
        ids = document_ids or [d.id for d in pending]
        if not document_ids:
            PEOPLE.rows(pending, ["document_type", "version", "title", "id"])
        if not (yes or confirm("Accept these documents?")):
            raise fail("nothing accepted: run again with --yes to accept", REFUSED)
        after = await client.accept(ids)
        out.done(f"accepted {len(ids)} document(s)", after)

    run(ctx, work)


@kyc_app.command("status")
def kyc_status(ctx: typer.Context) -> None:
    """Your identity check's status."""

    async def work(client: PourtierClient, out: Output) -> None:
        out.record(await client.kyc())

    run(ctx, work)


@kyc_app.command("start")
def kyc_start(
    ctx: typer.Context,
    legal_name: Annotated[str | None, typer.Option()] = None,
    date_of_birth: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2")] = None,
) -> None:
    """Start the check. The manual provider takes your details (asked for at a
    terminal when not given); a hosted one answers its SDK token."""

    async def work(client: PourtierClient, out: Output) -> None:
        details = [legal_name, date_of_birth, country]
        if (await client.kyc()).provider == "manual" and sys.stdin.isatty():
            prompts = ["Legal name", "Date of birth (YYYY-MM-DD)", "Country (e.g. FR)"]
            details = [
                v or typer.prompt(p, err=True)
                for v, p in zip(details, prompts, strict=True)
            ]
        out.record(await client.kyc_start(*details))

    run(ctx, work)
