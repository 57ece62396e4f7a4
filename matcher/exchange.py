"""Hash-sharing exchange formats that `lists import` reads and `lists export` writes.

- `threatexchange-csv`: python-threatexchange's dataset CSV (`threatexchange dataset
  --csv`): a header `signal_type,signal_str,collab,category,tags`, one row per signal and
  collaboration. `category` is the aggregate opinion: POSITIVE_CLASS rows are imported;
  NEGATIVE_CLASS (a false positive or test data) and INVESTIGATION_SEED (an indirect
  indicator that needs verifying) rows are checked but left out, so they never cause a
  notice. `tags` (space-separated) become the entry's label.
- `threatexchange-file`: python-threatexchange's local-file format: `<signal_type> <signal>`
  per line (`#` lines and blank lines skipped).

Signal types are mapped to Spinneret's algorithms (`pdq`; `video_md5` and `md5` to the file
digest `md5`; `video_sha256` and `sha256` to `sha256`; Spinneret's own names as they are).
python-threatexchange's signal types that are not image hashes (URLs, text, video TMK,
vPDQ, TLSH) are skipped; any other name is an error. Every error names its line; a file
with one bad row is rejected whole (the caller stores nothing).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TextIO

from spinneret.matcher import programme_formats
from spinneret.matcher.algorithms import AlgorithmRegistry
from spinneret.matcher.errors import (
    HashListFileError,
    InvalidHash,
    InvalidHashList,
    UnknownAlgorithm,
)
from spinneret.matcher.store import ListEntry

log = logging.getLogger(__name__)

TE_CSV = "threatexchange-csv"
TE_FILE = "threatexchange-file"
WRITABLE = (TE_CSV, TE_FILE)
FORMATS = (*WRITABLE, *programme_formats.FORMATS)  # NCMEC, TCAP: matcher/programme_formats.py
TE_CSV_HEADER = ("signal_type", "signal_str", "collab", "category", "tags")

# python-threatexchange signal type -> Spinneret algorithm.
_TE_ALGORITHMS = {"pdq": "pdq", "video_md5": "md5", "md5": "md5", "video_sha256": "sha256",
                  "sha256": "sha256"}
# The reverse, for export: python-threatexchange's own names where it has the type.
_TE_NAMES = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256"}
_NOT_IMAGE_HASHES = frozenset({"url", "url_md5", "raw_text", "trend_query", "vpdq",
                               "video_tmk_pdqf", "tmk", "tlsh", "text"})
IMPORTED_CATEGORIES = frozenset({"POSITIVE_CLASS", ""})
LEFT_OUT_CATEGORIES = frozenset({"NEGATIVE_CLASS", "INVESTIGATION_SEED"})

# A row as matcher/hashlist.py validates it: (line, algorithm, hash, label, source id).
Row = tuple[int, str, str, str, str]


def refine(guessed: str, head: str) -> str:
    """The format of a file whose extension suggested `guessed`, from its first bytes: the
    exchange formats share the extensions .csv and .txt with Spinneret's own."""
    lines = [line.strip() for line in head.splitlines()]
    first = next((line for line in lines if line and not line.startswith("#")), "")
    if guessed == "csv":
        header = {cell.strip().lower() for cell in next(csv.reader([first]), [])}
        if {"signal_type", "signal_str"} <= header:
            return TE_CSV
    if guessed == "jsonl" and '"hash_digest"' in head:
        return programme_formats.TCAP_JSON
    if guessed == "txt":
        signal_type, _, value = first.partition(" ")
        if value.strip() and (signal_type.lower() in _TE_ALGORITHMS
                              or signal_type.lower() in _NOT_IMAGE_HASHES):
            return TE_FILE
    return guessed


