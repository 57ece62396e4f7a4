"""`spinneret lists ...`: import, list, show, export, delete hash lists and retract hashes;
back up and restore every list with its metadata."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from spinneret.cli.common import OutputFormat, console, err_console
from spinneret.cli.output import TableView, emit, field_table, print_table
from spinneret.matcher.backup import (
    RESTORED_FIELDS,
    backup_lists,
    list_record,
    read_backup,
    write_atomically,
)
from spinneret.matcher.errors import EntryNotFound, HashListFileError
from spinneret.matcher.hashlist import ListFormat, export_list, import_file
from spinneret.matcher.store import KINDS, ListInfo
from spinneret.runtime.context import app_context

# Files smaller than this import too fast for a progress bar to help.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024



#: --kind's choices: the store's list kinds.
ListKind = enum.StrEnum("ListKind", {kind: kind for kind in KINDS})


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


def _min_qualities(settings) -> dict[str, int]:
    from spinneret.matcher.matching import min_qualities  # the index behind it is not needed here

    return min_qualities(settings)


def _rows_notes(rows: int, shared: int, weak: int) -> list[str]:
    """What an import kept that a plain count hides: shared hashes and weak entries."""
    notes = []
    if shared:
        notes.append(f"{shared} of {rows} rows share a hash with another row (several images "
                     "with one hash): every one is kept and reported by a match")
    if weak:
        entries = "1 entry is" if weak == 1 else f"{weak} entries are"
        notes.append(f"{entries} too weak to match alone (degenerate or low-quality hash): "
                     "kept, they match only when another algorithm confirms the image")
    return notes


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


def _controls_rows(info: ListInfo) -> list[tuple[str, str]]:
    """The analysts' controls of a list, for `lists show`."""
    controls = info.controls
    rows = [("enabled", "yes" if controls.enabled else "no (matches nothing)")]
    held = controls.quarantine
    rows.append(("quarantined", "no" if held is None else
                 f"yes: version {held.version} matched {held.matches} of {held.images} images "
                 f"({_when(held.at)}); auto matches go to review until `lists release`"))
    for algorithm, override in sorted(controls.thresholds.items()):
        said = ", ".join(f"{k} {v}" for k, v in (("auto", override.auto),
                                                  ("review", override.review)) if v is not None)
        rows.append((f"threshold {algorithm}", said))
    if controls.disabled_entries:
        rows.append(("disabled entries", str(len(controls.disabled_entries))))
        rows += [(f"  {alg}", hash_) for alg, hash_ in sorted(controls.disabled_entries)]
    return rows


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
            None, "--format", help="Default: from the file extension (a .csv/.txt in "
            "python-threatexchange's dataset CSV or local-file format is recognised)."
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
        with app_context() as context:
            with _progress(file) as progress:
                result = import_file(
                    context.store, file, list_name, format=format, algorithm=algorithm,
                    kind=kind.value if kind else None, source=source, category=category,
                    description=description, by=_who(), progress=progress,
                    min_quality=_min_qualities(context.settings),
                )
            info = context.store.get_list(list_name)
            console.print(
                f"imported list {info.name} ({info.kind}) version {result.version}: "
                f"added {result.added}, removed {result.removed}, "
                f"unchanged {result.unchanged}; entries: {_counts(info)}",
                markup=False,
            )
            for note in _rows_notes(result.rows, result.shared, result.weak):
                console.print(note, markup=False)
            # What the new entries match among images seen before (runtime.retro_match):
            # here with the in-process pipeline, by a worker with Celery.
            from spinneret.runtime.retro_match import start_retro_match

            console.print(start_retro_match(context, list_name, result.version).summary,
                          markup=False)

    @group.command("ls")
    def ls_command(
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Every list with its kind, category, version and entry counts."""
        with app_context() as context:
            infos = context.store.lists()
        if format is OutputFormat.json:
            for info in infos:
                sys.stdout.write(json.dumps(list_record(info)) + "\n")
            return
        if format is OutputFormat.csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(("name", "kind", "category", "source", "version", "entries",
                             "updated_at"))
            for info in infos:
                writer.writerow((info.name, info.kind, info.category, info.source, info.version,
                                 info.total, _when(info.updated_at)))
            return
        print_table(TableView(
            "Hash lists", ("name", "kind", "category", "source", "version", "entries",
                           "updated"),
            [(info.name, info.kind, info.category, info.source, str(info.version),
              _counts(info), _when(info.updated_at)) for info in infos]))

    @group.command("show")
    def show_command(
        name: str = typer.Argument(...),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Metadata and counts of one list."""
        with app_context() as context:
            info = context.store.get_list(name)
            from spinneret.runtime.retro_match import RetroResults

            retro = RetroResults(context.store).get(name, info.version)
        if format is not OutputFormat.table:
            emit(format, [list_record(info)], field_table("", ()))
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
        if info.total_rows != info.total:
            rows.append(("rows (hash, source id)", str(info.total_rows)))
        if info.total_shared:
            rows.append(("rows sharing a hash", str(info.total_shared)))
        rows.append(("weak entries (match only corroborated)", str(info.total_weak)))
        rows += [(f"  {alg}", str(count)) for alg, count in info.weak.items() if count]
        rows += [
            ("created", _when(info.created_at)), ("updated", _when(info.updated_at)),
            ("updated by", info.updated_by),
        ]
        rows += _controls_rows(info)
        if retro is not None:
            rows.append(("retro-match", retro.summary))
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
        """Write a list in CSV, JSONL or TXT (the formats `lists import` reads), or in
        python-threatexchange's dataset CSV / local-file format."""
        with app_context() as context:
            if output is None:
                export_list(context.store, name, sys.stdout, format, algorithm)
            else:
                count = write_atomically(
                    output, lambda out: export_list(context.store, name, out, format, algorithm))
                err_console.print(f"exported {count} entries of {name} to {output}", markup=False)

    @group.command("backup")
    def backup_command(
        directory: Path = typer.Argument(..., help="Directory to write (created if missing)."),
    ) -> None:
        """Back up every list: one CSV export per list plus lists.json with each list's kind,
        category, source and description (what `lists restore` gives back)."""
        with app_context() as context:
            manifest = backup_lists(context.store, directory)
        entries = sum(int(item["entries"]) for item in manifest)
        console.print(f"backed up {len(manifest)} list(s), {entries} entries, to {directory}",
                      markup=False)

    @group.command("restore")
    def restore_command(
        directory: Path = typer.Argument(..., help="A directory written by `lists backup`."),
        only: list[str] = typer.Option(
            [], "--list", help="Restore only this list (repeatable). Default: every list."),
    ) -> None:
        """Re-import each list of a backup with its metadata (each list replaced atomically;
        lists not in the backup are left alone)."""
        lists = read_backup(directory)
        if only:
            missing = sorted(set(only) - {str(item["name"]) for item in lists})
            if missing:
                raise HashListFileError(f"{directory}: no list {', '.join(missing)} in the backup")
            lists = [item for item in lists if item["name"] in only]
        with app_context() as context:
            for item in lists:
                metadata = {field: str(item.get(field) or "") for field in RESTORED_FIELDS}
                metadata["kind"] = metadata["kind"] or "block"
                result = import_file(
                    context.store, directory / str(item["file"]), str(item["name"]),
                    format=ListFormat.csv, by=_who(), **metadata)
                console.print(
                    f"restored list {item['name']} ({metadata['kind']}) version "
                    f"{result.version}: {result.added + result.unchanged} entries",
                    markup=False)
                if result.added:  # what the restore brought back, against images seen before
                    from spinneret.runtime.retro_match import start_retro_match

                    console.print(start_retro_match(context, str(item["name"]),
                                                    result.version).summary, markup=False)

    @group.command("delete")
    def delete_command(name: str = typer.Argument(...)) -> None:
        """Delete a list and all its entries."""
        with app_context() as context:
            context.store.delete_list(name)
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
        with app_context() as context:
            removed = context.store.retract(name, hash, algorithm, by=_who())
        if not removed:
            raise EntryNotFound(f"hash {hash.strip().lower()} is not in list {name!r}")
        console.print(f"retracted {removed} entr{'y' if removed == 1 else 'ies'} from {name}",
                      markup=False)

    from spinneret.cli import lists_controls_cmd  # noqa: PLC0415 - registered with the group

    lists_controls_cmd.register(group)
    app.add_typer(group, name="lists")
