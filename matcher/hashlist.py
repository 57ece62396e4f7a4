"""Hash-list files: CSV, JSONL and TXT; streamed reading with strict validation, and export.

- CSV: a header naming `algorithm,hash` and optionally `label`, `source_id`, `quality` (any
  order, other columns ignored), then one row per hash. `quality` (0-100, may be empty) is
  the list's own figure for the hash (as PDQ lists carry); below the algorithm's minimum the
  entry is weak: kept, counted, and matched only when corroborated.
- JSONL: one object per line with the same keys.
- TXT: one hash per line; the algorithm comes from the caller. `#` starts a comment line.

UTF-8 with or without BOM, LF or CRLF, blank lines skipped, optional gzip (`.gz`). Hashes are
normalised to lowercase hex (a `0x` prefix is accepted). Any bad row raises
`InvalidHashList(line, reason)`; callers that store entries do so only after the whole stream
was read (see `FingerprintStore.replace_list`), so a bad file changes nothing.

Validation is batched: per row only cheap length and dict look-ups run; the hex alphabet of a
whole batch is checked with one `bytes.translate` call, and only a failing batch is searched
row by row for its line number.
"""

from __future__ import annotations

import csv
import enum
import gzip
import io
import json
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TextIO

from spinneret.matcher import exchange
from spinneret.matcher.algorithms import AlgorithmRegistry, default_registry
from spinneret.matcher.algorithms.base import first_not_hex, is_hex
from spinneret.matcher.columns import FIELD_SEPARATOR, RECORD_SEPARATOR
from spinneret.matcher.errors import (
    HashListFileError,
    InvalidHashList,
    ListNotFound,
    UnknownAlgorithm,
)
from spinneret.matcher.store import FingerprintStore, ImportResult, ListEntry

