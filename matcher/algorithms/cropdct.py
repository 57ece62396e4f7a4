"""`cropdct`: a 256-bit hash of an image's central window, matched against crop guesses.

Global hashes (pHash, dHash, PDQ) move 20-120 bits when 5% is cut off every side: the whole
frame they summarise changes. `cropdct` hashes only the central 70% of the image (15% margin
on every side), which survives any centred crop of up to 15% per side. A list stores that
hash of the original. A query does not know how much of its image was cut, so it is also
hashed at the windows where the original's central 70% would lie had the image been cropped
by 0, 2.5, ..., 12.5% on the left/right and, independently, on the top/bottom (36 windows,
`query_variants`); one of them lands within ~1.25% of the stored window.

The hash itself follows PDQ's recipe on that window: luminance, 64x64 box-averaged samples,
the 16x16 lowest non-DC DCT coefficients, one bit per coefficient above their median, and
PDQ's gradient quality (flat windows hash unreliably: below `default_min_quality` they are not
matched). Bits are row-major, most significant first. It is not PDQ-compatible (different
filter and window), so it has its own name and thresholds. Crops cut from one side only
(e.g. a banner) are not covered; see docs/matching.md.
"""

from __future__ import annotations

import numpy as np

from spinneret.matcher.algorithms.base import HashValue, HasQueryVariants
from spinneret.matcher.decode import DecodedImage

#: Share of the width/height left out on every side of the stored window.
MARGIN = 0.15
#: Per-side crops a query is tried at (each axis independently); step 2.5%: the stored window
#: and the nearest guess differ by at most 1.25% of the image, which costs ~10 bits.
CROP_GUESSES = (0.0, 0.025, 0.05, 0.075, 0.10, 0.125)
#: Windows narrower than this many pixels are not hashed (quality 0); narrower than 64, cells
#: are single (repeated) pixels.
MIN_WINDOW = 16


def window_edges(length: int, crop: float, margin: float = MARGIN) -> np.ndarray:
    """65 pixel edges of 64 cells across the stored window, in an image of `length` pixels
    that is the original with `crop` cut off each side."""
    inset = (margin - crop) / (1.0 - 2.0 * crop)
    start, stop = length * inset, length * (1.0 - inset)
    return np.rint(start + (stop - start) * np.arange(65) / 64).astype(np.int64)


def _dct_matrix() -> np.ndarray:
    from spinneret.matcher.algorithms._pdq_kernel import DCT_16x64

    return DCT_16x64


def window_hashes(
    gray: np.ndarray, crops_y: tuple[float, ...], crops_x: tuple[float, ...]
) -> list[tuple[str, int]]:
    """(hex, quality) for every (crop_y, crop_x) pair, crop_y-major."""
    from spinneret.matcher.algorithms._window_kernel import window_samples

    height, width = gray.shape
    ys = np.stack([window_edges(height, c) for c in crops_y])
    xs = np.stack([window_edges(width, c) for c in crops_x])
    if min(ys[:, -1] - ys[:, 0]) < MIN_WINDOW or min(xs[:, -1] - xs[:, 0]) < MIN_WINDOW:
        return [("0" * 64, 0)] * (len(crops_y) * len(crops_x))
    samples, quality = window_samples(np.ascontiguousarray(gray, dtype=np.uint8), ys, xs)
    dct = _dct_matrix()
    coefficients = (dct @ samples @ dct.T).reshape(-1, 256)
    median = np.partition(coefficients, 127, axis=1)[:, 127:128]
    packed = np.packbits(coefficients > median, axis=1)
    return [(row.tobytes().hex(), int(q)) for row, q in zip(packed, quality.reshape(-1),
                                                            strict=True)]


class CropDct(HasQueryVariants):
    name = "cropdct"
    bits = 256
    reference_hash = "52aa77d1ad01bf2aec41855dad4134e847ebc51717bbadcb52fa4c6bed019005"
    has_quality = True
    # Review only in practice (docs/matching.md): over its 36 guesses, different stripe
    # patterns came within 2 bits (and any quality floor keeps them), so only an identical
    # hash decides alone. Review 31: 40 added no recall on the real-image benchmark, and each
    # image's 36 lookups at radius 40 cost 2.7x (1M entries) to 6x (10M) those at 31.
    default_auto_distance = 0
    default_review_distance = 31
    default_min_quality = 50

    def compute(self, image: DecodedImage) -> HashValue:
        hex_, quality = window_hashes(image.gray_array(), (0.0,), (0.0,))[0]
        return HashValue(self.name, hex_, quality)

    def query_variants(self, image: DecodedImage, *, dihedral: bool = False) -> list[HashValue]:
        """The 35 crop guesses other than "not cropped" (that one is `compute`)."""
        found = window_hashes(image.gray_array(), CROP_GUESSES, CROP_GUESSES)
        return [HashValue(self.name, hex_, quality) for hex_, quality in found[1:]]
