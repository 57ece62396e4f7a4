"""`spinneret config show`."""

from __future__ import annotations

import json

import typer

from config import get_settings
from spinneret.cli.common import OutputFormat, console
from spinneret.cli.output import TableView, print_table, write_csv


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)

    @group.command("show")
    def show(
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Print the effective settings (environment over TOML file), secrets masked."""
        values = get_settings().masked()
        if format is OutputFormat.json:
            console.print_json(json.dumps(values, default=str))
            return
        rows = [(name, "" if value is None else str(value)) for name, value in values.items()]
        if format is OutputFormat.csv:
            write_csv([{"setting": name, "value": value} for name, value in rows])
            return
        print_table(TableView("Effective settings", ("setting", "value"), rows))

    app.add_typer(group, name="config")
