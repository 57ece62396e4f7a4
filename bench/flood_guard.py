"""The flood guard's cost per image, against a naive per-list counter.

    python bench/flood_guard.py [--images 5000] [--lists 20] [--match-share 0.01]

- shipped: `matcher.flood.FloodGuard.observe` as the pipeline calls it for every hashed image
  (one INCR of the store's image counter, plus one script call per block list the image
  matched);
- naive: count every list version for every image (one pipelined round trip per image with
  an HINCRBY per list, and HGETs of the same counters to judge the share), the straight way
  to keep a per-list share.

Redis: 127.0.0.1:6379 db 14. Keys live
under a fresh `bench-flood-<id>` prefix and are deleted at the end. Prints a table and
writes bench/results/flood_guard.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from pathlib import Path

import redis

from spinneret.matcher.flood import FloodGuard
from spinneret.matcher.store import FingerprintStore, ListEntry

RESULTS = Path(__file__).resolve().parent / "results"
MACHINE_REDIS = "redis://127.0.0.1:6379/14"


def _client() -> redis.Redis:
    client = redis.Redis.from_url(MACHINE_REDIS)
    client.ping()  # the bench needs the machine's Redis (redis.ConnectionError otherwise)
    return client


def _lists(store: FingerprintStore, count: int) -> list[str]:
    names = [f"list-{n}" for n in range(count)]
    for name in names:
        store.replace_list(name, [ListEntry("sha256", uuid.uuid4().hex * 2)])
    return names


def shipped(store: FingerprintStore, names: list[str], matched: list[list[str]]) -> float:
    # A share no ordinary run reaches: the guard counts, it does not trip.
    guard = FloodGuard(store, share=0.9, min_matches=10**9, window=10**9)
    start = time.perf_counter()
    for lists in matched:
        guard.observe(lists)
    return time.perf_counter() - start


def naive(store: FingerprintStore, names: list[str], matched: list[list[str]]) -> float:
    client = store.client
    counters = {name: store.list_keys(name).flood + ":naive" for name in names}
    start = time.perf_counter()
    for lists in matched:
        pipe = client.pipeline(transaction=False)
        pipe.incr(store.images_key)
        hit = set(lists)
        for name in names:
            pipe.hincrby(counters[name], "images", 1)
            if name in hit:
                pipe.hincrby(counters[name], "matched", 1)
            pipe.hget(counters[name], "matched")
        pipe.execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--lists", type=int, default=20)
    parser.add_argument("--match-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    client = _client()
    prefix = f"bench-flood-{uuid.uuid4().hex[:8]}"
    store = FingerprintStore(client, prefix)
    try:
        names = _lists(store, args.lists)
        rng = random.Random(7)
        matched = [[rng.choice(names)] if rng.random() < args.match_share else []
                   for _ in range(args.images)]
        ours = shipped(store, names, matched)
        theirs = naive(store, names, matched)
    finally:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    per_ours, per_theirs = ours / args.images * 1e6, theirs / args.images * 1e6
    result = {"images": args.images, "lists": args.lists, "match_share": args.match_share,
              "shipped_us_per_image": round(per_ours, 1),
              "naive_us_per_image": round(per_theirs, 1),
              "ratio": round(per_theirs / per_ours, 2)}
    print(f"{'path':<10} {'us/image':>10}")
    print(f"{'shipped':<10} {per_ours:>10.1f}")
    print(f"{'naive':<10} {per_theirs:>10.1f}")
    print(f"naive / shipped: {result['ratio']}x  ({args.images} images, {args.lists} lists, "
          f"{args.match_share:.0%} matching)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flood_guard.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
