"""`spinneret contacts show|set|clear`: who notices about a host go to, and the manual
override per host (the lookups are in spinneret.notices.contacts)."""

from __future__ import annotations

import asyncio
import json
import sys

import typer

from spinneret.cli._records_view import when, who
from spinneret.cli.common import OutputFormat, console
from spinneret.notices.clock import SystemClock
from spinneret.notices.contacts import ContactResolver
from spinneret.records.contacts import ContactRepository
from spinneret.runtime.context import AppContext


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Who to notify about a host: override, registered, "
                             "security.txt, RDAP.", no_args_is_help=True)

    @group.command("show")
    def show(
        host: str = typer.Argument(..., metavar="HOST"),
        refresh: bool = typer.Option(False, "--refresh", help="Look up again even if the "
                                     "cached answer is still fresh."),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Resolve HOST's contacts: each with its source, and whether it came from cache."""
        context = AppContext()
        try:
            resolver = ContactResolver.from_settings(context.db, context.settings)
            found = asyncio.run(resolver.resolve(host, refresh=refresh))
        finally:
            context.close()
        if format is not OutputFormat.table:
            sys.stdout.write(json.dumps(found.to_json(), indent=2) + "\n")
            return
        cache = "from cache" if found.from_cache else "fresh"
        if found.fetched_at is not None:
            cache += f", looked up {when(found.fetched_at)}, reused until {when(found.expires_at)}"
        elif found.contacts:
            cache = "not cached (override or registered)"
        console.print(f"{found.host}: {found.source} ({cache})", markup=False)
        for contact in found.contacts:
            console.print(f"  {contact.email}  source {contact.source}  {contact.detail}",
                          markup=False)
        if not found.contacts:
            console.print("  no contact found: a notice for this host cannot be sent "
                          "(`spinneret contacts set HOST EMAIL` chooses one)", markup=False)
        for error in found.errors:
            console.print(f"  failed: {error}", markup=False)

    @group.command("set")
    def set_(
        host: str = typer.Argument(..., metavar="HOST"),
        email: str = typer.Argument(..., metavar="EMAIL"),
        note: str = typer.Option("", "--note", help="Why (shown with the contact)."),
    ) -> None:
        """Send notices about HOST to EMAIL, whatever else is known (audited)."""
        context = AppContext()
        try:
            record = ContactRepository(context.db).set_override(
                host, email, note=note, actor=who(), now=SystemClock().now())
        finally:
            context.close()
        console.print(f"{record.host}: notices go to {record.email} (override)", markup=False)

    @group.command("clear")
    def clear(host: str = typer.Argument(..., metavar="HOST")) -> None:
        """Remove HOST's override (audited)."""
        context = AppContext()
        try:
            gone = ContactRepository(context.db).clear_override(host, actor=who())
        finally:
            context.close()
        console.print(f"{host}: override removed" if gone else f"{host}: had no override",
                      markup=False)

    app.add_typer(group, name="contacts")
