"""`spinneret tokens create|ls|revoke`: API tokens for the JSON API and the web UI."""

from __future__ import annotations

import sys

import typer

from spinneret.cli._records_view import emit_records, when, who
from spinneret.cli.common import OutputFormat, console, err_console
from spinneret.records.models import TOKEN_ROLES
from spinneret.records.tokens import TokenRecord, create_token, list_tokens, revoke_token
from spinneret.runtime.context import app_context


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="API tokens (admin, analyst, viewer).", no_args_is_help=True)

    @group.command("create")
    def create(
        role: str = typer.Option(..., "--role", help=f"One of {', '.join(TOKEN_ROLES)}."),
        name: str | None = typer.Option(None, "--name", help="Who or what uses the token."),
    ) -> None:
        """Create a token; it is shown once (only its hash is stored)."""
        with app_context() as context:
            token = create_token(context.db, role, name, actor=who())
        err_console.print(f"created {token.record.role} token {token.record.id} "
                          f"({token.record.name}); it is shown only once:", markup=False)
        sys.stdout.write(token.secret + "\n")

    @group.command("ls")
    def ls(format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f")) -> None:
        """List tokens (never their secrets)."""
        with app_context() as context:
            tokens = list_tokens(context.db)
        rows = [(str(t.id), t.name, t.role, when(t.created_at), when(t.last_used_at),
                 when(t.revoked_at)) for t in tokens]
        emit_records(format, tokens, TokenRecord, "API tokens", (
            "id", "name", "role", "created", "last used", "revoked"), rows)

    @group.command("revoke")
    def revoke(token_id: int = typer.Argument(..., metavar="ID")) -> None:
        """Revoke a token at once."""
        with app_context() as context:
            token = revoke_token(context.db, token_id, actor=who())
        console.print(f"revoked token {token.id} ({token.name})", markup=False)

    app.add_typer(group, name="tokens")
