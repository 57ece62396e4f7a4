"""A list's entries as columns: raw hash bytes and packed payloads, no object per entry.

The warm-start path reads millions of entries; one `ListEntry` per entry (two decodes, a
partition, a dataclass) cost more than building the index. `EntryColumns` keeps the hashes as
one bytes block (decoded straight into uint64 words for the Hamming index) and the payloads
as one UTF-8 block plus end offsets, decoded only for the few entries that match.

A payload is what the store keeps per hash: one record per listed (hash, source id) pair,
records joined by U+001E (two listed images with one hash keep both), each record the label,
or label + U+001F + source id, or label + U+001F + source id + U+001F + the list's quality.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

FIELD_SEPARATOR = "\x1f"
RECORD_SEPARATOR = "\x1e"


@dataclass(frozen=True, slots=True)
class PayloadRecord:
    """One listed image behind a hash: its label, source id and (if the list gave one) its
    quality."""

    label: str
    source_id: str = ""
    quality: int | None = None

    def encode(self) -> str:
        if self.quality is not None:
            return FIELD_SEPARATOR.join((self.label, self.source_id, str(self.quality)))
        return self.label + FIELD_SEPARATOR + self.source_id if self.source_id else self.label


def decode_records(text: str) -> list[PayloadRecord]:
    """The records of one stored payload."""
    records = []
    for part in text.split(RECORD_SEPARATOR):
        label, _, rest = part.partition(FIELD_SEPARATOR)
        source_id, _, quality = rest.partition(FIELD_SEPARATOR)
        records.append(PayloadRecord(label, source_id,
                                     int(quality) if quality.isdigit() else None))
    return records


def _end_type(total: int) -> type:
    return np.uint32 if total < 2**32 else np.int64


@dataclass(frozen=True)
class Payloads:
    """Labels and source ids of n entries, packed: entry i is blob[ends[i-1]:ends[i]]."""

    blob: bytes
    ends: np.ndarray  # (n,) uint32 or int64

    def __len__(self) -> int:
        return len(self.ends)

    def get(self, i: int) -> tuple[str, str]:
        """(label, source_id) of entry `i`'s first record."""
        first = self.records(i)[0]
        return first.label, first.source_id

    def records(self, i: int) -> list[PayloadRecord]:
        """Every listed image behind entry `i` (several when a list gave one hash twice)."""
        start = int(self.ends[i - 1]) if i else 0
        return decode_records(self.blob[start : int(self.ends[i])].decode("utf-8", "replace"))

    def nbytes(self) -> int:
        return len(self.blob) + self.ends.nbytes

    @classmethod
    def from_pairs(cls, labels: Sequence[str], source_ids: Sequence[str]) -> Payloads:
        values = [
            (label + FIELD_SEPARATOR + source if source else label).encode()
            for label, source in zip(labels, source_ids, strict=True)
        ]
        return cls.from_values(values)

    @classmethod
    def from_record_lists(cls, records: Sequence[Sequence[PayloadRecord]]) -> Payloads:
        """One payload per entry from its records (`PayloadRecord`s)."""
        return cls.from_values([
            RECORD_SEPARATOR.join(record.encode() for record in entry).encode()
            for entry in records])

    @classmethod
    def from_values(cls, values: Sequence[bytes]) -> Payloads:
        blob = b"".join(values)
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        return cls(blob, np.cumsum(lengths).astype(_end_type(len(blob))))

    @classmethod
    def concat(cls, parts: Sequence[Payloads]) -> Payloads:
        if len(parts) == 1:
            return parts[0]
        blob = b"".join(p.blob for p in parts)
        ends, shift = [], 0
        for part in parts:
            ends.append(part.ends.astype(np.int64) + shift)
            shift += len(part.blob)
        joined = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
        return cls(blob, joined.astype(_end_type(len(blob))))


@dataclass(frozen=True)
class EntryColumns:
    """One algorithm's entries of one list: n hashes of `digest_size` bytes each (MSB first)."""

    algorithm: str
    digest_size: int
    digests: bytes
    payloads: Payloads

    def __len__(self) -> int:
        return len(self.payloads)

    def words(self) -> np.ndarray:
        """The hashes as an (n, digest_size / 8) uint64 array (the Hamming index's layout)."""
        width = self.digest_size // 8
        return np.frombuffer(self.digests, dtype=">u8").astype(np.uint64).reshape(-1, width)

    def hexes(self) -> list[str]:
        text = self.digests.hex()
        step = self.digest_size * 2
        return [text[i : i + step] for i in range(0, len(text), step)]

    def entries(self) -> Iterator[tuple[str, str, str]]:
        """(hash, label, source_id) per listed record, in column order (for tests and small
        lists)."""
        for i, value in enumerate(self.hexes()):
            for record in self.payloads.records(i):
                yield value, record.label, record.source_id

    def unique(self) -> EntryColumns:
        """Without repeated hashes (first kept): HSCAN may return a field twice while Redis
        rehashes the table."""
        n = len(self)
        rows = np.frombuffer(self.digests, dtype=f"V{self.digest_size}")
        _, first = np.unique(rows, return_index=True)
        if len(first) == n:
            return self
        first.sort()
        starts = np.concatenate([[0], self.payloads.ends[:-1].astype(np.int64)])
        ends = self.payloads.ends.astype(np.int64)
        blob = self.payloads.blob
        values = [blob[starts[i] : ends[i]] for i in first.tolist()]
        return EntryColumns(self.algorithm, self.digest_size, rows[first].tobytes(),
                            Payloads.from_values(values))
