"""Presenting records (sites, crawls) in the CLI: JSON-ready dicts and small helpers."""

from __future__ import annotations

import dataclasses
import getpass
from datetime import datetime
from typing import Any

from spinneret.cli.common import OutputFormat
from spinneret.cli.output import TableView, emit, record_fields


def who() -> str:
    """The actor recorded in the audit log for CLI changes."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def as_json(record: Any, *, hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """A record dataclass as JSON-ready values (timestamps ISO 8601, tuples as lists)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        if field.name in hide:
            continue
        value = getattr(record, field.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[field.name] = value
    return out


def emit_records(format: OutputFormat, records: list[Any], record_type: type, title: str,
                 columns: tuple[str, ...], rows: list[tuple[str, ...]], *,
                 hide: tuple[str, ...] = ()) -> None:
    """An `ls` command's output: the records as one JSON array or CSV (every field but
    `hide`, a header even when empty), or `rows` as the table `title`."""
    emit(format, [as_json(r, hide=hide) for r in records], TableView(title, columns, rows),
         json_style="array", csv_fields=record_fields(record_type, hide=hide))
