"""Compiled counting-sort fill for `HammingIndex.rebuild` (numba), used when numba is installed.

A table's order is a counting sort of its substring keys: the dense offset directory already
holds each bucket's start, so one pass that drops each position into its bucket replaces a
stable argsort (O(n) instead of O(n log n); ~10x faster at 10M entries). The numpy fallback
(`np.argsort(kind="stable")`) gives the identical order.
"""

from __future__ import annotations

try:
    from spinneret.matcher._jit import njit
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the index usable
    bucket_fill = None
else:

    @njit(cache=True, nogil=True)
    def bucket_fill(keys, starts, out):  # pragma: no cover - compiled; covered via the index
        """out[starts[k]++] = j for each position j with key k, in increasing j (stable)."""
        for j in range(keys.shape[0]):
            k = keys[j]
            out[starts[k]] = j
            starts[k] += 1
