"""64-bit perceptual hashes as in the imagehash library: pHash (DCT) and dHash (gradient).

The same steps as `imagehash.phash` / `imagehash.dhash` (Pillow LANCZOS resize of the
8-bit gray image, scipy's DCT, median threshold, MSB-first hex), run on the gray working
image the decoder shares, without imagehash's per-call conversions. Tests check bit
equality with imagehash.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fftpack import dct

from matcher.algorithms.base import HashAlgorithm, HashValue
from matcher.decode import DecodedImage

HASH_SIZE = 8
PHASH_HIGHFREQ_FACTOR = 4


def bits_to_hex(bits: np.ndarray) -> str:
    """A boolean array, flattened row-major, MSB first, to hex (imagehash's `str()`)."""
    return np.packbits(bits.reshape(-1)).tobytes().hex()


def phash_bits(gray: Image.Image, hash_size: int = HASH_SIZE) -> np.ndarray:
    """imagehash.phash: 32x32 LANCZOS, 2-D DCT-II, low 8x8 block above its median."""
    size = hash_size * PHASH_HIGHFREQ_FACTOR
    pixels = np.asarray(gray.resize((size, size), Image.Resampling.LANCZOS))
    coefficients = dct(dct(pixels, axis=0), axis=1)
    low = coefficients[:hash_size, :hash_size]
    return low > np.median(low)


def dhash_bits(gray: Image.Image, hash_size: int = HASH_SIZE) -> np.ndarray:
    """imagehash.dhash: 9x8 LANCZOS, is each pixel brighter than its left neighbour."""
    pixels = np.asarray(gray.resize((hash_size + 1, hash_size), Image.Resampling.LANCZOS))
    return pixels[:, 1:] > pixels[:, :-1]


class PHash(HashAlgorithm):
    name = "phash"
    bits = 64
    default_auto_distance = 6
    default_review_distance = 10

    def compute(self, image: DecodedImage) -> HashValue:
        return HashValue(self.name, bits_to_hex(phash_bits(image.gray())))


class DHash(HashAlgorithm):
    name = "dhash"
    bits = 64
    default_auto_distance = 6
    default_review_distance = 10

    def compute(self, image: DecodedImage) -> HashValue:
        return HashValue(self.name, bits_to_hex(dhash_bits(image.gray())))
