"""What dihedral PDQ matching (`SPINNERET_MATCH_DIHEDRAL`) costs per image.

    python bench/dihedral.py [--images 100] [--entries 1000000] [--repeat 3]

Real images of `bench/real_corpus.py` (both splits), each served as JPEG q85. Per image,
timed on one core, best of `--repeat` runs:

- hashing: `matcher.service.hash_for_matching` as a worker calls it, dihedral off (the
  baseline, in the same run) and on (PDQ's 8 rotations/flips as well);
- matching: `Matcher.match` against one block list of `--entries` random PDQ hashes plus the
  images' own, dihedral off and on (8 PDQ lookups instead of 1).

False matches with dihedral on are measured by `bench/robustness.py --real` and
`bench/calibrate.py` (the `pdq+dihedral` row). Prints a table and writes
bench/results/dihedral.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from real_corpus import default_cache_dir, load_corpus
from robustness import RESULTS, fmt_table

from spinneret.config import Settings
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.service import hash_for_matching
from spinneret.matcher.store import ListEntry, ListInfo


def jpeg(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "dihedral.json")
    args = parser.parse_args(argv)
    sources, _, notes = load_corpus(args.cache_dir or default_cache_dir(), log=lambda _: None)
    blobs = [jpeg(s.image) for s in sources[: args.images]]
    options = HashOptions()
    for data in blobs[:3]:  # compile the kernels before timing
        hash_for_matching(data, options, True)

    hashing = {}
    hashed = {}
    for dihedral in (False, True):
        seconds = best_of(args.repeat, lambda d=dihedral: [hash_for_matching(b, options, d)
                                                           for b in blobs])
        hashing[dihedral] = seconds / len(blobs)
        hashed[dihedral] = [hash_for_matching(b, options, dihedral) for b in blobs]

    rng = np.random.default_rng(7)
    random_hexes = [row.tobytes().hex() for row in
                    rng.integers(0, 256, size=(args.entries, 32), dtype=np.uint8)]
    own = [h.get("pdq").hex for h in hashed[False]]
    info = ListInfo("bench", "block", "bench", "benchmark", "", 1, {}, 0.0, 0.0, "bench")
    entries = [ListEntry("pdq", hex_, f"e{i}", str(i))
               for i, hex_ in enumerate([*random_hexes, *own])]
    thresholds = Thresholds.from_settings(Settings())
    matching = {}
    for dihedral in (False, True):
        matcher = Matcher(thresholds, dihedral=dihedral)
        matcher.load_list(info, entries)
        queries = hashed[dihedral]
        for hashes in queries[:3]:
            matcher.match(hashes)
        # With dihedral on, the rotations/flips are among the hashes' query variants.
        seconds = best_of(args.repeat, lambda m=matcher, q=queries: [m.match(h) for h in q])
        matching[dihedral] = seconds / len(queries)

    results = {
        "machine": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "notes": notes, "images": len(blobs), "entries": len(entries),
        "hash_ms": {"off": hashing[False] * 1e3, "on": hashing[True] * 1e3},
        "match_ms": {"off": matching[False] * 1e3, "on": matching[True] * 1e3},
    }
    rows = []
    for label, key in (("hash (hash_for_matching)", "hash_ms"),
                       (f"match, {len(entries):,} PDQ entries", "match_ms")):
        off, on = results[key]["off"], results[key]["on"]
        rows.append([label, f"{off:.2f}", f"{on:.2f}", f"+{on - off:.2f} ({on / off:.1f}x)"])
    total_off = results["hash_ms"]["off"] + results["match_ms"]["off"]
    total_on = results["hash_ms"]["on"] + results["match_ms"]["on"]
    rows.append(["total", f"{total_off:.2f}", f"{total_on:.2f}",
                 f"+{total_on - total_off:.2f} ({total_on / total_off:.2f}x)"])
    print(f"{len(blobs)} real images (JPEG q85, <= 640 px), one core, best of {args.repeat}; "
          "ms per image")
    print(fmt_table(rows, ["step", "dihedral off (baseline)", "dihedral on", "difference"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
