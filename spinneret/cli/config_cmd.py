"""`spinneret config show`."""

from __future__ import annotations

import json

import typer

from spinneret.cli.common import OutputFormat, console
from spinneret.cli.output import TableView, print_table, write_csv
from spinneret.cli.readiness_warnings import warn_deployment
from spinneret.config import get_settings


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
            rows = [(name, "" if value is None else str(value)) for name, value in values.items()]
            if format is OutputFormat.csv:
                write_csv([{"setting": name, "value": value} for name, value in rows])
            else:
                print_table(TableView("Effective settings", ("setting", "value"), rows))
        warn_deployment(settings)  # on stderr: the JSON on stdout stays parseable

    app.add_typer(group, name="config")