BATCH_ROWS = 20_000

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class ListFormat(enum.StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    txt = "txt"
    threatexchange_csv = exchange.TE_CSV  # exchange formats: matcher/exchange.py
    threatexchange_file = exchange.TE_FILE
    ncmec_xml = exchange.programme_formats.NCMEC_XML
    tcap_json = exchange.programme_formats.TCAP_JSON


_SUFFIXES = {
    ".csv": ListFormat.csv,
    ".jsonl": ListFormat.jsonl,
    ".ndjson": ListFormat.jsonl,
    ".json": ListFormat.jsonl,
    ".txt": ListFormat.txt,
    ".lst": ListFormat.txt,
    ".xml": ListFormat.ncmec_xml,
}


def guess_format(path: Path) -> ListFormat:
    """The format named by the file extension (ignoring a trailing `.gz`)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise HashListFileError(
        f"cannot tell the format of {path.name!r} from its extension; pass --format"
    )


def refine_format(path: Path, guessed: ListFormat) -> ListFormat:
    """`guessed` (from the extension), or the exchange format the file's start shows."""
    with open_text(path) as stream:
        head = stream.read(4096)
    return ListFormat(exchange.refine(guessed.value, head))


class _CountingReader(io.RawIOBase):
    """Counts bytes read from a binary file so a progress bar can follow a streamed import."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None]) -> None:
        self._raw = raw
        self._progress = progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self._progress(self.count)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_text(path: Path, progress: Callable[[int], None] | None = None) -> TextIO:
    """Open a list file as text: UTF-8 with optional BOM, undecodable bytes kept as surrogates
    (so the row that holds them is rejected with its line number), gzip when named `.gz`."""
    try:
        raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise HashListFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".gz":
        raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    if progress is not None:
        raw = io.BufferedReader(_CountingReader(raw, progress), buffer_size=1 << 20)
    return io.TextIOWrapper(
        raw, encoding="utf-8-sig", errors="surrogateescape", newline="",  # type: ignore[arg-type]
    )


def read_hash_list(
    path: Path,
    format: ListFormat | str | None = None,
    algorithm: str | None = None,
    registry: AlgorithmRegistry | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[ListEntry]:
    """Stream the entries of a list file. `progress(bytes_read)` is called as the file is read.

    Raises `InvalidHashList` for the first bad row (or an unreadable file).
    """
    path = Path(path)
    stream = None
    try:
        # Guessing the format reads the file's start (exchange formats share .csv/.txt), so a
        # corrupt file can fail here already.
        fmt = ListFormat(format) if format else refine_format(path, guess_format(path))
        stream = open_text(path, progress)
        yield from parse_hash_list(stream, fmt, algorithm, registry)
    except UnicodeDecodeError:  # only possible for gzip framing errors etc.
        raise HashListFileError("file is not UTF-8 text") from None
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a corrupt .gz
        raise HashListFileError(f"cannot read {path}: {exc}") from None
    finally:
        if stream is not None:
            stream.close()


def parse_hash_list(
    stream: Iterable[str],
    format: ListFormat | str,
    algorithm: str | None = None,
    registry: AlgorithmRegistry | None = None,
) -> Iterator[ListEntry]:
    """Entries of an open text stream (lines, newline="" recommended for CSV)."""
    registry = registry or default_registry()
    fmt = ListFormat(format)
    if fmt is ListFormat.txt:
        if not algorithm:
            raise HashListFileError("a TXT list needs --algorithm (one of "
                                  f"{', '.join(registry.names())})")
        rows = _txt_rows(stream, _algorithm_name(registry, algorithm))
    elif fmt is ListFormat.csv:
        rows = _csv_rows(stream)
    elif fmt.value in exchange.FORMATS:
        # exchange formats carry no quality column
        rows = ((*row, None) for row in exchange.rows(stream, fmt.value, registry))
    else:
        rows = _jsonl_rows(stream)
    return _validated(rows, registry)


def _algorithm_name(registry: AlgorithmRegistry, name: str) -> str:
    try:
        return registry.get(name).name
    except UnknownAlgorithm as exc:
        raise HashListFileError(str(exc)) from None


# A row: (line number, algorithm as written, hash as written, label, source id, quality).
_Row = tuple[int, str, str, str, str, object]


def _txt_rows(stream: Iterable[str], algorithm: str) -> Iterator[_Row]:
    for number, line in enumerate(stream, 1):
        value = line.strip()
        if value and value[0] != "#":
            yield number, algorithm, value, "", "", None


def _csv_rows(stream: Iterable[str]) -> Iterator[_Row]:
    reader = csv.reader(stream)
    header: list[str] | None = None
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                columns = _csv_columns(header, reader.line_num)
                width = len(header)
                ai, hi, li, si, qi = columns
                continue
            if len(row) != width:
                raise InvalidHashList(
                    reader.line_num,
                    f"expected {width} columns ({','.join(header)}), got {len(row)}",
                )
            yield (
                reader.line_num,
                row[ai],
                row[hi],
                row[li] if li is not None else "",
                row[si] if si is not None else "",
                row[qi] if qi is not None else None,
            )
    except csv.Error as exc:
        raise InvalidHashList(reader.line_num, f"malformed CSV: {exc}") from None
    if header is None:
        raise InvalidHashList(1, "empty file: expected a header algorithm,hash[,label][,source_id]")


def _csv_columns(header: list[str], line: int
                 ) -> tuple[int, int, int | None, int | None, int | None]:
    for required in ("algorithm", "hash"):
        if required not in header:
            raise InvalidHashList(
                line, f"header lacks column {required!r} (expected algorithm,hash[,label]"
                "[,source_id])"
            )
    if len(set(header)) != len(header):
        raise InvalidHashList(line, "header repeats a column name")

    def index(name: str) -> int | None:
        return header.index(name) if name in header else None

    return (header.index("algorithm"), header.index("hash"), index("label"), index("source_id"),
            index("quality"))


def _jsonl_rows(stream: Iterable[str]) -> Iterator[_Row]:
    loads = json.loads
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except ValueError as exc:
            raise InvalidHashList(number, f"invalid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise InvalidHashList(number, "expected a JSON object")
        try:
            algorithm = record["algorithm"]
            value = record["hash"]
        except KeyError as exc:
            raise InvalidHashList(number, f"missing key {exc.args[0]!r}") from None
        label = record.get("label", "")
        source_id = record.get("source_id", "")
        for key, item in (("algorithm", algorithm), ("hash", value)):
            if not isinstance(item, str):
                raise InvalidHashList(number, f"{key!r} must be a string")
        yield number, algorithm, value, _text(label, "label", number), _text(
            source_id, "source_id", number
        ), record.get("quality")


def _text(value: object, key: str, line: int) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidHashList(line, f"{key!r} must be a string or an integer")


def _validated(rows: Iterator[_Row], registry: AlgorithmRegistry) -> Iterator[ListEntry]:
    lengths = {a.name: a.hex_length for a in registry}
    aliases = {name.lower(): name for name in lengths}
    batch: list[tuple[int, str, str, str, str, int | None]] = []
    for line, algorithm, value, label, source_id, quality in rows:
        name = aliases.get(algorithm) or aliases.get(algorithm.strip().lower())
        if name is None:
            raise InvalidHashList(
                line, f"unknown hash algorithm {algorithm.strip()!r} "
                f"(known: {', '.join(lengths)})"
            )
        value = value.strip().lower()
        expected = lengths[name]
        if len(value) != expected:
            if value.startswith("0x") and len(value) == expected + 2:
                value = value[2:]
            else:
                raise InvalidHashList(
                    line, f"{name} hash must be {expected} hex digits, got {len(value)}"
                )
        if label:
            label = label.strip()
            _check_text(label, "label", line)
        if source_id:
            source_id = source_id.strip()
            _check_text(source_id, "source_id", line)
        batch.append((line, name, value, label, source_id, _quality(quality, line)))
        if len(batch) >= BATCH_ROWS:
            yield from _checked_batch(batch)
            batch = []
    if batch:
        yield from _checked_batch(batch)


def _check_text(value: str, key: str, line: int) -> None:
    if FIELD_SEPARATOR in value or RECORD_SEPARATOR in value:
        bad = "U+001F" if FIELD_SEPARATOR in value else "U+001E"
        raise InvalidHashList(line, f"{key} contains the control character {bad}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidHashList(line, f"{key} is not valid UTF-8") from None


def _quality(value: object, line: int) -> int | None:
    """A row's quality: empty/absent is None, else an integer 0-100."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        value = None
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidHashList(line, "quality must be an integer 0-100 (or empty)")
    return value


def _checked_batch(batch: list[tuple[int, str, str, str, str, int | None]]
                   ) -> Iterator[ListEntry]:
    bad = first_not_hex([row[2] for row in batch])
    if bad is not None:
        line, name, value = batch[bad][:3]
        char = next(c for c in value if not is_hex(c))
        raise InvalidHashList(line, f"{name} hash has a character other than 0-9a-f: {char!r}")
    for _line, name, value, label, source_id, quality in batch:
        yield ListEntry(name, value, label, source_id, quality)


# --- export ------------------------------------------------------------------


def write_hash_list(
    entries: Iterable[ListEntry], out: TextIO, format: ListFormat | str,
    algorithm: str | None = None,
) -> int:
    """Write entries in `format`; returns the number written. TXT holds hashes only, so it
    needs a single algorithm: `algorithm` filters to it, and mixed algorithms are refused."""
    fmt = ListFormat(format)
    count = 0
    if fmt is ListFormat.csv:
        # RFC 4180 line ends: QUOTE_MINIMAL quotes a field holding any character of the line
        # terminator, so with "\r\n" a lone "\r" inside a label is quoted and round-trips.
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["algorithm", "hash", "label", "source_id"])
        for entry in entries:
            if algorithm and entry.algorithm != algorithm:
                continue
            writer.writerow([entry.algorithm, entry.hash, entry.label, entry.source_id])
            count += 1
    elif fmt is ListFormat.jsonl:
        dumps = json.dumps
        for entry in entries:
            if algorithm and entry.algorithm != algorithm:
                continue
            record = {"algorithm": entry.algorithm, "hash": entry.hash}
            if entry.label:
                record["label"] = entry.label
            if entry.source_id:
                record["source_id"] = entry.source_id
            if entry.quality is not None:
                record["quality"] = entry.quality
            out.write(dumps(record, ensure_ascii=False) + "\n")
            count += 1
    else:
        seen: str | None = algorithm
        for entry in entries:
            if seen is None:
                seen = entry.algorithm
            if entry.algorithm != seen:
                if algorithm:
                    continue
                raise HashListFileError(
                    "the list holds several algorithms; TXT export needs --algorithm"
                )
            out.write(entry.hash + "\n")
            count += 1
    return count