def rows(stream: Iterable[str], format: str, registry: AlgorithmRegistry) -> Iterator[Row]:
    """The rows of an exchange file for hashlist's validation (left-out rows are checked
    here and not yielded)."""
    if format in programme_formats.FORMATS:
        yield from programme_formats.rows(stream, format)
        return
    skipped: Counter[str] = Counter()
    reader = _te_csv_rows(stream) if format == TE_CSV else _te_file_rows(stream)
    for line, signal_type, value, category, tags in reader:
        algorithm = _algorithm(line, signal_type, registry)
        if algorithm is None:
            skipped[f"signal type {signal_type.strip()}"] += 1
            continue
        category = category.strip().upper()
        if category in LEFT_OUT_CATEGORIES:
            _check_hash(line, algorithm, value, registry)
            skipped[category] += 1
            continue
        if category not in IMPORTED_CATEGORIES:
            raise InvalidHashList(line, f"unknown category {category!r} (POSITIVE_CLASS, "
                                        "INVESTIGATION_SEED or NEGATIVE_CLASS)")
        yield line, algorithm, value, " ".join(tags.split()), ""
    if skipped:
        log.info("left out of the import: %s",
                 ", ".join(f"{n} {what}" for what, n in sorted(skipped.items())))


def _algorithm(line: int, signal_type: str, registry: AlgorithmRegistry) -> str | None:
    name = signal_type.strip().lower()
    if name in _NOT_IMAGE_HASHES:
        return None
    name = _TE_ALGORITHMS.get(name, name)
    if name not in registry:
        raise InvalidHashList(line, f"unknown signal type {signal_type.strip()!r} (image "
                                    f"hashes: {', '.join(sorted({*_TE_ALGORITHMS, *registry.names()}))})")
    return registry.get(name).name


def _check_hash(line: int, algorithm: str, value: str, registry: AlgorithmRegistry) -> None:
    try:
        registry.get(algorithm).parse(value)
    except (InvalidHash, UnknownAlgorithm) as exc:
        raise InvalidHashList(line, str(exc)) from None


# (line, signal_type, signal, category, tags)
_Signal = tuple[int, str, str, str, str]


def _te_file_rows(stream: Iterable[str]) -> Iterator[_Signal]:
    for number, text in enumerate(stream, 1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        signal_type, _, value = text.partition(" ")
        if not value.strip():
            raise InvalidHashList(number, "expected '<signal_type> <signal>'")
        yield number, signal_type, value.strip(), "", ""


def _te_csv_rows(stream: Iterable[str]) -> Iterator[_Signal]:
    reader = csv.reader(stream)
    columns: dict[str, int] | None = None
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if columns is None:
                header = [cell.strip().lower() for cell in row]
                missing = [c for c in ("signal_type", "signal_str") if c not in header]
                if missing or len(set(header)) != len(header):
                    raise InvalidHashList(reader.line_num, "header must name signal_type,"
                                          "signal_str[,collab,category,tags] once each")
                columns = {name: i for i, name in enumerate(header)}
                continue
            if len(row) != len(columns):
                raise InvalidHashList(reader.line_num, f"expected {len(columns)} columns "
                                                       f"({','.join(columns)}), got {len(row)}")
            cells = [row[columns[name]] if name in columns else ""
                     for name in ("signal_type", "signal_str", "category", "tags")]
            yield reader.line_num, cells[0], cells[1], cells[2], cells[3]
    except csv.Error as exc:
        raise InvalidHashList(reader.line_num, f"malformed CSV: {exc}") from None
    if columns is None:
        raise InvalidHashList(1, "empty file: expected a header "
                                 "signal_type,signal_str,collab,category,tags")


def te_name(algorithm: str) -> str:
    return _TE_NAMES.get(algorithm, algorithm)


def write(entries: Iterable[ListEntry], out: TextIO, format: str, *, collab: str) -> int:
    """Write entries in an exchange format; returns the number written. Every entry is
    POSITIVE_CLASS (Spinneret's lists hold what should be found); its label is the tags."""
    if format not in WRITABLE:
        raise HashListFileError(f"{format} is read only; export writes {', '.join(WRITABLE)}")
    count = 0
    if format == TE_CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(TE_CSV_HEADER)
        for entry in entries:
            writer.writerow([te_name(entry.algorithm), entry.hash, collab, "POSITIVE_CLASS",
                             " ".join(entry.label.split())])
            count += 1
    else:
        for entry in entries:
            out.write(f"{te_name(entry.algorithm)} {entry.hash}\n")
            count += 1
    return count
