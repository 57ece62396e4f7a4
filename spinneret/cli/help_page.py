"""`spinneret --help` without Typer or Rich: the page Typer renders, written directly.

Loading Typer and Rich costs `--help` ~0.1 s CPU, a third of the whole process, to draw two
boxes. This writes the same text Typer draws when output is not a terminal (colours are left
out on a terminal); tests/test_cli_startup.py compares the two at several widths.
`spinneret CMD --help` and every other invocation still go through Typer.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping

from spinneret.cli.table import LazyCommand

#: Below this width Rich starts shrinking columns in ways not reproduced here: use Typer.
MIN_WIDTH = 60
_OPTION = "--help        <bool>  "
_OPTION_HELP = "Show this message and exit."


def terminal_width() -> int:
    """The width Rich would use: $COLUMNS, else the terminal of stdin/stdout/stderr, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    for descriptor in (0, 1, 2):
        try:
            return os.get_terminal_size(descriptor).columns
        except OSError:
            continue
    return 80


def _panel(title: str, lines: list[str], width: int) -> list[str]:
    top = f"╭─ {title} " + "─" * (width - len(title) - 5) + "╮"
    body = [f"│ {line.ljust(width - 4)} │" for line in lines]
    return [top, *body, "╰" + "─" * (width - 2) + "╯"]


def root_help(program: str, summary: str, commands: Mapping[str, LazyCommand],
              width: int) -> str | None:
    """The root help page at `width` columns; None if too narrow to draw it like Rich."""
    usage = f" Usage: {program} [OPTIONS] COMMAND [ARGS]..."
    if width < MIN_WIDTH or len(usage) >= width:
        return None
    blank = " " * width
    page = [blank, usage.ljust(width), blank]
    page += [f" {line}".ljust(width) for line in textwrap.wrap(summary, width - 2, break_on_hyphens=False)]
    page.append(blank)
    page += _panel("Options", [_OPTION + _OPTION_HELP], width)
    names = max(len(name) for name in commands)
    help_width = width - 4 - names - 2
    rows = []
    for name, command in commands.items():
        wrapped = textwrap.wrap(command.help, help_width, break_on_hyphens=False) or [""]
        rows.append(f"{name.ljust(names)}  {wrapped[0]}")
        rows += [f"{'':{names}}  {more}" for more in wrapped[1:]]
    page += _panel("Commands", rows, width)
    return "\n".join(page) + "\n\n"
