"""64-bit perceptual hashes as in the imagehash library: pHash (DCT) and dHash (gradient).

The same steps as `imagehash.phash` / `imagehash.dhash` (Pillow LANCZOS resize of the
8-bit gray image, scipy's DCT, median threshold, MSB-first hex), run on the gray working
image the decoder shares, without imagehash's per-call conversions. The LANCZOS shrink is
`_resample_kernel`, Pillow's fixed-point arithmetic vectorised (~5x faster, same bytes).
Tests check bit equality with imagehash.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from matcher.algorithms.base import HashAlgorithm, HashValue
from matcher.decode import DecodedImage

HASH_SIZE = 8
PHASH_HIGHFREQ_FACTOR = 4


def bits_to_hex(bits: np.ndarray) -> str:
    """A boolean array, flattened row-major, MSB first, to hex (imagehash's `str()`)."""
    return np.packbits(bits.reshape(-1)).tobytes().hex()


def _shrink(gray: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`gray.resize(size, LANCZOS)` as an array; `gray` is an "L" image or a 2-D uint8 array."""
    # Imported on first use: numba would slow every import of the registry.
    from matcher.algorithms._resample_kernel import resize_lanczos

    if isinstance(gray, np.ndarray):
        return resize_lanczos(gray, size)
    if gray.mode != "L":
        return np.asarray(gray.resize(size, Image.Resampling.LANCZOS))
    return resize_lanczos(np.asarray(gray), size)


def phash_bits(gray: Image.Image | np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """imagehash.phash: 32x32 LANCZOS, 2-D DCT-II, low 8x8 block above its median."""
    from scipy.fftpack import dct  # on first use: scipy costs every importer of the registry

    size = hash_size * PHASH_HIGHFREQ_FACTOR
    pixels = _shrink(gray, (size, size))
    coefficients = dct(dct(pixels, axis=0), axis=1)
    low = coefficients[:hash_size, :hash_size]
    return low > np.median(low)


def dhash_bits(gray: Image.Image | np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """imagehash.dhash: 9x8 LANCZOS, is each pixel brighter than its left neighbour."""
    pixels = _shrink(gray, (hash_size + 1, hash_size))
    return pixels[:, 1:] > pixels[:, :-1]


class PHash(HashAlgorithm):
    name = "phash"
    bits = 64
    default_auto_distance = 6
    default_review_distance = 10
    default_corroborate_distance = 12

    def compute(self, image: DecodedImage) -> HashValue:
        return HashValue(self.name, bits_to_hex(phash_bits(image.gray_array())))


class DHash(HashAlgorithm):
    name = "dhash"
    bits = 64
    default_auto_distance = 6
    default_review_distance = 10
    default_corroborate_distance = 12

    def compute(self, image: DecodedImage) -> HashValue:
        return HashValue(self.name, bits_to_hex(dhash_bits(image.gray_array())))
