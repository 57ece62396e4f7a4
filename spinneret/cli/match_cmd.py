"""`spinneret match FILE...`: every hash-list entry each file matches, with its decision."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from config import get_settings
from matcher.errors import UnhashableImage
from matcher.hashing import HashOptions
from matcher.matching import Match, Matcher, Thresholds
from matcher.service import hash_and_match
from spinneret.cli.common import console, err_console
from spinneret.context import AppContext

FIELDS = ("list", "algorithm", "distance", "label", "source_id", "decision")


class MatchFormat(enum.StrEnum):
    table = "table"
    json = "json"


def match_file(path: Path, matcher: Matcher, options: HashOptions) -> list[Match]:
    """Hash one file and match it as a worker would (query variants, dihedral when on);
    `UnhashableImage` if it cannot be read or decoded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnhashableImage(f"cannot read file: {exc.strerror or exc}") from None
    return hash_and_match(data, matcher, options)[1]


def _as_dict(match: Match) -> dict[str, object]:
    record: dict[str, object] = {name: getattr(match, name) for name in FIELDS}
    record.update(list_kind=match.list_kind, category=match.category,
                  entry_hash=match.entry_hash, query_hash=match.query_hash)
    return record


def register(app: typer.Typer) -> None:
    @app.command("match")
    def match_command(
        files: list[Path] = typer.Argument(..., help="Image files to match."),
        format: MatchFormat = typer.Option(MatchFormat.table, "--format", "-f"),
    ) -> None:
        """Match image files against every loaded hash list (block and allow lists)."""
        settings = get_settings()
        context = AppContext(settings)
        try:
            matcher = Matcher.from_store(
                context.store, Thresholds.from_settings(settings), dihedral=settings.match_dihedral
            )
        finally:
            context.close()
        options = HashOptions.from_settings(settings)
        table = Table(*("path", *FIELDS), title="Matches")
        failures = 0
        for path in files:
            try:
                matches = match_file(path, matcher, options)
            except UnhashableImage as exc:
                failures += 1
                err_console.print(f"spinneret: {path}: {exc.reason}", markup=False)
                continue
            if format is MatchFormat.json:
                record = {"path": str(path), "matches": [_as_dict(m) for m in matches]}
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
                continue
            if not matches:
                table.add_row(str(path), "(no match)", "", "", "", "", "")
            for m in matches:
                table.add_row(str(path), m.list, m.algorithm, str(m.distance), m.label,
                              m.source_id, m.decision)
        if format is MatchFormat.table:
            console.print(table)
        if failures:
            raise typer.Exit(1)
