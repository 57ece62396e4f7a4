"""`spinneret tokens create|ls|revoke`: API tokens for the JSON API and the web UI."""

from __future__ import annotations

import json
import sys

import typer
from rich.table import Table

from records.models import TOKEN_ROLES
from records.tokens import create_token, list_tokens, revoke_token
from spinneret.cli._records_view import TableOrJson, as_json, when, who
from spinneret.cli.common import console, err_console
from spinneret.context import AppContext


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="API tokens (admin, analyst, viewer).", no_args_is_help=True)

    @group.command("create")
    def create(
        role: str = typer.Option(..., "--role", help=f"One of {', '.join(TOKEN_ROLES)}."),
        name: str | None = typer.Option(None, "--name", help="Who or what uses the token."),
    ) -> None:
        """Create a token; it is shown once (only its hash is stored)."""
        context = AppContext()
        try:
            token = create_token(context.db, role, name, actor=who())
        finally:
            context.close()
        err_console.print(f"created {token.record.role} token {token.record.id} "
                          f"({token.record.name}); it is shown only once:", markup=False)
        sys.stdout.write(token.secret + "\n")

    @group.command("ls")
    def ls(format: TableOrJson = typer.Option(TableOrJson.table, "--format", "-f")) -> None:
        """List tokens (never their secrets)."""
        context = AppContext()
        try:
            tokens = list_tokens(context.db)
        finally:
            context.close()
        if format is TableOrJson.json:
            sys.stdout.write(json.dumps([as_json(t) for t in tokens], indent=2) + "\n")
            return
        table = Table(title="API tokens")
        for column in ("id", "name", "role", "created", "last used", "revoked"):
            table.add_column(column, overflow="fold")
        for t in tokens:
            table.add_row(str(t.id), t.name, t.role, when(t.created_at), when(t.last_used_at),
                          when(t.revoked_at))
        console.print(table)

    @group.command("revoke")
    def revoke(token_id: int = typer.Argument(..., metavar="ID")) -> None:
        """Revoke a token at once."""
        context = AppContext()
        try:
            token = revoke_token(context.db, token_id, actor=who())
        finally:
            context.close()
        console.print(f"revoked token {token.id} ({token.name})", markup=False)

    app.add_typer(group, name="tokens")
