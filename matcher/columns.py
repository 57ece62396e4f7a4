"""A list's entries as columns: raw hash bytes and packed payloads, no object per entry.

The warm-start path reads millions of entries; one `ListEntry` per entry (two decodes, a
partition, a dataclass) cost more than building the index. `EntryColumns` keeps the hashes as
one bytes block (decoded straight into uint64 words for the Hamming index) and the payloads
(label, or label + U+001F + source id, as stored) as one UTF-8 block plus end offsets, decoded
only for the few entries that match.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

FIELD_SEPARATOR = "\x1f"


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
        """(label, source_id) of entry `i`."""
        start = int(self.ends[i - 1]) if i else 0
        text = self.blob[start : int(self.ends[i])].decode("utf-8", "replace")
        label, _, source_id = text.partition(FIELD_SEPARATOR)
        return label, source_id

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
        """(hash, label, source_id) per entry, in column order (for tests and small lists)."""
        for i, value in enumerate(self.hexes()):
            yield (value, *self.payloads.get(i))

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
