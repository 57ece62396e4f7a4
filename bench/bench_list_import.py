"""Hash-list import throughput: `import_file` (validate + batched multi-field HSET + atomic swap)
against a baseline that parses with csv.DictReader, validates each row with the algorithm's
regex `parse()`, and sends one pipelined HSET per row.

    python bench/bench_list_import.py [--rows 200000] [--redis redis://127.0.0.1:6379/15]

Prints a table and writes bench/results/list_import.json. Only synthetic random hashes.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

import redis

from spinneret.matcher.algorithms import default_registry
from spinneret.matcher.hashlist import import_file
from spinneret.matcher.store import FingerprintStore


def make_file(directory: Path, rows: int) -> Path:
    rnd = random.Random(7)
    path = directory / "list.csv"
    with open(path, "w") as out:
        out.write("algorithm,hash,label,source_id\n")
        for i in range(rows):
            out.write(f"pdq,{rnd.getrandbits(256):064x},synthetic,{i}\n")
    return path


def baseline(client: redis.Redis, prefix: str, path: Path) -> None:
    registry = default_registry()
    key = f"{prefix}:baseline"
    pipe = client.pipeline(transaction=False)
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            value = registry.get(row["algorithm"]).parse(row["hash"])
            pipe.hset(key, value, f"{row['label']}\x1f{row['source_id']}")
            if i % 10_000 == 9_999:
                pipe.execute()
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = make_file(Path(tmp), args.rows)
            store = FingerprintStore(client, prefix)
            runs = [
                ("baseline: DictReader + regex + HSET/row", lambda: baseline(client, prefix, path)),
                ("import_file (new list)", lambda: import_file(store, path, "bench")),
                ("import_file (re-import, all unchanged)", lambda: import_file(store, path, "bench")),
            ]
            for name, run in runs:
                start = time.perf_counter()
                run()
                seconds = time.perf_counter() - start
                results.append({"case": name, "rows": args.rows, "seconds": round(seconds, 3),
                                "rows_per_s": round(args.rows / seconds)})
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.unlink(key)
    print(f"{'case':45} {'rows':>9} {'seconds':>8} {'rows/s':>10}")
    for r in results:
        print(f"{r['case']:45} {r['rows']:>9} {r['seconds']:>8} {r['rows_per_s']:>10,}")
    out = Path(__file__).parent / "results" / "list_import.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
