"""`spinneret config show`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from config import get_settings
from spinneret.cli.common import OutputFormat, console
from spinneret.cli.readiness_warnings import warn_deployment


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)

    @group.command("show")
    def show(
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Print the effective settings (environment over TOML file), secrets masked."""
        settings = get_settings()
        values = settings.masked()
        if values.get("hma_anonymous_read"):  # on stderr: the JSON on stdout stays JSON
            typer.secho("WARNING: hma_anonymous_read is ON: anyone who can reach the API may "
                        "hash and look up through /hma without a token", err=True,
                        fg=typer.colors.RED, bold=True)
        if format is OutputFormat.json:
            console.print_json(json.dumps(values, default=str))
        else:
            table = Table("setting", "value", title="Effective settings")
            for name, value in values.items():
                table.add_row(name, "" if value is None else str(value))
            console.print(table)
        warn_deployment(settings)  # on stderr: the JSON on stdout stays parseable

    app.add_typer(group, name="config")
