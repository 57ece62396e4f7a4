"""A command group whose commands are imported when they run, not when the CLI starts.

Each command module defines its commands in `register(app)`, as before; the group imports the
module the first time one of its commands is asked for. Listing the commands (`spinneret
--help`) imports none of them: the help line of each is given where it is registered.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from spinneret.cli.table import LazyCommand, lazy_commands

if TYPE_CHECKING:  # click, or the copy newer Typer versions carry
    from typer import _click as click


class NotLoaded(TyperCommand):
    """Stands for a command until its module is imported: its name and help line only."""


class LazyGroup(TyperGroup):
    """A Typer group that loads each command of `lazy` from its module on first use."""

    lazy: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)
        self._listing = False
        for name, command in self.lazy.items():
            self.commands.setdefault(name, NotLoaded(name, help=command.help))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, NotLoaded) and not self._listing:
            self._load(self.lazy[cmd_name].module)
            command = self.commands[cmd_name]
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True  # listing needs only the help lines: import no command module
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _load(self, module_name: str) -> None:
        holder = typer.Typer()
        importlib.import_module(module_name).register(holder)
        self.commands.update(typer.main.get_group(holder).commands)


__all__ = ["LazyCommand", "LazyGroup", "NotLoaded", "lazy_commands", "lazy_group"]


def lazy_group(commands: dict[str, LazyCommand]) -> type[LazyGroup]:
    """The group class for `typer.Typer(cls=...)` that loads `commands` lazily."""
    return type("SpinneretCommands", (LazyGroup,), {"lazy": commands})
