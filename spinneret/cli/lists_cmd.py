"""`spinneret lists ...`: import, list, show, export, delete hash lists and retract hashes."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from matcher.errors import EntryNotFound, HashListFileError
from matcher.hashlist import ListFormat, export_list, import_file
from matcher.store import ListInfo
from spinneret.cli.common import OutputFormat, console, err_console
from spinneret.context import AppContext

# Files smaller than this import too fast for a progress bar to help.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024


class ListKind(enum.StrEnum):
    block = "block"
    allow = "allow"


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _when(timestamp: float) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _counts(info: ListInfo) -> str:
    return ", ".join(f"{alg} {count}" for alg, count in info.counts.items()) or "empty"


@contextlib.contextmanager
def _progress(path: Path) -> Iterator[Callable[[int], None] | None]:
    """A byte progress bar on stderr for big files on a terminal; otherwise nothing."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if size < PROGRESS_MIN_BYTES or not err_console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("importing {task.description}"), BarColumn(), DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(path.name, total=size)
        yield lambda done: bar.update(task, completed=done)


def _info_dict(info: ListInfo) -> dict[str, object]:
    return {
        "name": info.name, "kind": info.kind, "source": info.source, "category": info.category,
        "description": info.description, "version": info.version, "counts": info.counts,
        "entries": info.total, "created_at": info.created_at, "updated_at": info.updated_at,
        "updated_by": info.updated_by,
    }


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Hash lists in the fingerprint store.", no_args_is_help=True)

    @group.command("import")
    def import_command(
        file: Path = typer.Argument(..., help="CSV, JSONL or TXT hash list (optionally .gz)."),
        list_name: str = typer.Option(..., "--list", help="Name of the list to create/replace."),
        source: str | None = typer.Option(None, "--source", help="Who supplied the list."),
        kind: ListKind | None = typer.Option(
            None, "--kind", help="block (default for a new list) or allow."
        ),
        format: ListFormat | None = typer.Option(
            None, "--format", help="Default: from the file extension."
        ),
        algorithm: str | None = typer.Option(
            None, "--algorithm", help="Algorithm of a TXT list: md5, sha256, phash, dhash, pdq."
        ),
        category: str | None = typer.Option(None, "--category", help="E.g. illegal, policy."),
        description: str | None = typer.Option(None, "--description"),
    ) -> None:
        """Validate FILE and replace list --list with it, atomically (a bad row changes nothing).

        Options not given keep the list's current metadata on a re-import."""
        if not file.is_file():
            raise HashListFileError(f"{file}: no such file")
        context = AppContext()
        try:
            with _progress(file) as progress:
                result = import_file(
                    context.store, file, list_name, format=format, algorithm=algorithm,
                    kind=kind.value if kind else None, source=source, category=category,
                    description=description, by=_who(), progress=progress,
                )
            info = context.store.get_list(list_name)
        finally:
            context.close()
        console.print(
            f"imported list {info.name} ({info.kind}) version {result.version}: "
            f"added {result.added}, removed {result.removed}, unchanged {result.unchanged}; "
            f"entries: {_counts(info)}",
            markup=False,
        )

    @group.command("ls")
    def ls_command(
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Every list with its kind, category, version and entry counts."""
        context = AppContext()
        try:
            infos = context.store.lists()
        finally:
            context.close()
        if format is OutputFormat.json:
            for info in infos:
                sys.stdout.write(json.dumps(_info_dict(info)) + "\n")
            return
        if format is OutputFormat.csv:
            sys.stdout.write("name,kind,category,source,version,entries,updated_at\n")
            for info in infos:
                sys.stdout.write(
                    f"{info.name},{info.kind},{info.category},{info.source},{info.version},"
                    f"{info.total},{_when(info.updated_at)}\n"
                )
            return
        table = Table(title="Hash lists")
        for column in ("name", "kind", "category", "source", "version", "entries", "updated"):
            table.add_column(column, overflow="fold")
        for info in infos:
            table.add_row(
                info.name, info.kind, info.category, info.source, str(info.version),
                _counts(info), _when(info.updated_at),
            )
        console.print(table)

    @group.command("show")
    def show_command(
        name: str = typer.Argument(...),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Metadata and counts of one list."""
        context = AppContext()
        try:
            info = context.store.get_list(name)
        finally:
            context.close()
        if format is not OutputFormat.table:
            sys.stdout.write(json.dumps(_info_dict(info)) + "\n")
            return
        table = Table(title=f"List {info.name}", show_header=False)
        table.add_column("field")
        table.add_column("value", overflow="fold")
        rows = [
            ("name", info.name), ("kind", info.kind), ("category", info.category),
            ("source", info.source), ("description", info.description),
            ("version", str(info.version)), ("entries", str(info.total)),
        ]
        rows += [(f"  {alg}", str(count)) for alg, count in info.counts.items()]
        rows += [
            ("created", _when(info.created_at)), ("updated", _when(info.updated_at)),
            ("updated by", info.updated_by),
        ]
        for field, value in rows:
            table.add_row(field, value)
        console.print(table)

    @group.command("export")
    def export_command(
        name: str = typer.Argument(...),
        format: ListFormat = typer.Option(ListFormat.csv, "--format"),
        output: Path | None = typer.Option(None, "--output", "-o", help="Default: stdout."),
        algorithm: str | None = typer.Option(None, "--algorithm", help="Only this algorithm."),
    ) -> None:
        """Write a list in CSV, JSONL or TXT (the formats `lists import` reads)."""
        context = AppContext()
        try:
            if output is None:
                count = export_list(context.store, name, sys.stdout, format, algorithm)
            else:
                # Written next to the target and renamed, so a failed export leaves no half file.
                partial = output.with_name(output.name + ".partial")
                try:
                    with open(partial, "w", encoding="utf-8", newline="") as out:
                        count = export_list(context.store, name, out, format, algorithm)
                    os.replace(partial, output)
                except BaseException:
                    partial.unlink(missing_ok=True)
                    raise
                err_console.print(f"exported {count} entries of {name} to {output}", markup=False)
        finally:
            context.close()

    @group.command("delete")
    def delete_command(name: str = typer.Argument(...)) -> None:
        """Delete a list and all its entries."""
        context = AppContext()
        try:
            context.store.delete_list(name)
        finally:
            context.close()
        console.print(f"deleted list {name}", markup=False)

    @group.command("retract")
    def retract_command(
        name: str = typer.Argument(...),
        hash: str = typer.Argument(..., help="Hex hash to remove from the list."),
        algorithm: str | None = typer.Option(
            None, "--algorithm", help="Default: every algorithm with hashes of this length."
        ),
    ) -> None:
        """Remove one hash from a list at once (e.g. a false positive)."""
        context = AppContext()
        try:
            removed = context.store.retract(name, hash, algorithm, by=_who())
        finally:
            context.close()
        if not removed:
            raise EntryNotFound(f"hash {hash.strip().lower()} is not in list {name!r}")
        console.print(f"retracted {removed} entr{'y' if removed == 1 else 'ies'} from {name}",
                      markup=False)

    app.add_typer(group, name="lists")
