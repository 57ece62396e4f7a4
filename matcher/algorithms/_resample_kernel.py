"""Pillow's LANCZOS resize of an 8-bit gray image, bit for bit, compiled with numba, or
Pillow itself where the kernels run in numpy (`matcher.kernels`).

pHash and dHash (imagehash) shrink the gray image with `Image.resize(size, LANCZOS)`; Pillow
runs that convolution one output pixel at a time. This is the same arithmetic as Pillow's
libImaging/Resample.c (coefficients in double from the same filter, normalised, turned into
22-bit fixed point; a horizontal pass over only the rows the vertical pass reads, rounded
and clipped to 8 bits; then the vertical pass) with the tap loops vectorised. Integer sums
are exact, so the output is identical; tests/test_algorithms.py checks it against Pillow
and imagehash.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from spinneret.matcher.kernels import compiled

PRECISION_BITS = 32 - 8 - 2
_LANCZOS_SUPPORT = 3.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    if -3.0 <= x < 3.0:
        return _sinc(x) * _sinc(x / 3)
    return 0.0


@lru_cache(maxsize=256)
def coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`: first input index, tap count
    and fixed-point weights (out_size x ksize) of each output pixel along one axis."""
    scale = float(np.float32(in_size)) / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    starts = np.zeros(out_size, dtype=np.int64)
    counts = np.zeros(out_size, dtype=np.int64)
    weights = np.zeros((out_size, ksize), dtype=np.float64)
    one = 1 << PRECISION_BITS
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        taps = [_lanczos((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        total = 0.0
        for w in taps:
            total += w
        if total != 0.0:
            taps = [w / total for w in taps]
        for x, w in enumerate(taps):
            weights[xx, x] = int(-0.5 + w * one) if w < 0 else int(0.5 + w * one)
        starts[xx], counts[xx] = xmin, xmax
    return starts, counts, weights


def _vertical_first(height: int, width: int, out_h: int, out_w: int) -> bool:
    """Pillow >= 11.2 runs the vertical pass first when the height shrinks more than twice
    as much as the width (the two orders round differently)."""
    return _PILLOW_VERTICAL_FIRST and 0 < height - out_h and height - out_h > (width - out_w) * 2


def resize_lanczos(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`np.asarray(Image.fromarray(gray).resize(size, LANCZOS))` for a 2-D uint8 array."""
    out_w, out_h = size
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = gray.shape
    need_h, need_v = out_w != width, out_h != height
    if not (need_h or need_v):
        return gray.copy()
    if not compiled():  # Pillow is the reference, and needs no compiler
        return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS))
    from spinneret.matcher.algorithms._resample_numba import _horizontal, _vertical

    h_start, h_count, h_weight = coefficients(width, out_w)
    v_start, v_count, v_weight = coefficients(height, out_h)
    if _vertical_first(height, width, out_h, out_w):
        if need_v:
            gray = _vertical(gray, 0, out_h, v_start, v_count, v_weight)
        if need_h:
            gray = _horizontal(gray, 0, out_h, out_w, h_start, h_count, h_weight)
        return gray
    if not need_h:
        return _vertical(gray, 0, out_h, v_start, v_count, v_weight)
    first = int(v_start[0]) if need_v else 0
    last = int(v_start[-1] + v_count[-1]) if need_v else height
    temp = _horizontal(gray, first, last - first, out_w, h_start, h_count, h_weight)
    if not need_v:
        return temp
    return _vertical(temp, first, out_h, v_start, v_count, v_weight)


def _probe_pillow_order() -> bool:
    """Which pass order the installed Pillow uses, from an image where the orders differ."""
    gray = np.random.default_rng(0).integers(0, 256, (37, 21), dtype=np.uint8)
    return np.array_equal(
        np.asarray(Image.fromarray(gray).resize((9, 8), Image.Resampling.LANCZOS)),
        np.asarray(
            Image.fromarray(np.asarray(Image.fromarray(gray).resize((21, 8), Image.Resampling.LANCZOS)))
            .resize((9, 8), Image.Resampling.LANCZOS)
        ),
    )


_PILLOW_VERTICAL_FIRST = _probe_pillow_order()
