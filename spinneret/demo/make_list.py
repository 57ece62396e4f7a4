"""Regenerate the shipped demo hash list: `python -m spinneret.demo.make_list [PATH]`.

Seeds 0..19 of the demo generator, each hashed (pdq, phash, dhash, md5, sha256, cropdct)
from its original PNG encoding. A test checks the shipped file matches the generator.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path

from spinneret.demo.images import generate_bytes
from spinneret.matcher.hashing import HashOptions, hash_image

DEMO_LIST_PATH = Path(__file__).with_name("demo_list.csv")
DEMO_SEEDS = range(20)
DEMO_ALGORITHMS = ("pdq", "phash", "dhash", "md5", "sha256", "cropdct")
HEADER = ("algorithm", "hash", "label", "source_id")


def demo_rows(seeds=DEMO_SEEDS) -> Iterator[tuple[str, str, str, str]]:
    """(algorithm, hash, label, source_id) for every seed and algorithm."""
    options = HashOptions(algorithms=DEMO_ALGORITHMS)
    for seed in seeds:
        hashes = hash_image(generate_bytes(seed), options)
        for value in hashes.values:
            yield value.algorithm, value.hex, f"demo image {seed}", f"demo-{seed:04d}"


def render_csv(seeds=DEMO_SEEDS) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(demo_rows(seeds))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEMO_LIST_PATH
    path.write_text(render_csv(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
