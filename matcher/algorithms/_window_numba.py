"""`_window_kernel.window_samples` compiled with numba (imported only where
`matcher.kernels.compiled()` chooses numba).

Box-averaged 64x64 samples of rectangular windows of a gray image, for `cropdct`.

One summed-area table of the image makes every cell of every window four reads, so the 36
crop guesses a query is matched with cost about as much as one full-image pass. numpy's
`cumsum` took ~3 ms for a 512x384 image here; this loop takes ~0.2 ms.
"""

from __future__ import annotations

import numpy as np

from spinneret.matcher._jit import njit

SAMPLES = 64


@njit(cache=True, nogil=True)
def window_samples(gray, ys, xs):  # pragma: no cover - compiled; covered through CropDct tests
    """Mean of each of 64x64 cells of every window (row bounds `ys[a]`, column bounds
    `xs[b]`, 65 non-decreasing pixel edges each, the last below the image's size) of the
    2-D uint8 `gray`, and each window's
    PDQ-style quality (summed truncated neighbour gradients / 90, at most 100).

    Returns (samples (A, B, 64, 64) float64, quality (A, B) int64).
    """
    height, width = gray.shape
    table = np.zeros((height + 1, width + 1), dtype=np.int64)
    for i in range(height):
        run = 0
        for j in range(width):
            run += gray[i, j]
            table[i + 1, j + 1] = table[i, j + 1] + run
    samples = np.empty((ys.shape[0], xs.shape[0], SAMPLES, SAMPLES), dtype=np.float64)
    quality = np.zeros((ys.shape[0], xs.shape[0]), dtype=np.int64)
    for a in range(ys.shape[0]):
        for b in range(xs.shape[0]):
            for i in range(SAMPLES):
                y0 = ys[a, i]
                y1 = max(ys[a, i + 1], y0 + 1)  # windows under 64 px: cells of one pixel
                for j in range(SAMPLES):
                    x0 = xs[b, j]
                    x1 = max(xs[b, j + 1], x0 + 1)
                    area = (y1 - y0) * (x1 - x0)
                    total = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
                    samples[a, b, i, j] = total / area
            gradient = 0
            for i in range(SAMPLES):
                for j in range(SAMPLES):
                    value = samples[a, b, i, j]
                    if i + 1 < SAMPLES:
                        gradient += abs(int((value - samples[a, b, i + 1, j]) * 100.0 / 255.0))
                    if j + 1 < SAMPLES:
                        gradient += abs(int((value - samples[a, b, i, j + 1]) * 100.0 / 255.0))
            quality[a, b] = min(gradient // 90, 100)
    return samples, quality
