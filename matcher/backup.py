"""Back up every hash list to a directory (one CSV export each, plus a lists.json manifest)
and read such a backup back: the format is the matcher's, so the CLI and the API can both
offer it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from spinneret.matcher.errors import HashListFileError, MatcherError
from spinneret.matcher.hashlist import ListFormat, export_list
from spinneret.matcher.store import FingerprintStore, ListInfo, StoreConflict

BACKUP_MANIFEST = "lists.json"
BACKUP_FORMAT = "spinneret-lists-backup"
# Metadata a restore gives back to each list (the rest is the store's: version, times, by).
RESTORED_FIELDS = ("kind", "source", "category", "description")


class BackupError(MatcherError):
    """The backup directory cannot be written."""


def list_record(info: ListInfo) -> dict[str, object]:
    """A list's metadata and counts as plain data: a backup manifest's entry, and what the
    CLI's and the API's JSON show."""
    return {
        "name": info.name, "kind": info.kind, "source": info.source, "category": info.category,
        "description": info.description, "version": info.version, "counts": info.counts,
        "entries": info.total, "created_at": info.created_at, "updated_at": info.updated_at,
        "updated_by": info.updated_by, "rows": info.rows, "shared": info.shared,
        "weak": info.weak, "controls": info.controls.to_json(),
    }


def write_atomically(path: Path, write: Callable[[TextIO], object]) -> object:
    """Write through `path`.partial and rename, so a failure leaves no half file."""
    partial = path.with_name(path.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            result = write(out)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return result


def backup_lists(store: FingerprintStore, directory: Path) -> list[dict[str, object]]:
    """Export every list to `directory`/<name>.csv and its metadata to lists.json (written
    last: a directory without it is not a finished backup). A list changed while it was being
    exported is exported again."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BackupError(f"cannot back up to {directory}: it exists and is not a "
                             "directory") from None
    except OSError as exc:
        raise BackupError(f"cannot back up to {directory}: {exc.strerror or exc}") from None
    manifest: list[dict[str, object]] = []
    for listed in store.lists():
        filename = f"{listed.name}.csv"
        export = functools.partial(export_list, store, listed.name, format=ListFormat.csv)
        for _ in range(3):
            before = store.get_list(listed.name)
            count = write_atomically(directory / filename, export)
            info = store.get_list(listed.name)
            if info.version == before.version and count == info.total:
                break
        else:
            raise StoreConflict(f"list {listed.name!r} kept changing while being backed up")
        manifest.append({**list_record(info), "file": filename})
    write_atomically(directory / BACKUP_MANIFEST, lambda out: json.dump(
        {"format": BACKUP_FORMAT, "store_version": store.version(), "lists": manifest},
        out, indent=2))
    return manifest


def read_backup(directory: Path) -> list[dict[str, object]]:
    """The lists a backup directory holds, checked before anything is restored."""
    path = directory / BACKUP_MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HashListFileError(f"{path}: not a list backup ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise HashListFileError(f"{path}: not a {BACKUP_FORMAT} manifest")
    lists = manifest.get("lists") or []
    for item in lists:
        filename = str(item.get("file", ""))
        if Path(filename).name != filename or not (directory / filename).is_file():
            raise HashListFileError(f"{directory}: list {item.get('name')!r} has no file "
                                    f"{item.get('file')!r}")
    return lists
