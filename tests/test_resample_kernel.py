"""The compiled LANCZOS shrink (pHash/dHash) against the installed Pillow, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from spinneret.demo.images import generate
from spinneret.matcher.algorithms._resample_kernel import resize_lanczos


def pillow(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS))


def _grays() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    grays = []
    for n in range(60):
        height, width = int(rng.integers(1, 700)), int(rng.integers(1, 700))
        if n % 2:
            grays.append(rng.integers(0, 256, (height, width), dtype=np.uint8))
        else:
            grays.append(np.asarray(generate(n, (width, height)).convert("L")))
    # Both pass orders: Pillow >= 11.2 resizes vertically first when the height shrinks
    # more than twice as much as the width.
    grays += [np.asarray(generate(1, (512, 384)).convert("L")),
              np.asarray(generate(2, (384, 512)).convert("L")),
              rng.integers(0, 256, (37, 21), dtype=np.uint8),
              np.zeros((3, 3), np.uint8), np.full((1, 1), 255, np.uint8)]
    return grays


@pytest.mark.parametrize("index", range(len(_grays())))
def test_identical_to_pillow(index: int):
    gray = _grays()[index]
    height, width = gray.shape
    rng = np.random.default_rng(index)
    sizes = [(32, 32), (9, 8), (width, 8), (9, height), (width, height),
             (int(rng.integers(1, 600)), int(rng.integers(1, 600)))]
    for size in sizes:
        ours = resize_lanczos(gray, size)
        assert ours.dtype == np.uint8 and ours.shape == (size[1], size[0])
        assert np.array_equal(ours, pillow(gray, size)), (gray.shape, size)


def test_accepts_non_contiguous_input():
    gray = np.asarray(generate(4, (300, 200)).convert("L"))[:, ::2]
    assert np.array_equal(resize_lanczos(gray, (32, 32)), pillow(np.ascontiguousarray(gray), (32, 32)))
