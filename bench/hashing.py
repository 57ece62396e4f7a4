"""Hashing benchmark (issue #7 part 1): all five hashes per image, single core.

    python -m bench.hashing [--runs 7] [--out bench/results/hashing.json]

Images come from the demo generator, upscaled: a 4000x3000 JPEG, a 1024x768 JPEG and
PNG, a 640x480 GIF. Side by side:
  naive  - Image.open -> RGB at full size -> imagehash.phash/dhash, pdqhash.compute, hashlib
  floor  - Pillow's reduced (`draft`) decode alone, to the size our decoder asks for
  ours   - matcher.hashing.hash_image (decode once, reduced, all five hashes)
  worker - what a worker computes per crawled image (matcher.service.hash_for_matching with
           the default algorithms): the five, cropdct, and cropdct's 35 crop guesses
Reports the median of several runs.
"""

from __future__ import annotations

import os

# Single core: no BLAS/OpenMP helper threads (set before numpy loads).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from PIL import Image  # noqa: E402

from bench.baselines import naive  # noqa: E402
from bench.results import print_goals, write_results  # noqa: E402
from spinneret.demo.images import generate  # noqa: E402
from spinneret.matcher.decode import DEFAULT_WORKING_SIZE, _draft_target  # noqa: E402
from spinneret.matcher.hashing import HashOptions, hash_image  # noqa: E402
from spinneret.matcher.kernels import prefer_compiled  # noqa: E402
from spinneret.matcher.service import hash_for_matching  # noqa: E402

# The kernels a worker runs (numba); `spinneret hash` runs their numpy twins (matcher.kernels).
prefer_compiled(True)

GOAL_SPEEDUP_12MP = 12.0
GOAL_FLOOR_RATIO_12MP = 1.6
GOAL_JPEG_1K_PER_S = 150.0
#: The issue's "all five hashes".
FIVE = HashOptions(algorithms=("sha256", "md5", "phash", "dhash", "pdq"))


def make_images() -> dict[str, bytes]:
    def encode(image: Image.Image, format: str, **options) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=format, **options)
        return buffer.getvalue()

    def photo(seed: int, size: tuple[int, int]) -> Image.Image:
        base = generate(seed, (size[0] // 4, size[1] // 4) if size[0] > 1000 else (640, 480))
        return base.resize(size, Image.Resampling.BICUBIC)

    return {
        "jpeg 4000x3000": encode(photo(1, (4000, 3000)), "JPEG", quality=90),
        "jpeg 1024x768": encode(photo(2, (1024, 768)), "JPEG", quality=90),
        "png 1024x768": encode(photo(3, (1024, 768)), "PNG"),
        "gif 640x480": encode(photo(4, (640, 480)).quantize(256), "GIF"),
    }


def floor(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        image.draft("RGB", _draft_target(*image.size, DEFAULT_WORKING_SIZE))
    image.load()


def ours(data: bytes) -> None:
    hash_image(data, FIVE)


def worker(data: bytes) -> None:
    hash_for_matching(data, HashOptions(), dihedral=False)


def seconds_per_image(function: Callable[[bytes], None], data: bytes, runs: int) -> float:
    """Median over `runs` runs; each run repeats enough to last ~0.2 s."""
    function(data)  # warm up
    start = time.perf_counter()
    function(data)
    once = max(time.perf_counter() - start, 1e-5)
    repeats = max(1, min(50, int(0.2 / once)))
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeats):
            function(data)
        samples.append((time.perf_counter() - start) / repeats)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/hashing.json"))
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    rows = []
    for name, data in make_images().items():
        times = {f.__name__: seconds_per_image(f, data, args.runs)
                 for f in (naive, floor, ours, worker)}
        rows.append({
            "image": name,
            "bytes": len(data),
            "naive_ms": times["naive"] * 1e3,
            "floor_ms": times["floor"] * 1e3,
            "ours_ms": times["ours"] * 1e3,
            "ours_per_s": 1 / times["ours"],
            "worker_ms": times["worker"] * 1e3,
            "worker_per_s": 1 / times["worker"],
            "speedup_vs_naive": times["naive"] / times["ours"],
            "ratio_to_floor": times["ours"] / times["floor"],
        })

    print(f"{'image':<16}{'bytes':>10}{'naive ms':>10}{'floor ms':>10}{'ours ms':>9}"
          f"{'ours/s':>8}{'naive/ours':>11}{'ours/floor':>11}{'worker ms':>10}{'worker/s':>9}")
    for r in rows:
        print(f"{r['image']:<16}{r['bytes']:>10}{r['naive_ms']:>10.1f}{r['floor_ms']:>10.1f}"
              f"{r['ours_ms']:>9.1f}{r['ours_per_s']:>8.0f}{r['speedup_vs_naive']:>10.1f}x"
              f"{r['ratio_to_floor']:>10.2f}x{r['worker_ms']:>10.1f}{r['worker_per_s']:>9.0f}")
    big = rows[0]
    medium = rows[1]
    goals = {
        "jpeg_12mp_speedup_vs_naive >= 12": big["speedup_vs_naive"] >= GOAL_SPEEDUP_12MP,
        "jpeg_12mp_ratio_to_floor <= 1.6": big["ratio_to_floor"] <= GOAL_FLOOR_RATIO_12MP,
        "jpeg_1024x768_per_s >= 150": medium["ours_per_s"] >= GOAL_JPEG_1K_PER_S,
    }
    print_goals(goals)
    write_results(
        args.out, "hashing",
        pillow=Image.__version__,
        runs=args.runs,
        load_average_1m_at_end=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        statistic="median seconds per image, single core",
        rows=rows,
        goals=goals,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