# --- operations shared by the CLI and the API ----------------------------------


def import_file(
    store: FingerprintStore,
    path: Path,
    name: str,
    *,
    format: ListFormat | str | None = None,
    algorithm: str | None = None,
    kind: str | None = None,
    source: str | None = None,
    category: str | None = None,
    description: str | None = None,
    by: str = "",
    progress: Callable[[int], None] | None = None,
    min_quality: Mapping[str, int] | None = None,
) -> ImportResult:
    """Validate and import a list file as list `name` (replacing it); all or nothing.
    `min_quality` per algorithm decides which rows are counted weak (see `replace_list`).

    Metadata left as None keeps the list's current value (a re-import of an allow list stays
    an allow list), or the default for a new list (kind `block`, the rest empty).
    """
    try:
        current = store.get_list(name)  # also rejects a bad name before the file is read
    except ListNotFound:
        current = None

    def keep(value: str | None, field: str, default: str = "") -> str:
        if value is not None:
            return value
        return getattr(current, field) if current else default

    entries = read_hash_list(path, format, algorithm, progress=progress)
    return store.replace_list(
        name, entries, kind=keep(kind, "kind", "block"), source=keep(source, "source"),
        category=keep(category, "category"), description=keep(description, "description"),
        by=by, min_quality=min_quality,
    )


def export_list(
    store: FingerprintStore, name: str, out: TextIO, format: ListFormat | str,
    algorithm: str | None = None,
) -> int:
    """Write list `name` to `out` in `format`; returns the number of entries written."""
    fmt = ListFormat(format)
    info = store.get_list(name)
    if fmt.value in exchange.FORMATS:
        algorithm = _algorithm_name(default_registry(), algorithm) if algorithm else None
        return exchange.write(store.entries(name, algorithm), out, fmt.value,
                              collab=info.source or info.name)
    if algorithm is not None:
        algorithm = _algorithm_name(default_registry(), algorithm)
    elif fmt is ListFormat.txt and len([a for a, n in info.counts.items() if n]) > 1:
        raise HashListFileError(
            f"list {name!r} holds several algorithms ({', '.join(info.counts)}); "
            "TXT export needs --algorithm"
        )
    return write_hash_list(store.entries(name, algorithm), out, fmt, algorithm)
