"""How well pHash/dHash quality separates informative images from low-detail ones (issue 13).

    python -m bench.hash_quality [--out bench/results/hash_quality.json]

Informative: scikit-image's bundled photographs (the `bench` extra: `pip install -e
'.[bench]'`) and their four quarters. Low-detail: gradients (linear, diagonal, radial; with
and without noise), flat fields, and heavily blurred, 3%-contrast and 4%-brightness copies
of the photographs, and stripes. Prints, per algorithm:

- how often an edit (JPEG q40, 1/3 resize, blur, brightness, contrast) flips a bit, by how far
  its value lay from the threshold (what `*_STABLE_LEVELS` in
  `matcher/algorithms/imagehashes.py` are chosen from);
- the share of each set at or above quality floors 20-60 (what `default_min_quality` is
  chosen from).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from spinneret.matcher.algorithms.imagehashes import (
    DHASH_STABLE_LEVELS,
    HASH_SIZE,
    PHASH_STABLE_LEVELS,
    _dhash_margins,
    _phash_margins,
)
from spinneret.matcher.algorithms.quality import quality

MARGIN_BINS = (0, 1, 2, 3, 4, 6, 8, 10, 12, 16)
FLOORS = (20, 30, 40, 50, 60)
ALGORITHMS = {"dhash": (_dhash_margins, DHASH_STABLE_LEVELS),
              "phash": (_phash_margins, PHASH_STABLE_LEVELS)}


def photographs() -> list[tuple[str, Image.Image]]:
    import skimage.data

    folder = os.path.dirname(skimage.data.__file__)
    paths = sorted(glob.glob(f"{folder}/*.png") + glob.glob(f"{folder}/*.jpg"))
    return [(Path(p).name, Image.open(p).convert("L")) for p in paths if "chessboard" not in p]


def quarters(image: Image.Image) -> list[Image.Image]:
    w, h = image.width // 2, image.height // 2
    return [image.crop((x, y, x + w, y + h)) for x in (0, w) for y in (0, h)]


def edits(image: Image.Image) -> list[Image.Image]:
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=40)
    return [
        Image.open(io.BytesIO(jpeg.getvalue())).convert("L"),
        image.resize((max(9, image.width // 3), max(9, image.height // 3)),
                     Image.Resampling.BILINEAR),
        image.filter(ImageFilter.GaussianBlur(1.5)),
        ImageEnhance.Brightness(image).enhance(1.15),
        ImageEnhance.Contrast(image).enhance(0.85),
    ]


def low_detail(photos: list[tuple[str, Image.Image]]) -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(1)
    width, height = 256, 192
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    fields = {"h": x + 0 * y, "v": y + 0 * x, "diag": (x + y) / 2,
              "radial": np.hypot(x - 0.5, y - 0.5), "radial2": np.hypot(x - 0.3, y - 0.7)}
    images = []
    for amplitude in (0.2, 0.5, 1.0):
        for name, field in fields.items():
            for noise in (0, 2, 6):
                gray = 40 + 180 * amplitude * field + rng.normal(0, noise, (height, width))
                images.append((f"{name}-a{amplitude}-n{noise}", _gray(gray)))
    for level in (0, 30, 128, 250):
        for noise in (0, 3):
            images.append((f"flat{level}-n{noise}",
                           _gray(level + rng.normal(0, noise, (height, width)))))
    for name, image in photos[:12]:
        images.append((f"{name}-blurred", image.filter(
            ImageFilter.GaussianBlur(max(image.size) / 8))))
        images.append((f"{name}-contrast3%", ImageEnhance.Contrast(image).enhance(0.03)))
        images.append((f"{name}-brightness4%", ImageEnhance.Brightness(image).enhance(0.04)))
    for period in (16, 32, 64):
        stripes = (np.arange(width)[None, :] // period) % 2 * 200 + 20 + 0 * y
        images.append((f"stripes{period}", _gray(stripes)))
    return images


def _gray(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))


def flip_rates(images: list[Image.Image], margins_of) -> dict[str, list[float]]:
    flips, totals = Counter(), Counter()
    for image in images:
        bits, margins = margins_of(np.asarray(image), HASH_SIZE)
        where = np.digitize(np.abs(margins), MARGIN_BINS) - 1
        for edited in edits(image):
            flipped = margins_of(np.asarray(edited), HASH_SIZE)[0] != bits
            for index, flip in zip(where.ravel(), flipped.ravel(), strict=True):
                totals[int(index)] += 1
                flips[int(index)] += int(flip)
    return {f">={MARGIN_BINS[i]}": [totals[i], round(flips[i] / max(1, totals[i]), 4)]
            for i in range(len(MARGIN_BINS))}


def quality_of(image: Image.Image, margins_of, stable: float) -> int:
    bits, margins = margins_of(np.asarray(image), HASH_SIZE)
    return quality(bits, margins, stable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    photos = photographs()
    informative = [image for _, image in photos]
    informative += [part for _, image in photos for part in quarters(image)]
    low = [image for _, image in low_detail(photos)]
    results: dict[str, object] = {"informative": len(informative), "low_detail": len(low)}
    print(f"{len(informative)} photographs and quarters, {len(low)} low-detail images\n")
    for name, (margins_of, stable) in ALGORITHMS.items():
        rates = flip_rates(informative, margins_of)
        good = np.array([quality_of(i, margins_of, stable) for i in informative])
        bad = np.array([quality_of(i, margins_of, stable) for i in low])
        kept = {floor: [round(float((good >= floor).mean()), 3),
                        round(float((bad >= floor).mean()), 3)] for floor in FLOORS}
        results[name] = {"flip_rate_by_margin": rates, "share_at_or_above_floor": kept}
        print(f"{name}: bit flip rate under edits, by distance from the threshold (levels)")
        for margin, (count, rate) in rates.items():
            print(f"  {margin:>5}  {rate:6.1%}  of {count}")
        print(f"{name}: share at or above each quality floor (informative / low-detail)")
        for floor, (kept_good, kept_bad) in kept.items():
            print(f"  >= {floor}  {kept_good:6.1%} / {kept_bad:6.1%}")
        print()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
