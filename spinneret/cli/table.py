"""The command table's rows: each command's module and help line. Plain data, no Typer, so
that `spinneret --help` can list the commands without loading the CLI framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LazyCommand:
    module: str  # defines the command (or group) in its `register(app)`
    help: str  # the line `spinneret --help` shows for it


def lazy_commands(package: str, *rows: tuple[str, str, str]) -> dict[str, LazyCommand]:
    """`{name: LazyCommand}` from rows of (command name, module in `package`, help line)."""
    return {name: LazyCommand(f"{package}.{module}", help) for name, module, help in rows}
