"""`spinneret match FILE...`: every hash-list entry each file matches, with its decision."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from spinneret.cli.common import OutputFormat, err_console
from spinneret.cli.output import TableView, dumps, print_table, write_csv
from spinneret.config import get_settings
from spinneret.matcher.errors import UnhashableImage
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.matching import Match, Matcher, Thresholds
from spinneret.matcher.service import hash_and_match
from spinneret.runtime.context import app_context

FIELDS = ("list", "algorithm", "distance", "label", "source_id", "decision")
CSV_FIELDS = ("path", *FIELDS, "list_kind", "category", "entry_hash", "query_hash")


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
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Match image files against every loaded hash list (block and allow lists)."""
        settings = get_settings()
        with app_context(settings) as context:
            matcher = Matcher.from_store(
                context.store, Thresholds.from_settings(settings), dihedral=settings.match_dihedral
            )
        options = HashOptions.from_settings(settings)
        rows: list[tuple[str, ...]] = []
        found: list[dict[str, object]] = []
        failures = 0
        for path in files:
            try:
                matches = match_file(path, matcher, options)
            except UnhashableImage as exc:
                failures += 1
                err_console.print(f"spinneret: {path}: {exc.reason}", markup=False)
                continue
            if format is OutputFormat.json:  # one line per file, as soon as it is matched
                record = {"path": str(path), "matches": [_as_dict(m) for m in matches]}
                sys.stdout.write(dumps(record) + "\n")
                sys.stdout.flush()
                continue
            found += [{"path": str(path), **_as_dict(m)} for m in matches]
            if not matches:
                rows.append((str(path), "(no match)", "", "", "", "", ""))
            rows += [(str(path), m.list, m.algorithm, str(m.distance), m.label, m.source_id,
                      m.decision) for m in matches]
        if format is OutputFormat.csv:
            write_csv(found, CSV_FIELDS)
        elif format is OutputFormat.table:
            print_table(TableView("Matches", ("path", *FIELDS), rows))
        if failures:
            raise typer.Exit(1)
