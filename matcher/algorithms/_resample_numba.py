"""The two passes of Pillow's LANCZOS resize, compiled with numba (`_resample_kernel` has
the coefficients and the driver; imported only where `matcher.kernels.compiled()` chooses
numba).
"""

from __future__ import annotations

import numpy as np

from spinneret.matcher._jit import njit

PRECISION_BITS = 32 - 8 - 2


@njit(cache=True, nogil=True)
def _clip8(total):  # pragma: no cover - compiled
    value = np.int64(total) >> PRECISION_BITS
    return 0 if value < 0 else (255 if value > 255 else value)


# The fixed-point sums are integers below 2**33, exact in float64 in any order, so the tap
# loops may be reassociated (fastmath) and vectorised without changing a single result.
@njit(cache=True, nogil=True, fastmath=True)
def _horizontal(src, first, rows, out_w, start, count, weight):  # pragma: no cover - compiled
    out = np.empty((rows, out_w), dtype=np.uint8)
    half = float(1 << (PRECISION_BITS - 1))
    line = np.empty(src.shape[1])  # one row as float64: contiguous slices vectorise
    for yy in range(rows):
        row = src[yy + first]
        for i in range(line.shape[0]):
            line[i] = row[i]
        for xx in range(out_w):
            taps = weight[xx]
            pixels = line[start[xx]:start[xx] + count[xx]]
            s = half
            for x in range(pixels.shape[0]):
                s += pixels[x] * taps[x]
            out[yy, xx] = _clip8(s)
    return out


@njit(cache=True, nogil=True, fastmath=True)
def _vertical(src, first, out_h, start, count, weight):  # pragma: no cover - compiled
    width = src.shape[1]
    out = np.empty((out_h, width), dtype=np.uint8)
    acc = np.empty(width)
    half = float(1 << (PRECISION_BITS - 1))
    for yy in range(out_h):
        acc[:] = half
        base = start[yy] - first
        for y in range(count[yy]):
            w = weight[yy, y]
            line = src[base + y]
            for xx in range(width):
                acc[xx] += line[xx] * w
        for xx in range(width):
            out[yy, xx] = _clip8(acc[xx])
    return out
