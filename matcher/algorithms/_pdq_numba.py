"""PDQ's two loops compiled with numba (`_pdq_kernel` has the same arithmetic in numpy).

Imported only where `matcher.kernels.compiled()` chooses numba: importing numba costs ~0.2 s.
"""

from __future__ import annotations

import numpy as np

from spinneret.matcher._jit import njit

SAMPLES = 64


@njit(cache=True, nogil=True)
def samples(rgb, row_index, row_weight, col_index, col_weight):  # pragma: no cover - compiled
    """The 64x64 tent-filtered luma samples of an HxWx3 uint8 image."""
    width = rgb.shape[1]
    flat = rgb.reshape(-1)  # flat indexing: 2-D [y, x, c] reads do not vectorise
    rows = np.zeros((SAMPLES, width))
    red, green, blue = np.empty(width), np.empty(width), np.empty(width)
    for o in range(SAMPLES):
        acc = rows[o]
        for k in range(row_index.shape[1]):
            w = row_weight[o, k]
            if w == 0.0:
                continue
            base = row_index[o, k] * width * 3
            for x in range(width):
                red[x] = flat[base + 3 * x]
                green[x] = flat[base + 3 * x + 1]
                blue[x] = flat[base + 3 * x + 2]
            for x in range(width):
                # pdqhash's luma: float64 weights in this order, then float32.
                acc[x] += w * np.float32(red[x] * 0.299 + green[x] * 0.587 + blue[x] * 0.114)
    out = np.empty((SAMPLES, SAMPLES))
    for o in range(SAMPLES):
        for p in range(SAMPLES):
            s = 0.0
            for k in range(col_index.shape[1]):
                s += col_weight[p, k] * rows[o, col_index[p, k]]
            out[o, p] = s
    return out


@njit(cache=True, nogil=True)
def quality(samples):  # pragma: no cover - compiled
    """The reference's image-domain quality: summed truncated gradients / 90, at most 100."""
    total = 0
    hundred = np.float32(100.0)
    scale = np.float32(255.0)
    for i in range(SAMPLES - 1):
        for j in range(SAMPLES):
            d = (np.float32(samples[i, j]) - np.float32(samples[i + 1, j])) * hundred / scale
            total += abs(int(d))
    for i in range(SAMPLES):
        for j in range(SAMPLES - 1):
            d = (np.float32(samples[i, j]) - np.float32(samples[i, j + 1])) * hundred / scale
            total += abs(int(d))
    return min(total // 90, 100)
