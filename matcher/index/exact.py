"""The exact-hash index (md5, sha256): equal or not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from spinneret.matcher.errors import InvalidHash
from spinneret.matcher.index.words import bytes_to_words, digest_words


class ExactIndex:
    """md5/sha256 lookups: equal or not. Same id contract as `HammingIndex`.

    The digests are one (n, W) uint64 array in id order (right-padded with zero bytes to whole
    words) plus their positions sorted by the first word: a lookup is a binary search and a
    check of the (almost always one-long) run sharing that word. ~(9W + 9) bytes per entry,
    where a dict of hex strings took ~300 and ~13 s per million entries to fill. Removals are
    tombstones; ids are positions and never reused.

    `bits` fixes the digest length (else the first `add` does); a query of another length,
    or not hex, finds nothing.
    """

    def __init__(self, bits: int | None = None) -> None:
        self._words = np.zeros((0, 1), dtype=np.uint64)
        self._alive = np.zeros(0, dtype=bool)
        self._order = np.zeros(0, dtype=np.int64)  # positions sorted by their first word
        self._first = np.zeros(0, dtype=np.uint64)  # first words, sorted
        self._digits = bits // 4 if bits else 0  # hex digits per hash
        self._dead = 0

    def __len__(self) -> int:
        return len(self._alive) - self._dead

    def add(self, hashes: Iterable[str] | np.ndarray, digits: int | None = None) -> np.ndarray:
        """Add hex digests (any case), or an (n, W) uint64 array of padded digests of
        `digits` hex digits (default: W * 16)."""
        if isinstance(hashes, np.ndarray):
            words = np.ascontiguousarray(hashes, dtype=np.uint64).reshape(len(hashes), -1)
            digits = digits or words.shape[1] * 16
        else:
            texts = list(hashes)
            if not texts:
                return np.zeros(0, dtype=np.int64)
            digits = len(texts[0])
            words = digest_words(texts, digits)
        start = len(self._alive)
        if (self._digits and digits != self._digits) or (
                start and words.shape[1] != self._words.shape[1]):
            raise InvalidHash(f"expected {self._digits}-digit hashes, got {digits}")
        self._digits = digits
        self._words = np.concatenate([self._words, words]) if start else words
        self._alive = np.concatenate([self._alive, np.ones(len(words), dtype=bool)])
        self._order = np.argsort(self._words[:, 0])
        self._first = self._words[self._order, 0]
        return np.arange(start, len(self._alive), dtype=np.int64)

    def add_digests(self, digests: bytes) -> np.ndarray:
        """Add digests given as their raw bytes, concatenated (the store's column layout);
        needs the length fixed (`bits`, or an earlier `add`)."""
        size = self._digits // 2
        if not size or len(digests) % size:
            raise ValueError(f"{len(digests)} bytes are not whole {self._digits}-digit digests")
        return self.add(bytes_to_words(digests, size), self._digits)

    def remove(self, ids: Iterable[int]) -> int:
        wanted = np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))
        wanted = wanted[(wanted >= 0) & (wanted < len(self._alive))]
        wanted = wanted[self._alive[wanted]]
        self._alive[wanted] = False
        self._dead += len(wanted)
        return len(wanted)

    def remove_hashes(self, hashes: Iterable[str]) -> np.ndarray:
        found = [self.search(text)[0] for text in hashes]
        ids = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        self.remove(ids)
        return ids

    def search(self, query: str, radius: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(ids, zeros) of the live entries equal to `query`, by id; none for a malformed one."""
        none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32))
        if len(query) != self._digits:
            return none
        try:
            raw = bytes.fromhex(query)
        except ValueError:
            return none
        raw += bytes(-len(raw) % 8)
        first = np.uint64(int.from_bytes(raw[:8], "big"))
        lo = int(self._first.searchsorted(first, side="left"))
        hi = int(self._first.searchsorted(first, side="right"))
        if lo == hi:
            return none
        positions = self._order[lo:hi]
        words = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
        equal = (self._words[positions] == words).all(axis=1) & self._alive[positions]
        positions = np.sort(positions[equal])
        return positions, np.zeros(len(positions), dtype=np.int32)

    def search_many(self, queries: Sequence[str], radius: int = 0
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`search` of each query: equal or nothing, whatever the radius."""
        return [self.search(query) for query in queries]

    def hashes_of(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Hex of each stored id (removed ones too); KeyError if unknown."""
        wanted = np.asarray(ids, dtype=np.int64)
        if ((wanted < 0) | (wanted >= len(self._alive))).any():
            raise KeyError("unknown id")
        size = self._digits // 2
        raw = self._words[wanted].astype(">u8")
        return [row.tobytes()[:size].hex() for row in raw]

    def memory_bytes(self) -> int:
        return (self._words.nbytes + self._alive.nbytes + self._order.nbytes
                + self._first.nbytes)
