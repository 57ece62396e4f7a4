"""Presenting records (sites, crawls) in the CLI: JSON-ready dicts and small helpers."""

from __future__ import annotations

import dataclasses
import getpass
from datetime import datetime
from typing import Any


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
