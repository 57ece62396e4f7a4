"""The one way CLI commands print results: `--format table|json|csv`.

- json: each command keeps the shape it always had (`lines`: one object per line, `array`:
  one indented array, `object`: one indented object for a `show` command).
- csv: a header of the JSON field names, then one line per record; nested values (lists,
  objects) are JSON in their cell, empty values are empty cells.
- table: a Rich table. When it would not fit the terminal (80 columns when output is not a
  terminal), each row is printed as its own block of `field  value` lines instead, like
  psql's expanded display, so long URLs never squeeze every other column to a sliver.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from spinneret.cli.common import OutputFormat, console

JsonStyle = Literal["lines", "array", "object"]


@dataclass(frozen=True)
class TableView:
    """What the table format shows: a title, column headers and rows of text."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    show_header: bool = True  # False: a `field | value` table of one record


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, indent=indent)


def write_json(records: Sequence[Mapping[str, Any]] | Mapping[str, Any],
               style: JsonStyle = "lines") -> None:
    if style == "object":
        sys.stdout.write(dumps(records, indent=2) + "\n")
    elif style == "array":
        sys.stdout.write(dumps(list(records), indent=2) + "\n")
    else:
        for record in records:
            sys.stdout.write(dumps(record) + "\n")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return dumps(value)
    return str(value)


def write_csv(records: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
              ) -> None:
    """Header of field names (default: every key, in first-seen order), one line a record."""
    if fields is None:
        fields = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for record in records:
        writer.writerow([csv_cell(record.get(name)) for name in fields])


def _wide_table(view: TableView) -> Table:
    if view.show_header and len(view.headers) > 2:
        # No rules, one space between columns, an underlined header: fits 80 more often.
        table = Table(title=view.title, box=None, pad_edge=False, padding=(0, 1),
                      collapse_padding=True, header_style="bold underline")
    else:
        table = Table(title=view.title, show_header=view.show_header)
    for header in view.headers:
        table.add_column(header, overflow="fold")
    for row in view.rows:
        table.add_row(*row)
    return table


def _fits(table: Table, out: Console) -> bool:
    # Measured without the console's width, which would clamp the answer to it.
    unbounded = out.options.update_width(1_000_000)
    return Measurement.get(out, unbounded, table).maximum <= out.width


def print_table(view: TableView, out: Console = console) -> None:
    table = _wide_table(view)
    # Two columns (field, value) read well folded; only wider tables turn into blocks.
    if len(view.headers) <= 2 or not view.rows or _fits(table, out):
        out.print(table)
        return
    for number, row in enumerate(view.rows, 1):
        block = Table(title=f"{view.title} · {number}/{len(view.rows)}", show_header=False,
                      title_justify="left")
        block.add_column("field", no_wrap=True, style="bold")
        block.add_column("value", overflow="fold")
        for header, value in zip(view.headers, row, strict=True):
            block.add_row(header, value)
        out.print(block)


def emit(format: OutputFormat, records: Sequence[Mapping[str, Any]] | Mapping[str, Any],
         view: TableView, *, json_style: JsonStyle = "lines",
         csv_fields: Sequence[str] | None = None) -> None:
    """Print `records` (JSON-ready dicts; one dict for `json_style="object"`) as JSON or CSV,
    or `view` as a table."""
    if format is OutputFormat.json:
        write_json(records, json_style)
    elif format is OutputFormat.csv:
        rows = [records] if isinstance(records, Mapping) else records
        write_csv(rows, csv_fields)
    else:
        print_table(view)


def record_fields(record_type: type, *, hide: tuple[str, ...] = ()) -> list[str]:
    """The CSV header of a record dataclass (so an empty listing still has one)."""
    return [f.name for f in dataclasses.fields(record_type) if f.name not in hide]


def field_table(title: str, pairs: Sequence[tuple[str, str]]) -> TableView:
    """A `show` command's table: one `field  value` line per pair."""
    return TableView(title, ("field", "value"), pairs, show_header=False)
