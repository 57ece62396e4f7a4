"""An index over the hashes of images already seen, searched with a list version's new
entries: retro-match's first step (which stored contents could match what the list added).

The other way round from live matching: there the list is indexed and each crawled image
is a query; here the (large, growing) set of seen images is indexed and the (usually small)
set of added entries are the queries. The same `HammingIndex` / `ExactIndex` do the work,
searched out to each algorithm's widest live radius (`AlgorithmThresholds.radius`). This
step only finds candidates: every rule of live matching (quality floors, weak entries,
corroboration, allow-lists) is applied afterwards by `matcher.matching.Matcher` itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from spinneret.matcher.algorithms import AlgorithmRegistry, default_registry
from spinneret.matcher.columns import EntryColumns
from spinneret.matcher.index import HashIndex
from spinneret.matcher.matching import Thresholds


class SeenHashIndex:
    """Per algorithm, the stored hashes of seen image contents and who owns each (a content
    key, e.g. its SHA-256)."""

    def __init__(self, thresholds: Thresholds, registry: AlgorithmRegistry | None = None
                 ) -> None:
        self.thresholds = thresholds
        self.registry = registry or default_registry()
        self._indexes: dict[str, HashIndex] = {}
        self._owners: dict[str, np.ndarray] = {}

    def add_packed(self, algorithm: str, owners: np.ndarray, digests: bytes,
                   digest_size: int) -> None:
        """`add` from concatenated digests of `digest_size` bytes (`records`' packed column)."""
        plugin = self.registry.get(algorithm)
        if digests and plugin.bits != 8 * digest_size:
            raise ValueError(f"{plugin.name} hashes are {plugin.bits} bits, not {8 * digest_size}")
        index = self._new_index(plugin)
        if digests:
            index.add_digests(digests)
        self._put(algorithm, index, owners)

    def _radius(self, plugin) -> int:
        # Exact digests match only when equal; perceptual ones out to the widest live radius.
        return 0 if plugin.exact else self.thresholds.get(plugin).radius

    def _new_index(self, plugin) -> HashIndex:
        return plugin.new_index(self._radius(plugin))  # the plug-in picks its index

    def _put(self, algorithm: str, index, owners: np.ndarray) -> None:
        name = self.registry.get(algorithm).name
        if name in self._indexes:
            raise ValueError(f"{name} hashes are indexed already")
        self._indexes[name] = index
        self._owners[name] = owners

    def add(self, algorithm: str, owners: Sequence[str] | np.ndarray,
            hashes: Sequence[str] | np.ndarray) -> None:
        """Index `hashes` (hex strings, or an (n, words) uint64 array for Hamming
        algorithms) of `algorithm`; `owners[i]` owns `hashes[i]` (a numpy array of owners
        is kept as it is: 10M content keys as Python objects would cost ~1 GB). Once per
        algorithm."""
        plugin = self.registry.get(algorithm)
        if plugin.name in self._indexes:
            raise ValueError(f"{plugin.name} hashes are indexed already")
        if len(owners) != len(hashes):
            raise ValueError("one owner per hash")
        index = self._new_index(plugin)
        if len(hashes):
            index.add(hashes if isinstance(hashes, np.ndarray) else list(hashes))
        self._put(plugin.name, index, owners if isinstance(owners, np.ndarray)
                  else np.asarray(owners, dtype=object))

    def __len__(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    def algorithms(self) -> list[str]:
        return sorted(self._indexes)

    def candidates(self, entries: Mapping[str, EntryColumns]) -> set[str]:
        """Owners with a stored hash within its algorithm's radius of an entry."""
        found: set[str] = set()
        for algorithm, part in entries.items():
            index = self._indexes.get(algorithm)
            if index is None or not len(index) or not len(part):
                continue
            owners = self._owners[algorithm]
            for ids in self._search(algorithm, index, part):
                if len(ids):
                    found.update(_text(owner) for owner in owners[ids].tolist())
        return found

    def _search(self, algorithm: str, index: HashIndex, part: EntryColumns):
        radius = self._radius(self.registry.get(algorithm))
        # One entry at a time: `search` takes the compiled multi-index path, where a large
        # batch in `search_many` would fall back to a full scan (probes x batch > n).
        for value in part.hexes():
            yield index.search(value, radius)[0]


def _text(owner):
    """Packed (bytes) owners back to the strings they were."""
    return owner.decode() if isinstance(owner, bytes) else owner
