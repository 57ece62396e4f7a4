"""`spinneret hash FILE...`: every configured hash of each file."""

from __future__ import annotations

import os

# One image at a time, on small matrices: OpenBLAS's thread pool would cost ~0.1 s of CPU
# when numpy loads (after this line) and gain nothing. A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402

from spinneret.cli.common import OutputFormat, err_console  # noqa: E402
from spinneret.cli.output import TableView, print_table  # noqa: E402
from spinneret.config.defaults import all_defaults  # noqa: E402
from spinneret.matcher.errors import UnhashableImage  # noqa: E402
from spinneret.matcher.hashing import HashOptions, ImageHashes, hash_image  # noqa: E402
from spinneret.matcher.kernels import prefer_compiled  # noqa: E402

#: From this many files numba's kernels pay for their ~0.9 s of loading and teardown (they
#: save ~5 ms per image over the numpy ones); fewer files run numpy (matcher.kernels).
BULK_FILES = 200


def read_and_hash(path: Path, options: HashOptions) -> ImageHashes:
    """Hash one file; any reason it cannot be hashed is raised as `UnhashableImage`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnhashableImage(f"cannot read file: {exc.strerror or exc}") from None
    return hash_image(data, options)


def hash_files(paths: list[Path]) -> tuple[list[tuple[Path, ImageHashes]], int]:
    """Hash each path, reporting failures on stderr as they happen; returns results, failures."""
    options = _options()
    if len(paths) >= BULK_FILES:
        prefer_compiled(True)
    results: list[tuple[Path, ImageHashes]] = []
    failures = 0
    for path in paths:
        try:
            results.append((path, read_and_hash(path, options)))
        except UnhashableImage as exc:
            failures += 1
            err_console.print(f"spinneret: {path}: {exc.reason}", markup=False)
    return results, failures


def _options() -> HashOptions:
    """The configured hashing options; with every setting at its default, `HashOptions()`
    (equal to them, tests/test_hash_cli.py) without loading the settings machinery."""
    if all_defaults():
        return HashOptions()
    from spinneret.config import get_settings

    return HashOptions.from_settings(get_settings())


def register(app: typer.Typer) -> None:
    @app.command("hash")
    def hash_command(
        files: list[Path] = typer.Argument(..., help="Image files to hash."),
        format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    ) -> None:
        """Print sha256, md5, and phash, dhash, pdq and cropdct each with its quality 0-100,
        of each file (the configured algorithms: SPINNERET_ALGORITHMS)."""
        results, failures = hash_files(files)
        if format is OutputFormat.csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(["path", "algorithm", "hash", "quality"])
            for path, hashes in results:
                for value in hashes.values:
                    quality = "" if value.quality is None else value.quality
                    writer.writerow([str(path), value.algorithm, value.hex, quality])
        elif format is OutputFormat.json:
            for path, hashes in results:
                record: dict[str, object] = {"path": str(path)}
                for value in hashes.values:
                    record[value.algorithm] = value.hex
                    if value.quality is not None:
                        record[f"{value.algorithm}_quality"] = value.quality
                record.update(format=hashes.format, width=hashes.width, height=hashes.height)
                sys.stdout.write(json.dumps(record) + "\n")
        else:
            rows = []
            for path, hashes in results:
                cells = [str(path)]
                for value in hashes.values:
                    cells.append(value.hex)
                    if value.quality is not None:
                        cells.append(str(value.quality))
                rows.append(cells)
            print_table(TableView("Image hashes", ["path", *_columns(results)], rows))
        if failures:
            raise typer.Exit(1)


def _columns(results: list[tuple[Path, ImageHashes]]) -> list[str]:
    if not results:
        return []
    names: list[str] = []
    for value in results[0][1].values:
        names.append(value.algorithm)
        if value.quality is not None:
            names.append(f"{value.algorithm}_quality")
    return names
