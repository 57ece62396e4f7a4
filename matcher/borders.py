"""Find a uniform border around an image (padding, letterboxing, a frame) and cut it off.

Every perceptual hash summarises the whole frame, so a copy re-uploaded with a 5% white
border is as far from its original as an unrelated image. When a query image has such a
border, matching also looks it up by the hashes of the image without it (see
`matcher.hashing.hash_image_decoded(trim_borders=True)`); images without one cost one pass
over their gray rows and columns.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from spinneret.matcher.decode import DecodedImage

#: Gray levels a border row/column may span, and stray from the outermost one (JPEG ringing).
TOLERANCE = 16
#: Borders thinner than this share of the side are left alone (not worth a second lookup).
MIN_BORDER = 0.01
#: Never cut more than this share of a side: an image that flat is not "content in a frame".
MAX_TRIM = 0.5


def _leading_uniform(low: np.ndarray, high: np.ndarray, mean: np.ndarray) -> int:
    """How many lines from the start are uniform and of the first line's colour."""
    uniform = (high - low <= TOLERANCE) & (np.abs(mean - mean[0]) <= TOLERANCE)
    if uniform.all():
        return len(uniform)
    return int(np.argmin(uniform))


def uniform_border(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) lines of uniform border on a 2-D uint8 image, or None when
    there is none worth cutting (or the image is all border)."""
    height, width = gray.shape
    if height < 8 or width < 8:
        return None
    # uint8 min/max and integer sums: ~3x faster than converting the image first.
    rows = (gray.min(axis=1).astype(np.int16), gray.max(axis=1).astype(np.int16),
            gray.sum(axis=1, dtype=np.uint32) / width)
    cols = (gray.min(axis=0).astype(np.int16), gray.max(axis=0).astype(np.int16),
            gray.sum(axis=0, dtype=np.uint32) / height)
    top = _leading_uniform(*rows)
    bottom = _leading_uniform(*(r[::-1] for r in rows))
    left = _leading_uniform(*cols)
    right = _leading_uniform(*(c[::-1] for c in cols))
    if top + bottom > height * MAX_TRIM or left + right > width * MAX_TRIM:
        return None
    if max(top, bottom) < height * MIN_BORDER and max(left, right) < width * MIN_BORDER:
        return None
    return top, bottom, left, right


def without_border(image: DecodedImage) -> DecodedImage | None:
    """The image with its uniform border cut off (a new working image), or None."""
    border = uniform_border(image.gray_array())
    if border is None:
        return None
    top, bottom, left, right = border
    working: Image.Image = image.working
    inner = working.crop((left, top, working.width - right, working.height - bottom))
    scale_x = image.width / working.width
    scale_y = image.height / working.height
    return DecodedImage(
        format=image.format,
        width=max(1, round(inner.width * scale_x)),
        height=max(1, round(inner.height * scale_y)),
        working=inner,
        decoded_size=inner.size,
    )
