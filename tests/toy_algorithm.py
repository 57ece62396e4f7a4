"""A test-only hash algorithm plug-in: what an operator adding an algorithm writes, and all
they write. Loaded by naming this module in SPINNERET_PLUGINS (tests/test_toy_algorithm.py).

`toymean` is the 64-bit average hash: the image shrunk to 8x8 grey, each cell brighter
than the mean or not. It brings its own thresholds, quality floor and index (a plain scan,
to show that the index is the plug-in's choice, not the matcher's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from spinneret.matcher.algorithms import AlgorithmRegistry
from spinneret.matcher.algorithms.base import HashValue, ImageAlgorithm, bits_to_hex
from spinneret.matcher.decode import DecodedImage


class ScanIndex:
    """The `HashIndex` protocol as a linear scan over Python ints (fine for a few thousand)."""

    #: Every index built, so a test can see the matcher used this one.
    built: list[ScanIndex] = []

    def __init__(self) -> None:
        self._hashes: list[int] = []
        self._alive: list[bool] = []
        ScanIndex.built.append(self)

    def __len__(self) -> int:
        return sum(self._alive)

    def add(self, hashes: Sequence[str]) -> np.ndarray:
        start = len(self._hashes)
        self._hashes += [int(value, 16) for value in hashes]
        self._alive += [True] * (len(self._hashes) - start)
        return np.arange(start, len(self._hashes), dtype=np.int64)

    def add_digests(self, digests: bytes) -> np.ndarray:
        if len(digests) % 8:
            raise ValueError(f"{len(digests)} bytes are not whole 64-bit hashes")
        return self.add([digests[i:i + 8].hex() for i in range(0, len(digests), 8)])

    def search_many(self, queries: Sequence[str], radius: int
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
        results = []
        for query in queries:
            value = int(query, 16)
            hits = sorted(((value ^ h).bit_count(), i) for i, h in enumerate(self._hashes)
                          if self._alive[i] and (value ^ h).bit_count() <= radius)
            results.append((np.array([i for _, i in hits], dtype=np.int64),
                            np.array([d for d, _ in hits], dtype=np.int32)))
        return results

    def hashes_of(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return [f"{self._hashes[int(i)]:016x}" for i in ids]

    def remove_hashes(self, hashes: Sequence[str]) -> np.ndarray:
        wanted = {int(value, 16) for value in hashes}
        removed = [i for i, h in enumerate(self._hashes) if self._alive[i] and h in wanted]
        for i in removed:
            self._alive[i] = False
        return np.array(removed, dtype=np.int64)

    def memory_bytes(self) -> int:
        return 9 * len(self._hashes)


class ToyMean(ImageAlgorithm):
    name = "toymean"
    bits = 64
    reference_hash = "0000020b1f7fffff"
    default_auto_distance = 3
    default_review_distance = 7
    default_min_quality = 20

    def compute(self, image: DecodedImage) -> HashValue:
        small = Image.fromarray(image.gray_array()).resize((8, 8), Image.Resampling.BOX)
        cells = np.asarray(small, dtype=np.float64)
        return HashValue(self.name, bits_to_hex(cells > cells.mean()))

    def new_index(self, radius: int) -> ScanIndex:
        return ScanIndex()


def register(registry: AlgorithmRegistry) -> None:
    """The hook SPINNERET_PLUGINS calls."""
    registry.register(ToyMean())
