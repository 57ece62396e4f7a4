"""Box-averaged 64x64 samples of rectangular windows of a gray image, for `cropdct`.

One summed-area table of the image makes every cell of every window four reads, so the 36
crop guesses a query is matched with cost about as much as one full-image pass. Two
implementations with identical results: numpy here, and a numba loop (`_window_numba`, ~15x
faster on the table: numpy's `cumsum` took ~3 ms for a 512x384 image, the loop ~0.2 ms) that
runs where `matcher.kernels.compiled()` says so.
"""

from __future__ import annotations

import numpy as np

from spinneret.matcher.kernels import compiled

SAMPLES = 64


def window_samples(gray: np.ndarray, ys: np.ndarray, xs: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each of 64x64 cells of every window (row bounds `ys[a]`, column bounds
    `xs[b]`, 65 non-decreasing pixel edges each, the last below the image's size) of the
    2-D uint8 `gray`, and each window's PDQ-style quality (summed truncated neighbour
    gradients / 90, at most 100).

    Returns (samples (A, B, 64, 64) float64, quality (A, B) int64).
    """
    if compiled():
        from spinneret.matcher.algorithms._window_numba import window_samples as loop

        return loop(gray, ys, xs)
    height, width = gray.shape
    table = np.zeros((height + 1, width + 1), dtype=np.int64)
    table[1:, 1:] = gray.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    y0 = ys[:, :-1]
    y1 = np.maximum(ys[:, 1:], y0 + 1)  # windows under 64 px: cells of one pixel
    x0 = xs[:, :-1]
    x1 = np.maximum(xs[:, 1:], x0 + 1)
    # (A, 1, 64, 1) against (1, B, 1, 64): every cell of every window pair.
    top, bottom = y0[:, None, :, None], y1[:, None, :, None]
    left, right = x0[None, :, None, :], x1[None, :, None, :]
    total = table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]
    samples = total / ((bottom - top) * (right - left))
    down = ((samples[:, :, :-1, :] - samples[:, :, 1:, :]) * 100.0 / 255.0).astype(np.int64)
    across = ((samples[:, :, :, :-1] - samples[:, :, :, 1:]) * 100.0 / 255.0).astype(np.int64)
    gradient = np.abs(down).sum(axis=(2, 3)) + np.abs(across).sum(axis=(2, 3))
    return samples, np.minimum(gradient // 90, 100)
