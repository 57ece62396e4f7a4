"""Compiled probe-and-verify loop for `HammingIndex` (numba), used when numba is installed.

numpy alone spends most of a query materialising intermediate arrays (bucket bounds, expanded
runs, gathered candidates); one fused loop does the same random reads without them and
overlaps their cache misses. The numpy path in `matcher.index` gives identical results.
"""

from __future__ import annotations

try:
    from numba import njit, types
    from numba.extending import intrinsic
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the index usable
    probe_and_verify = None
else:

    @intrinsic
    def _popcount(typingctx, x):
        signature = types.uint64(types.uint64)

        def codegen(context, builder, sig, args):
            return builder.ctpop(args[0])

        return signature, codegen

    @njit(cache=True, nogil=True)
    def probe_and_verify(
        offsets, perm, hashes, alive, queries, keys, tables, masks, bases, radius,
        out_query, out_position, out_distance,
    ):  # pragma: no cover - compiled; covered through HammingIndex tests
        """Write (query, position, distance) of every live candidate within `radius`.

        Returns the number of hits; if it exceeds the buffers' length only the first ones
        were written and the caller retries with larger buffers. Hits found through several
        substrings appear once per substring.
        """
        found = 0
        capacity = out_query.shape[0]
        width = hashes.shape[1]
        for q in range(queries.shape[0]):
            for k in range(tables.shape[0]):
                slot = bases[k] + (keys[q, tables[k]] ^ masks[k])
                for j in range(offsets[slot], offsets[slot + 1]):
                    position = perm[j]
                    distance = 0
                    for w in range(width):
                        distance += _popcount(hashes[position, w] ^ queries[q, w])
                    if distance <= radius and alive[position]:
                        if found < capacity:
                            out_query[found] = q
                            out_position[found] = position
                            out_distance[found] = distance
                        found += 1
        return found
