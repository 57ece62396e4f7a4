"""64-bit perceptual hashes as in the imagehash library: pHash (DCT) and dHash (gradient).

The same steps as `imagehash.phash` / `imagehash.dhash` (Pillow LANCZOS resize of the
8-bit gray image, DCT-II, median threshold, MSB-first hex), run on the gray working
image the decoder shares, without imagehash's per-call conversions. The LANCZOS shrink is
`_resample_kernel`: Pillow's fixed-point arithmetic compiled with numba (~5x faster, same
bytes) where the process runs numba kernels, Pillow itself otherwise (`matcher.kernels`).
Tests check bit equality with imagehash.

Both carry a quality (`matcher.algorithms.quality`): the share of bits that an ordinary edit
does not flip (a dHash neighbour difference of at least `DHASH_STABLE_LEVELS` gray levels, a
pHash coefficient at least `PHASH_STABLE_LEVELS` from the median, in orthonormal DCT units),
capped by the hash's shape (bit balance, distinct rows). The margins were measured on
scikit-image's bundled photographs under JPEG q40, 1/3 resize, blur, brightness and contrast
edits: past them at most 0.5% of bits flipped (bench/hash_quality.py, docs/matching.md).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from spinneret.matcher.algorithms.base import HashValue, ImageAlgorithm, bits_to_hex
from spinneret.matcher.algorithms.quality import quality
from spinneret.matcher.decode import DecodedImage

HASH_SIZE = 8
PHASH_HIGHFREQ_FACTOR = 4
#: Gray levels between neighbours past which an edit rarely flips a dHash bit (<= 0.3%).
DHASH_STABLE_LEVELS = 3
#: Distance from the median, in gray levels (orthonormal DCT), past which a pHash bit rarely
#: flips (<= 0.5%; 6 would do for stability, 10 also keeps smooth ramps out).
PHASH_STABLE_LEVELS = 10


def _shrink(gray: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`gray.resize(size, LANCZOS)` as an array; `gray` is an "L" image or a 2-D uint8 array."""
    # Imported on first use: it probes Pillow's pass order (matcher.kernels picks numba or Pillow).
    from spinneret.matcher.algorithms._resample_kernel import resize_lanczos

    if isinstance(gray, np.ndarray):
        return resize_lanczos(gray, size)
    if gray.mode != "L":
        return np.asarray(gray.resize(size, Image.Resampling.LANCZOS))
    return resize_lanczos(np.asarray(gray), size)


def _dct_rows(size: int, count: int) -> np.ndarray:
    """The first `count` rows of scipy's unnormalised DCT-II matrix of order `size`:
    2 cos(pi k (2n + 1) / 2 size)."""
    k = np.arange(count, dtype=np.float64)[:, None]
    n = np.arange(size, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * size))


_DCT_ROWS = _dct_rows(HASH_SIZE * PHASH_HIGHFREQ_FACTOR, HASH_SIZE)
#: The matrix product and scipy's FFT round differently (~1e-10 here); values nearer than
#: this to the median or to the stability margin are decided by scipy, as imagehash would.
_TIE = 1e-6


def _phash_margins(gray: Image.Image | np.ndarray, hash_size: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """pHash bits and each coefficient's distance from the median in gray levels."""
    size = hash_size * PHASH_HIGHFREQ_FACTOR
    pixels = _shrink(gray, (size, size))
    # Only the low hash_size x hash_size block is kept: two small matrix products give it
    # without scipy (~0.2 s to import), the same as imagehash's values up to rounding.
    rows = _DCT_ROWS if hash_size == HASH_SIZE else _dct_rows(size, hash_size)
    low = rows @ pixels @ rows.T
    median = np.median(low)
    # scipy's unnormalised DCT-II is 2 * sqrt(2 * size) times the orthonormal one per axis.
    margins = (low - median) / (2.0 * size)
    if (np.abs(low - median).min() < _TIE
            or np.abs(np.abs(margins) - PHASH_STABLE_LEVELS).min() < _TIE):
        # A tie (a flat or symmetric image): its bits are rounding noise; take scipy's.
        from scipy.fftpack import dct

        low = dct(dct(pixels, axis=0), axis=1)[:hash_size, :hash_size]
        median = np.median(low)
        margins = (low - median) / (2.0 * size)
    return low > median, margins


def _dhash_margins(gray: Image.Image | np.ndarray, hash_size: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """dHash bits and each neighbour difference in gray levels."""
    pixels = _shrink(gray, (hash_size + 1, hash_size)).astype(np.int16)
    difference = pixels[:, 1:] - pixels[:, :-1]
    return difference > 0, difference


def phash_bits(gray: Image.Image | np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """imagehash.phash: 32x32 LANCZOS, 2-D DCT-II, low 8x8 block above its median."""
    return _phash_margins(gray, hash_size)[0]


def dhash_bits(gray: Image.Image | np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """imagehash.dhash: 9x8 LANCZOS, is each pixel brighter than its left neighbour."""
    return _dhash_margins(gray, hash_size)[0]


class PHash(ImageAlgorithm):
    name = "phash"
    bits = 64
    reference_hash = "a822352a965f9577"
    has_quality = True
    # Calibrated on real-image distractors (bench/calibrate.py, docs/matching.md): from
    # quality 30 up (50 kept, the safer end), no unrelated pair was nearer than 12 bits (tune)
    # / 10 (held-out); the tail fit allows auto 8 / review 11 at 1e-6 / 1e-4 per pair.
    default_auto_distance = 6
    default_review_distance = 10
    default_corroborate_distance = 12
    default_min_quality = 50

    def compute(self, image: DecodedImage) -> HashValue:
        bits, margins = _phash_margins(image.gray_array(), HASH_SIZE)
        return HashValue(self.name, bits_to_hex(bits),
                         quality(bits, margins, PHASH_STABLE_LEVELS))


class DHash(ImageAlgorithm):
    name = "dhash"
    bits = 64
    reference_hash = "bdbd5a5abdbd5a5a"
    has_quality = True
    # Calibrated as pHash's: dHash's bits are strongly correlated (31 effective of 64); below
    # quality 60 unrelated wallpapers came within 2-4 bits, from 60 up within 9; the fit
    # allows auto 2 / review 8 there. 51% of real images pass.
    default_auto_distance = 2
    default_review_distance = 8
    default_corroborate_distance = 12
    default_min_quality = 60

    def compute(self, image: DecodedImage) -> HashValue:
        bits, margins = _dhash_margins(image.gray_array(), HASH_SIZE)
        return HashValue(self.name, bits_to_hex(bits),
                         quality(bits, margins, DHASH_STABLE_LEVELS))
