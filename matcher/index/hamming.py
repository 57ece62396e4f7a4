"""Exact Hamming range search over fixed-length binary hashes.

`HammingIndex` returns exactly what a brute-force scan returns (every live hash within the
radius), but looks at only a small part of the data: multi-index hashing.

The hash is split into m contiguous substrings. Generalised pigeonhole (Qin et al., "GPH",
ICDE 2018): give substring i a threshold t_i with sum(t_i) = r - m + 1. If every substring
differed by more than its t_i, the total distance would be >= sum(t_i + 1) = r + 1 > r, so every
hash within r agrees within t_i bits on at least one substring i. With t_i = floor(r/m) for the
first (r mod m) + 1 substrings and floor(r/m) - 1 for the rest this is never worse than the
plain floor(r/m) rule, and a threshold of -1 means that substring need not be probed at all.

Each substring has a table: the positions of all indexed hashes sorted by that substring's
value (argsort), and a dense offset directory (2**width + 1 entries, a counting-sort bucket
index) so that the bucket of a key is `offsets[key]:offsets[key + 1]` — two array reads instead
of a binary search (`np.searchsorted` over 10M keys measured ~60x slower per probe). A query
XORs its substring keys with every mask of popcount <= t_i (all done at once with numpy),
reads the buckets, and verifies each candidate's full distance with `np.bitwise_count` on
uint64 words. Candidates are verified before de-duplication, so only hits are de-duplicated.

m is chosen per bit length, size and planned radius by a cost model (`plan_substrings`):
probes (keys) and candidates (expected bucket sizes on uniform data) are weighed against
one sequential scan, under a memory cap (index <= ~4x the raw hash bytes). For 10M entries
this picks m=3 (21-22 bit substrings) for 64-bit hashes at r=8 and m=11 (23-24 bit) for
256-bit PDQ at r=31; for small sets it picks a plain scan (m=0). Searching with a radius
other than the planned one stays exact; only the cost changes.

Additions go to a "delta" tail that is scanned until it grows past a fraction of the indexed
part, then the tables are rebuilt. Removals are tombstones (an `alive` mask); when more than a
quarter of the entries are dead the arrays are compacted and the tables rebuilt.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from spinneret.matcher._bucket_kernel import bucket_fill
from spinneret.matcher._hamming_kernel import probe_and_verify
from spinneret.matcher.index.words import as_words, brute_force, distances, words_for, words_to_hex

# Cost model weights (nanoseconds, measured roughly on one core; see docs/benchmarks.md).
_PROBE_NS = 8.0  # one neighbour key: two directory reads plus bookkeeping
_CANDIDATE_NS = 6.0  # one candidate: perm read, random gather of its words, popcount
_CANDIDATE_WORD_NS = 2.0
_SCAN_WORD_NS = 0.7  # sequential XOR + popcount per uint64 word in a brute-force scan
_TABLE_NS = 3000.0  # fixed numpy overhead per probed table
_MAX_WIDTH = 28  # widest substring with a dense directory (2**28 * 4 bytes = 1 GiB)
_MEMORY_FACTOR = 3.95  # total index bytes <= this * raw hash bytes (+ slack for small sets)
_MEMORY_SLACK = 1 << 20
_DELTA_MIN = 4096  # scanned tail allowed before tables are rebuilt ...
_DELTA_FRACTION = 16  # ... or 1/16 of the indexed part, whichever is larger
_DEAD_FRACTION = 4  # compact when more than 1/4 of the entries are tombstones
_KERNEL_CHUNK = 8192  # candidates the compiled kernel gathers before verifying them


# --- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Substring:
    start: int  # first bit, 0 = most significant bit of the hash
    width: int


def split_bits(bits: int, m: int) -> list[Substring]:
    """m contiguous substrings whose widths differ by at most one, wider ones first."""
    base, extra = divmod(bits, m)
    parts, start = [], 0
    for i in range(m):
        width = base + (1 if i < extra else 0)
        parts.append(Substring(start, width))
        start += width
    return parts


def thresholds(radius: int, m: int) -> list[int]:
    """Per-substring thresholds summing to radius - m + 1 (-1 = not probed)."""
    q, rest = divmod(radius, m)
    return [q if i <= rest else q - 1 for i in range(m)]


def _keys_within(width: int, t: int) -> int:
    return sum(math.comb(width, j) for j in range(t + 1))


@dataclass(frozen=True)
class Plan:
    substrings: int  # m; 0 = plain scan
    probes: int
    candidates: float
    cost_ns: float
    table_bytes: int


def plan_substrings(bits: int, n: int, radius: int) -> Plan:
    """Pick m minimising estimated query cost (uniform data) within the memory cap."""
    width = words_for(bits)
    raw = n * width * 8
    fixed = raw + n  # hashes, alive mask (ids are implicit until a compaction)
    budget = _MEMORY_FACTOR * raw + _MEMORY_SLACK - fixed
    best = Plan(0, 0, float(n), _SCAN_WORD_NS * width * n, 0)
    for m in range(1, bits // 4 + 1):
        parts = split_bits(bits, m)
        if parts[0].width > _MAX_WIDTH:
            continue
        table_bytes = sum(((1 << p.width) + 1) * 4 for p in parts) + m * n * 4
        if table_bytes > budget:
            continue
        probes, candidates, tables = 0, 0.0, 0
        for part, t in zip(parts, thresholds(radius, m), strict=True):
            if t < 0:
                continue
            keys = _keys_within(part.width, t)
            probes += keys
            candidates += keys * n / (1 << part.width)
            tables += 1
        cost = (
            _PROBE_NS * probes
            + (_CANDIDATE_NS + _CANDIDATE_WORD_NS * width) * candidates
            + _TABLE_NS * tables
        )
        if cost < best.cost_ns:
            best = Plan(m, probes, candidates, cost, table_bytes)
    return best


def _masks(width: int, t: int) -> np.ndarray:
    """Every `width`-bit XOR mask with popcount <= t (0 first)."""
    masks = [0]
    for j in range(1, t + 1):
        for combo in itertools.combinations(range(width), j):
            masks.append(sum(1 << b for b in combo))
    return np.array(masks, dtype=np.int64)


def substring_keys(words: np.ndarray, part: Substring) -> np.ndarray:
    """The value of one substring of each row of (n, W) uint64 words, as int64."""
    word, offset = divmod(part.start, 64)
    mask = np.uint64((1 << part.width) - 1)
    if offset + part.width <= 64:
        keys = (words[:, word] >> np.uint64(64 - offset - part.width)) & mask
    else:
        high = 64 - offset
        low = part.width - high
        keys = ((words[:, word] & np.uint64((1 << high) - 1)) << np.uint64(low)) | (
            words[:, word + 1] >> np.uint64(64 - low)
        )
    return keys.astype(np.int64)


@dataclass
class _Probe:
    """For one radius: which table each neighbour key belongs to, its mask and directory base."""

    tables: np.ndarray  # (K,) int: substring index of each key
    masks: np.ndarray  # (K,) int64
    bases: np.ndarray  # (K,) int64: start of that table's directory in `offsets`
    used: list[int] = field(default_factory=list)  # substrings probed

# --- the Hamming index -------------------------------------------------------------------


class HammingIndex:
    """Exact Hamming range search over `bits`-bit hashes with stable integer ids.

    `radius` is the radius searches are planned for (it only tunes m). Ids are assigned by
    `add` in increasing order and never reused; they survive compaction.
    """

    def __init__(
        self, bits: int, radius: int, *, substrings: int | None = None, compiled: bool = True
    ) -> None:
        self.bits = bits
        #: Use the numba kernel when installed; False forces the pure-numpy path.
        self.compiled = compiled and probe_and_verify is not None
        self._buffer = 4096
        self.width = words_for(bits)
        self.radius = radius
        if substrings is not None and substrings and (
            substrings > bits or split_bits(bits, substrings)[0].width > _MAX_WIDTH
        ):
            raise ValueError(f"{substrings} substrings of a {bits}-bit hash are too wide")
        self._forced_m = substrings
        self._hashes = np.zeros((0, self.width), dtype=np.uint64)
        # Ids of the rows; None while they equal the row positions (until the first
        # compaction), which saves 4-8 bytes per entry.
        self._ids: np.ndarray | None = None
        self._alive = np.zeros(0, dtype=bool)
        self._n = 0  # rows used
        self._indexed = 0  # rows [0, _indexed) are in the tables
        self._dead = 0
        self._next_id = 0
        self._parts: list[Substring] = []
        self._offsets = np.zeros(1, dtype=np.uint32)
        self._perm = np.zeros(0, dtype=np.uint32)
        self._dir_base: list[int] = []
        self._probes: dict[int, _Probe] = {}
        self._probe_counts: dict[int, int] = {}
        self._scratch = threading.local()

    # -- size ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n - self._dead

    @property
    def substrings(self) -> int:
        return len(self._parts)

    def memory_bytes(self) -> int:
        probes = sum(p.tables.nbytes + p.masks.nbytes + p.bases.nbytes for p in self._probes.values())
        return (
            self._hashes.nbytes + (0 if self._ids is None else self._ids.nbytes)
            + self._alive.nbytes
            + self._offsets.nbytes + self._perm.nbytes + probes
        )

    def hashes_of(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Hex of each stored id (removed ones too, until compaction); KeyError if unknown."""
        wanted = np.asarray(ids, dtype=np.int64)
        if self._ids is None:
            positions = wanted
        else:
            positions = np.searchsorted(self._ids[: self._n], wanted)
        stored = np.arange(self._n) if self._ids is None else self._ids[: self._n]
        bad = (positions < 0) | (positions >= self._n)
        if bad.any() or not np.array_equal(stored[positions], wanted):
            raise KeyError("unknown id")
        return words_to_hex(self._hashes[positions]) if len(positions) else []

    # -- changes ------------------------------------------------------------------------

    def add(self, hashes: np.ndarray | Sequence[str]) -> np.ndarray:
        """Add a batch; returns their ids (int64) in the order given."""
        words = as_words(hashes, self.bits)
        count = len(words)
        ids = np.arange(self._next_id, self._next_id + count, dtype=np.int64)
        if count == 0:
            return ids
        self._next_id += count
        if self._ids is not None and self._next_id > np.iinfo(self._ids.dtype).max:
            self._ids = self._ids.astype(np.int64)
        self._reserve(self._n + count)
        self._hashes[self._n : self._n + count] = words
        if self._ids is not None:
            self._ids[self._n : self._n + count] = ids
        self._alive[self._n : self._n + count] = True
        self._n += count
        if self._n - self._indexed > max(_DELTA_MIN, self._indexed // _DELTA_FRACTION):
            self.rebuild()
        return ids

    def add_digests(self, digests: bytes) -> np.ndarray:
        """Add hashes given as their raw bytes, concatenated (the store's column layout)."""
        if len(digests) % (self.width * 8):
            raise ValueError(f"{len(digests)} bytes are not whole {self.bits}-bit hashes")
        words = np.frombuffer(digests, dtype=">u8").astype(np.uint64)
        return self.add(words.reshape(-1, self.width))

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove entries by id; unknown or already removed ids are ignored. Returns count."""
        if not isinstance(ids, np.ndarray):
            ids = np.fromiter(ids, dtype=np.int64)
        wanted = np.unique(ids.astype(np.int64))
        if not len(wanted) or not self._n:
            return 0
        stored = np.arange(self._n) if self._ids is None else self._ids[: self._n]
        positions = np.searchsorted(stored, wanted)
        positions = positions[positions < self._n]
        positions = positions[np.isin(stored[positions], wanted)]
        positions = positions[self._alive[positions]]
        self._alive[positions] = False
        self._dead += len(positions)
        if self._dead * _DEAD_FRACTION > self._n:
            self.compact()
        return len(positions)

    def remove_hashes(self, hashes: np.ndarray | Sequence[str]) -> np.ndarray:
        """Remove every entry equal to one of `hashes`; returns the removed ids."""
        words = as_words(hashes, self.bits)
        found = [ids for ids, _ in self.search_many(words, 0)]
        removed = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        self.remove(removed)
        return removed

    def compact(self) -> None:
        """Drop tombstones and rebuild the tables."""
        keep = self._alive[: self._n]
        self._hashes = np.ascontiguousarray(self._hashes[: self._n][keep])
        ids = np.arange(self._n, dtype=np.int64) if self._ids is None else self._ids[: self._n]
        kind = np.uint32 if self._next_id <= np.iinfo(np.uint32).max else np.int64
        self._ids = np.ascontiguousarray(ids[keep], dtype=kind)
        self._n = len(self._ids)
        self._alive = np.ones(self._n, dtype=bool)
        self._dead = 0
        self.rebuild()

    def rebuild(self) -> None:
        """Re-plan m for the current size and rebuild every substring table."""
        n = self._n
        m = self._forced_m
        if m is None:
            m = plan_substrings(self.bits, n, self.radius).substrings
        self._parts = split_bits(self.bits, m) if m else []
        self._probes = {}
        self._probe_counts = {}
        self._indexed = n
        if not m:
            self._offsets = np.zeros(1, dtype=np.uint32)
            self._perm = np.zeros(0, dtype=np.uint32)
            return
        position_type = np.uint32 if n * m < 2**32 else np.int64
        directory = sum((1 << p.width) + 1 for p in self._parts)
        self._offsets = np.empty(directory, dtype=position_type)
        self._perm = np.empty(n * m, dtype=np.uint32 if n < 2**32 else np.int64)
        self._dir_base = []
        dir_at = 0
        hashes = self._hashes[:n]
        for i, part in enumerate(self._parts):
            keys = substring_keys(hashes, part)
            counts = np.bincount(keys, minlength=1 << part.width)
            size = (1 << part.width) + 1
            ends = np.cumsum(counts)
            if self.compiled and bucket_fill is not None:
                starts = np.empty(size - 1, dtype=np.int64)
                starts[0] = 0
                starts[1:] = ends[:-1]
                bucket_fill(keys, starts, self._perm[i * n : (i + 1) * n])
            else:
                self._perm[i * n : (i + 1) * n] = np.argsort(keys, kind="stable")
            self._offsets[dir_at] = i * n
            self._offsets[dir_at + 1 : dir_at + size] = ends + i * n
            self._dir_base.append(dir_at)
            dir_at += size

    def _reserve(self, size: int) -> None:
        current = len(self._alive)
        if size <= current:
            return
        capacity = max(size, int(current * 1.25) + 16) if current else size
        hashes = np.zeros((capacity, self.width), dtype=np.uint64)
        hashes[: self._n] = self._hashes[: self._n]
        alive = np.zeros(capacity, dtype=bool)
        alive[: self._n] = self._alive[: self._n]
        self._hashes, self._alive = hashes, alive
        if self._ids is not None:
            ids = np.zeros(capacity, dtype=self._ids.dtype)
            ids[: self._n] = self._ids[: self._n]
            self._ids = ids

    # -- search -------------------------------------------------------------------------

    def search(self, query: np.ndarray | str, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, distances) of every live entry within `radius`, by distance then id."""
        if not isinstance(query, str):
            query = np.asarray(query, dtype=np.uint64).reshape(1, self.width)
        words = as_words(query, self.bits)
        if (
            self.compiled and self._parts and self._indexed == self._n and radius >= 0
            and self._probe_count(radius) < self._indexed
        ):  # the common case, without the batch bookkeeping
            probe = self._probe(radius)
            _, positions, found = self._search_compiled(
                words, self._query_keys(words, probe.used), probe, radius
            )
            order = np.lexsort((positions, found))
            positions, found = positions[order], found[order]
            ids = positions if self._ids is None else self._ids[positions].astype(np.int64)
            return ids, found
        return self.search_many(words, radius)[0]

    def search_many(
        self, queries: np.ndarray | Sequence[str], radius: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Batch search; one (ids, distances) per query, each sorted by distance then id."""
        words = as_words(queries, self.bits)
        count = len(words)
        if radius < 0:
            raise ValueError("radius must be >= 0")
        q_parts, p_parts, d_parts = [], [], []
        if self._indexed:
            if self._parts and self._probe_count(radius) * count < self._indexed:
                hit = self._search_tables(words, radius)
            else:
                hit = self._scan(words, radius, 0, self._indexed)
            q_parts.append(hit[0])
            p_parts.append(hit[1])
            d_parts.append(hit[2])
        if self._n > self._indexed:
            hit = self._scan(words, radius, self._indexed, self._n)
            q_parts.append(hit[0])
            p_parts.append(hit[1])
            d_parts.append(hit[2])
        if not q_parts:
            empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32))
            return [empty for _ in range(count)]
        qs = np.concatenate(q_parts)
        ps = np.concatenate(p_parts)
        ds = np.concatenate(d_parts)
        order = np.lexsort((ps, ds, qs))
        qs, ps, ds = qs[order], ps[order], ds[order]
        ids = ps.astype(np.int64) if self._ids is None else self._ids[ps].astype(np.int64)
        bounds = np.searchsorted(qs, np.arange(count + 1))
        return [(ids[a:b], ds[a:b]) for a, b in itertools.pairwise(bounds)]

    def _scan(self, words: np.ndarray, radius: int, lo: int, hi: int):
        block = self._hashes[lo:hi]
        alive = self._alive[lo:hi]
        q_parts, p_parts, d_parts = [], [], []
        for q in range(len(words)):
            positions, found = brute_force(block, words[q], radius, alive)
            q_parts.append(np.full(len(positions), q, dtype=np.int64))
            p_parts.append(positions + lo)
            d_parts.append(found)
        return np.concatenate(q_parts), np.concatenate(p_parts), np.concatenate(d_parts)

    def _probe(self, radius: int) -> _Probe:
        probe = self._probes.get(radius)
        if probe is None:
            tables, masks, bases, used = [], [], [], []
            for i, (part, t) in enumerate(
                zip(self._parts, thresholds(radius, len(self._parts)), strict=True)
            ):
                if t < 0:
                    continue
                t = min(t, part.width)
                these = _masks(part.width, t)
                tables.append(np.full(len(these), i, dtype=np.intp))
                masks.append(these)
                bases.append(np.full(len(these), self._dir_base[i], dtype=np.int64))
                used.append(i)
            probe = _Probe(np.concatenate(tables), np.concatenate(masks), np.concatenate(bases),
                           used)
            self._probes[radius] = probe
        return probe

    def _probe_count(self, radius: int) -> int:
        count = self._probe_counts.get(radius)
        if count is None:
            m = len(self._parts)
            count = sum(
                _keys_within(p.width, min(t, p.width))
                for p, t in zip(self._parts, thresholds(radius, m), strict=True) if t >= 0
            )
            self._probe_counts[radius] = count
        return count

    def _query_keys(self, words: np.ndarray, used: list[int]) -> np.ndarray:
        if len(words) == 1:  # plain integers beat a dozen tiny numpy calls
            value = int.from_bytes(words[0].astype(">u8").tobytes(), "big")
            row = [
                (value >> (self.bits - p.start - p.width)) & ((1 << p.width) - 1)
                for p in self._parts
            ]
            return np.array([row], dtype=np.int64)
        keys = np.zeros((len(words), len(self._parts)), dtype=np.int64)
        for i in used:
            keys[:, i] = substring_keys(words, self._parts[i])
        return keys

    def _search_tables(self, words: np.ndarray, radius: int):
        probe = self._probe(radius)
        count = len(words)
        keys = self._query_keys(words, probe.used)
        if self.compiled:
            return self._search_compiled(words, keys, probe, radius)
        slots = (keys[:, probe.tables] ^ probe.masks) + probe.bases  # (Q, K)
        slots = slots.ravel()
        starts = self._offsets[slots].astype(np.int64)
        lengths = self._offsets[slots + 1].astype(np.int64) - starts
        nonempty = np.flatnonzero(lengths)
        starts, lengths = starts[nonempty], lengths[nonempty]
        total = int(lengths.sum())
        if total == 0:
            none = np.zeros(0, dtype=np.int64)
            return none, none, np.zeros(0, dtype=np.int32)
        # Expand the [start, start + length) runs into one array of perm slots.
        ends = np.cumsum(lengths)
        runs = np.repeat(starts - (ends - lengths), lengths) + np.arange(total)
        candidates = self._perm[runs].astype(np.int64)
        if count == 1:
            found = distances(self._hashes[candidates], words[0])
            owners = np.zeros(total, dtype=np.int64)
        else:
            owners = np.repeat(nonempty // len(probe.masks), lengths)
            found = np.bitwise_count(self._hashes[candidates] ^ words[owners]).sum(
                axis=1, dtype=np.int32)
        ok = np.flatnonzero(found <= radius)
        owners, candidates, found = owners[ok], candidates[ok], found[ok]
        live = self._alive[candidates]
        owners, candidates, found = owners[live], candidates[live], found[live]
        return self._dedupe(owners, candidates, found)

    def _search_compiled(self, words: np.ndarray, keys: np.ndarray, probe: _Probe, radius: int):
        while True:
            owners = np.empty(self._buffer, dtype=np.int64)
            candidates = np.empty(self._buffer, dtype=np.int64)
            found = np.empty(self._buffer, dtype=np.int32)
            lows, highs, scratch = self._kernel_scratch(len(probe.tables))
            hits = probe_and_verify(
                self._offsets, self._perm, self._hashes, self._alive, words, keys,
                probe.tables, probe.masks, probe.bases, radius, owners, candidates, found,
                lows, highs, scratch,
            )
            if hits <= self._buffer:
                break
            self._buffer = 1 << int(hits).bit_length()
        return self._dedupe(owners[:hits], candidates[:hits], found[:hits])

    def _kernel_scratch(self, probes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-thread scratch arrays for the kernel, reused across queries."""
        local = self._scratch
        lows = getattr(local, "lows", None)
        if lows is None or len(lows) < probes or local.candidates.dtype != self._perm.dtype:
            local.lows = np.empty(probes, dtype=np.int64)
            local.highs = np.empty(probes, dtype=np.int64)
            local.candidates = np.empty(_KERNEL_CHUNK, dtype=self._perm.dtype)
        return local.lows, local.highs, local.candidates

    def _dedupe(self, owners: np.ndarray, candidates: np.ndarray, found: np.ndarray):
        # A near hash is found through several substrings: keep one of each.
        if len(owners) <= 1:
            return owners, candidates, found
        _, first = np.unique(owners * self._n + candidates, return_index=True)
        return owners[first], candidates[first], found[first]
