"""PDQ's pipeline (Meta's reference C++) vectorised: RGB -> 256 bits + quality.

The reference blurs the whole luma image with a Jarosz tent filter (two box passes per axis)
and then reads only 64x64 samples of it. The filter is linear and separable, so those samples
are `Rows @ luma @ Cols.T`, where each of the 64 rows of `Rows` (and `Cols`) holds the few
non-zero tent weights of one sample: a sparse product of ~64 * 7 rows instead of four passes
over every pixel. Luma uses the pdqhash wrapper's float64 weights rounded to float32, the
DCT the reference's 16x64 matrix; the only difference left is summation order (the C++ keeps
running float32 sums), so a bit lying exactly on the median may flip. tests/test_pdq_fast.py
compares with pdqhash on hundreds of images.

The two loops (samples, quality) run in numpy here or compiled in `_pdq_numba`, as
`matcher.kernels.compiled()` says: same operations in the same order, identical floats.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pdqhash

from spinneret.matcher.kernels import compiled

SAMPLES = 64
#: The reference returns an all-zero hash of quality 0 below this many rows or columns.
MIN_SIDE = 5
#: Coefficients closer to the median than this (at 512 px; scaled with the longest side) may
#: order differently in the C++ float32 arithmetic: 3x the largest difference measured.
MEDIAN_MARGIN = 0.005
#: The reference's 16x64 DCT-II rows for frequencies 1..16 (DC left out), stored as float32.
_I = np.arange(16, dtype=np.float64)[:, None]
_J = np.arange(SAMPLES, dtype=np.float64)[None, :]
DCT_16x64 = (
    float(np.float32(math.sqrt(2.0 / 64.0))) * np.cos(math.pi / 2 / 64.0 * (_I + 1) * (2 * _J + 1))
).astype(np.float32).astype(np.float64)
del _I, _J


@lru_cache(maxsize=128)
def axis_taps(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights (64 x k) of the samples of a twice-box-filtered axis of `length`.

    As the reference: window = ceil(length / 128); the box over output j covers inputs
    [j - (window - half), j + half - 1] clipped to the axis, with half = (window + 2) // 2,
    divided by the clipped count; sample o reads index int((o + 0.5) * length / 64).
    """
    window = (length + 2 * SAMPLES - 1) // (2 * SAMPLES)
    half = (window + 2) // 2
    before, after = window - half, half - 1

    def box(j: int) -> range:
        return range(max(0, j - before), min(length - 1, j + after) + 1)

    rows: list[dict[int, float]] = []
    for o in range(SAMPLES):
        centre = int(((o + 0.5) * length) / SAMPLES)
        outer = box(centre)
        weights: dict[int, float] = {}
        for i in outer:
            inner = box(i)
            share = 1.0 / (len(outer) * len(inner))
            for m in inner:
                weights[m] = weights.get(m, 0.0) + share
        rows.append(weights)
    width = max(len(r) for r in rows)
    index = np.zeros((SAMPLES, width), dtype=np.int64)
    weight = np.zeros((SAMPLES, width), dtype=np.float64)
    for o, r in enumerate(rows):
        for k, (m, w) in enumerate(sorted(r.items())):
            index[o, k] = m
            weight[o, k] = w
    return index, weight


def _samples(rgb, row_index, row_weight, col_index, col_weight) -> np.ndarray:
    """The 64x64 tent-filtered luma samples of an HxWx3 uint8 image: `_pdq_numba.samples`'s
    arithmetic in the same order (so the same float64 values), one tap column at a time."""
    if compiled():
        from spinneret.matcher.algorithms import _pdq_numba

        return _pdq_numba.samples(rgb, row_index, row_weight, col_index, col_weight)
    live = row_weight != 0.0
    used = np.unique(row_index[live])  # the rows any sample reads
    pixels = rgb[used].astype(np.float64)
    # pdqhash's luma: float64 weights in this order, then float32.
    luma = (pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114
            ).astype(np.float32)
    where = np.searchsorted(used, row_index)
    rows = np.zeros((SAMPLES, rgb.shape[1]))
    for k in range(row_index.shape[1]):
        taking = live[:, k]
        rows[taking] += row_weight[taking, k, None] * luma[where[taking, k]]
    out = np.zeros((SAMPLES, SAMPLES))
    for k in range(col_index.shape[1]):
        out += col_weight[None, :, k] * rows[:, col_index[:, k]]
    return out


