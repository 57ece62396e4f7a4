"""Benchmark retro-match's search step: a list version's new entries against the stored
hashes of every image seen, with the index (`matcher.retro_index.SeenHashIndex`) beside a
naive Python loop of Hamming distances over all stored hashes.

    python bench/retro_match.py              # 1M stored PDQ hashes
    python bench/retro_match.py --n 10000000 # the figure in docs/benchmarks.md
    python bench/retro_match.py --quick      # smoke run (tests/test_bench_smoke.py)

Stored hashes are random 256-bit PDQ-like hashes (numpy); the new entries are half hits (a
stored hash with up to 40 bits flipped, PDQ's review distance) and half random misses.
Searched out to PDQ's live radius (`Thresholds.defaults()`). The index's candidates are
checked equal to brute force (numpy) on a sample of entries. The naive loop runs on a
subset of the stored hashes (--naive-n) and is extrapolated linearly to --n, as stated in
its output: its cost is one XOR + popcount per (entry, stored hash) pair. One core.
Prints a table and writes JSON to bench/results/retro_match-<time>.json.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from spinneret.matcher.columns import EntryColumns, Payloads  # noqa: E402
from spinneret.matcher.index import brute_force, words_to_hex  # noqa: E402
from spinneret.matcher.matching import Thresholds  # noqa: E402
from spinneret.matcher.retro_index import SeenHashIndex  # noqa: E402

RESULTS = Path(__file__).parent / "results"
WIDTH = 4  # 256-bit PDQ = 4 uint64 words


def flip(rng: np.random.Generator, rows: np.ndarray, most: int) -> np.ndarray:
    """Each row with up to `most` random bits flipped."""
    out = rows.copy()
    counts = rng.integers(0, most + 1, size=len(rows))
    for column in range(most):
        use = counts > column
        position = rng.integers(0, WIDTH * 64, size=len(rows))
        word, bit = position // 64, (63 - position % 64).astype(np.uint64)
        one = np.where(use, np.left_shift(np.uint64(1), bit), np.uint64(0))
        for w in range(WIDTH):
            out[:, w] ^= np.where(word == w, one, np.uint64(0))
    return out


def entry_columns(words: np.ndarray) -> EntryColumns:
    digests = words.astype(">u8").tobytes()
    return EntryColumns("pdq", 32, digests, Payloads.from_values([b"new"] * len(words)))


def naive(stored: list[int], queries: list[int], radius: int) -> int:
    """The loop a first version would write: every entry against every stored hash."""
    found = 0
    for query in queries:
        for value in stored:
            if (query ^ value).bit_count() <= radius:
                found += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="stored hashes")
    parser.add_argument("--entries", type=int, default=10_000, help="new list entries")
    parser.add_argument("--naive-n", type=int, default=200_000,
                        help="stored hashes the naive loop runs over (then extrapolated)")
    parser.add_argument("--naive-entries", type=int, default=5)
    parser.add_argument("--sample", type=int, default=20, help="entries checked vs numpy")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.n, args.entries, args.naive_n, args.naive_entries = 20_000, 500, 5_000, 2
    rng = np.random.default_rng(21)
    thresholds = Thresholds.defaults()
    index = SeenHashIndex(thresholds)
    radius = thresholds.get(index.registry.get("pdq")).radius

    stored = rng.integers(0, 2**63, size=(args.n, WIDTH), dtype=np.uint64) << np.uint64(1)
    stored |= rng.integers(0, 2, size=(args.n, WIDTH), dtype=np.uint64)
    owners = np.arange(args.n, dtype=np.int64)  # content ids (SHA-256s in the service)
    started = time.perf_counter()
    index.add("pdq", owners, stored)
    build_s = time.perf_counter() - started

    hits = flip(rng, stored[rng.integers(0, args.n, size=args.entries // 2)], radius)
    misses = rng.integers(0, 2**63, size=(args.entries - len(hits), WIDTH), dtype=np.uint64)
    queries = np.concatenate([hits, misses << np.uint64(1)])
    columns = entry_columns(queries)
    index.candidates({"pdq": entry_columns(queries[:64])})  # compile / warm the kernel
    started = time.perf_counter()
    found = index.candidates({"pdq": columns})
    search_s = time.perf_counter() - started
    index_rate = args.entries / search_s

    # Exactness: the index's owners equal brute force's on a sample of entries.
    for row in rng.choice(len(queries), size=min(args.sample, len(queries)), replace=False):
        ids, _ = brute_force(stored, queries[row : row + 1], radius)
        got = index.candidates({"pdq": entry_columns(queries[row : row + 1])})
        assert got == set(owners[ids].tolist()), f"entry {row}: index differs from brute force"

    subset = [int(h, 16) for h in words_to_hex(stored[: args.naive_n])]
    naive_queries = [int(h, 16) for h in words_to_hex(queries[: args.naive_entries])]
    started = time.perf_counter()
    naive(subset, naive_queries, radius)
    naive_s = time.perf_counter() - started
    per_pair_s = naive_s / (len(subset) * len(naive_queries))
    naive_rate = 1 / (per_pair_s * args.n)  # entries/s against all n, extrapolated

    result = {
        "machine": {"python": platform.python_version(), "processor": platform.processor()
                    or platform.machine(), "cores_used": 1},
        "stored": args.n, "entries": args.entries, "radius": radius,
        "index_build_s": round(build_s, 2), "index_search_s": round(search_s, 3),
        "index_entries_per_s": round(index_rate, 1), "contents_found": len(found),
        "naive_subset": len(subset), "naive_entries": len(naive_queries),
        "naive_s": round(naive_s, 3), "naive_entries_per_s_extrapolated": round(naive_rate, 4),
        "speedup": round(index_rate / naive_rate, 1),
    }
    print(f"retro-match search: {args.entries} new PDQ entries against {args.n:,} stored "
          f"hashes, radius {radius}")
    print(f"  index (SeenHashIndex): build {build_s:.1f} s, search {search_s:.2f} s = "
          f"{index_rate:,.0f} entries/s, {len(found)} contents found")
    print(f"  naive Python loop: {len(naive_queries)} entries x {len(subset):,} stored in "
          f"{naive_s:.2f} s, extrapolated to {args.n:,} stored = {naive_rate:,.3f} entries/s")
    print(f"  ratio index / naive: {index_rate / naive_rate:,.0f}x")
    out = args.out or RESULTS / f"retro_match-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
