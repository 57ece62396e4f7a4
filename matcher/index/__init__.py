"""In-memory indexes of one algorithm's hashes, behind one protocol (`HashIndex`).

Each algorithm plug-in picks its index (`HashAlgorithm.new_index`): perceptual hashes a
`HammingIndex` (exact range search by multi-index hashing, `hamming.py`), cryptographic
digests an `ExactIndex` (equal or not, `exact.py`). `Matcher` only speaks the protocol, so a
third kind (sharded, on disk) is one new class and the plug-ins that choose it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from spinneret.matcher.index.exact import ExactIndex
from spinneret.matcher.index.hamming import (
    HammingIndex,
    Plan,
    plan_substrings,
    split_bits,
    thresholds,
)
from spinneret.matcher.index.words import (
    as_words,
    brute_force,
    bytes_to_words,
    digest_words,
    distances,
    hex_to_words,
    words_to_hex,
)

#: One query's hits: the entry ids (int64) and their distances (int32), by distance then id.
Hits = tuple[np.ndarray, np.ndarray]


@runtime_checkable
class HashIndex(Protocol):
    """An index of equal-length hashes with stable integer ids (assigned by `add` in
    increasing order, never reused)."""

    def __len__(self) -> int:
        """Live entries."""

    def add(self, hashes: Sequence[str]) -> np.ndarray:
        """Add lowercase hex hashes; their ids, in the order given."""

    def add_digests(self, digests: bytes) -> np.ndarray:
        """Add hashes given as raw bytes, concatenated (the store's column layout)."""

    def search(self, query: str, radius: int) -> Hits:
        """Every live entry within `radius` of one query (an exact index: equal ones)."""

    def search_many(self, queries: Sequence[str], radius: int) -> list[Hits]:
        """Every live entry within `radius` of each query (an exact index: equal ones)."""

    def hashes_of(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """The hex of each id."""

    def remove_hashes(self, hashes: Sequence[str]) -> np.ndarray:
        """Remove every entry equal to one of `hashes`; the removed ids."""

    def memory_bytes(self) -> int:
        """Bytes the index holds."""


__all__ = [
    "ExactIndex", "HammingIndex", "HashIndex", "Hits", "Plan", "as_words", "brute_force",
    "bytes_to_words", "digest_words", "distances", "hex_to_words", "plan_substrings",
    "split_bits", "thresholds", "words_to_hex",
]