def _quality(samples: np.ndarray) -> int:
    """The reference's image-domain quality: summed truncated gradients / 90, at most 100
    (float32 arithmetic, as `_pdq_numba.quality`)."""
    if compiled():
        from spinneret.matcher.algorithms import _pdq_numba

        return int(_pdq_numba.quality(samples))
    values = samples.astype(np.float32)
    hundred, scale = np.float32(100.0), np.float32(255.0)
    down = (values[:-1, :] - values[1:, :]) * hundred / scale
    across = (values[:, :-1] - values[:, 1:]) * hundred / scale
    total = int(np.abs(down.astype(np.int64)).sum() + np.abs(across.astype(np.int64)).sum())
    return min(total // 90, 100)


def pdq_dct(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """The 16x16 DCT coefficients PDQ thresholds, and its quality, of an HxWx3 uint8 image."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if min(rgb.shape[0], rgb.shape[1]) < MIN_SIDE:
        return np.zeros((16, 16)), 0
    row_index, row_weight = axis_taps(rgb.shape[0])
    col_index, col_weight = axis_taps(rgb.shape[1])
    samples = _samples(rgb, row_index, row_weight, col_index, col_weight)
    quality = _quality(samples)
    return DCT_16x64 @ samples @ DCT_16x64.T, quality


def dct_to_hex(coefficients: np.ndarray, margin: float = 0.0) -> str | None:
    """Bits above the (lower) median, as the reference orders them: bit 255 first in hex.

    None when the 128th and 129th smallest coefficients are within 2 * `margin`: then
    rounding differences could swap which one is above the median.
    """
    flat = coefficients.reshape(-1)
    middle = np.partition(flat, (127, 128))
    if middle[128] - middle[127] <= 2 * margin:
        return None
    return np.packbits((flat > middle[127])[::-1]).tobytes().hex()


def _margin(rgb: np.ndarray) -> float:
    return MEDIAN_MARGIN * max(1.0, max(rgb.shape[0], rgb.shape[1]) / 512)


def _reference_hex(vector: np.ndarray) -> str:
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def pdq_hash(rgb: np.ndarray, dct: tuple[np.ndarray, int] | None = None) -> tuple[str, int]:
    """PDQ hex and quality of an HxWx3 uint8 image, as pdqhash.compute gives them.

    `dct` is `pdq_dct(rgb)` when the caller already has it.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if min(rgb.shape[0], rgb.shape[1]) < MIN_SIDE:
        return "0" * 64, 0
    coefficients, quality = dct if dct is not None else pdq_dct(rgb)
    hex_ = dct_to_hex(coefficients, _margin(rgb))
    if hex_ is not None:
        return hex_, quality
    vector, quality = pdqhash.compute(rgb)
    return _reference_hex(vector), int(quality)


def pdq_dihedral(rgb: np.ndarray, dct: tuple[np.ndarray, int] | None = None,
                 ) -> tuple[list[str], int]:
    """The 8 rotations/flips' PDQ hex (pdqhash.compute_dihedral's order) and the quality.

    A transposed image's DCT is exactly the transposed DCT, but a mirrored one's is not the
    sign-flipped DCT: PDQ's box windows and 64 sample points are not mirror-symmetric, so a
    mirrored image is sampled on a grid about a pixel off (8-100 bits on fine texture). So
    the three mirrorings go through the whole pipeline, and the transposes come from those.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if min(rgb.shape[0], rgb.shape[1]) < MIN_SIDE:
        return ["0" * 64] * 8, 0
    coefficients, quality = dct if dct is not None else pdq_dct(rgb)
    lr = pdq_dct(rgb[:, ::-1])[0]
    ud = pdq_dct(rgb[::-1, :])[0]
    both = pdq_dct(rgb[::-1, ::-1])[0]
    variants = [coefficients, lr.T, both, ud.T, ud, lr, coefficients.T, both.T]
    margin = _margin(rgb)
    hexes = []
    for index, variant in enumerate(variants):
        hex_ = dct_to_hex(variant, margin)
        if hex_ is None:  # too close to call by rounding: ask the reference implementation
            vector, _ = pdqhash.compute(np.ascontiguousarray(_DIHEDRAL_PIXELS[index](rgb)))
            hex_ = _reference_hex(vector)
        hexes.append(hex_)
    return hexes, quality


#: The pixel transform behind each variant of `pdq_dihedral`, in its order.
_DIHEDRAL_PIXELS = (
    lambda a: a,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, 3),
    lambda a: a[::-1, :],
    lambda a: a[:, ::-1],
    lambda a: a.transpose(1, 0, 2),
    lambda a: a[::-1, ::-1].transpose(1, 0, 2),
)
