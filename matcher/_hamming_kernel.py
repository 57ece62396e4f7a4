"""Compiled probe-and-verify loop for `HammingIndex` (numba), used when numba is installed.

numpy alone spends most of a query materialising intermediate arrays (bucket bounds, expanded
runs, gathered candidates); one fused loop does the same random reads without them and
overlaps their cache misses. The numpy path in `matcher.index` gives identical results.
"""

from __future__ import annotations

try:
    from numba import types
    from numba.extending import intrinsic

    from spinneret.matcher._jit import njit
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
    def _verify(hashes, alive, queries, q, candidates, count, radius,
                out_query, out_position, out_distance, found):  # pragma: no cover - compiled
        capacity = out_query.shape[0]
        width = hashes.shape[1]
        first = queries[q, 0]
        if width == 1:  # 64-bit hashes: a loop without an inner word loop runs ~20% faster
            for i in range(count):
                position = candidates[i]
                distance = _popcount(hashes[position, 0] ^ first)
                if distance <= radius and alive[position]:
                    if found < capacity:
                        out_query[found] = q
                        out_position[found] = position
                        out_distance[found] = distance
                    found += 1
            return found
        for i in range(count):
            position = candidates[i]
            distance = _popcount(hashes[position, 0] ^ first)
            for w in range(1, width):
                distance += _popcount(hashes[position, w] ^ queries[q, w])
            if distance <= radius and alive[position]:
                if found < capacity:
                    out_query[found] = q
                    out_position[found] = position
                    out_distance[found] = distance
                found += 1
        return found

    @njit(cache=True, nogil=True)
    def probe_and_verify(
        offsets, perm, hashes, alive, queries, keys, tables, masks, bases, radius,
        out_query, out_position, out_distance, lows, highs, candidates,
    ):  # pragma: no cover - compiled; covered through HammingIndex tests
        """Write (query, position, distance) of every live candidate within `radius`.

        Returns the number of hits; if it exceeds the buffers' length only the first ones
        were written and the caller retries with larger buffers. Hits found through several
        substrings appear once per substring. `lows` and `highs` (one slot per probe key)
        and `candidates` (any length) are scratch space, passed in because allocating them
        here cost ~8% of a query.

        Three passes per query, each a simple loop: read every probed bucket's bounds, copy
        the buckets' positions into one candidate list, then verify the list. Fused into one
        nested loop the same work ran ~1.9x slower at 10M entries: the bucket loop's
        unpredictable exits stall the CPU before it has many hash reads (cache misses) in
        flight, while the flat verify loop keeps many going at once.
        """
        probes = tables.shape[0]
        chunk = candidates.shape[0]
        found = 0
        for q in range(queries.shape[0]):
            total = 0
            for k in range(probes):
                slot = bases[k] + (keys[q, tables[k]] ^ masks[k])
                lows[k] = offsets[slot]
                highs[k] = offsets[slot + 1]
                total += highs[k] - lows[k]
            count = 0
            if total <= chunk:  # the usual case: one flat copy loop, no bounds checks
                for k in range(probes):
                    for t in range(lows[k], highs[k]):
                        candidates[count] = perm[t]
                        count += 1
                found = _verify(hashes, alive, queries, q, candidates, count, radius,
                                out_query, out_position, out_distance, found)
                continue
            for k in range(probes):
                j = lows[k]
                end = highs[k]
                if count + (end - j) > chunk:  # verify what we have to make room
                    found = _verify(hashes, alive, queries, q, candidates, count, radius,
                                    out_query, out_position, out_distance, found)
                    count = 0
                    while end - j > chunk:  # a bucket larger than the list, in pieces
                        for t in range(chunk):
                            candidates[t] = perm[j + t]
                        j += chunk
                        found = _verify(hashes, alive, queries, q, candidates, chunk, radius,
                                        out_query, out_position, out_distance, found)
                for t in range(j, end):
                    candidates[count] = perm[t]
                    count += 1
            found = _verify(hashes, alive, queries, q, candidates, count, radius,
                            out_query, out_position, out_distance, found)
        return found
