"""Decode image bytes once into a small working image every perceptual hash reads.

Format is sniffed from the bytes (Pillow's own detection), never from a name.
EXIF orientation is applied; large JPEGs are decoded reduced (`draft`: libjpeg's DCT
scaling) since perceptual hashes need few pixels; a pixel limit guards against
decompression bombs. Animated images hash as their first frame.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from spinneret.matcher.errors import UnhashableImage

# We enforce our own, configurable limit before decoding.
Image.MAX_IMAGE_PIXELS = None

#: PDQ's reference hashes are computed on images fitted into 512x512 (see docs/benchmarks.md).
DEFAULT_WORKING_SIZE = 512
DEFAULT_MAX_PIXELS = 100_000_000
#: A JPEG may be DCT-scaled down to this share of the working size and used as it is:
#: decoding 4000 px at 1/8 (500 px) beats decoding at 1/4 (1000 px) and resizing to 512.
DRAFT_SLACK = 0.9
_ORIENTATION_TAG = 0x0112
_HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded once: its original geometry and an RGB working copy.

    `width`/`height` are the stored image's; `decoded_size` is what the decoder produced
    (smaller than the original when a JPEG was decoded reduced); `working` is upright RGB
    whose longest side is at most the working size.
    """

    format: str
    width: int
    height: int
    working: Image.Image = field(repr=False)
    decoded_size: tuple[int, int] = (0, 0)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def gray(self) -> Image.Image:
        """The working image in 8-bit luminance (Pillow's ITU-R 601 weights), computed once."""
        if "L" not in self._cache:
            self._cache["L"] = self.working.convert("L")
        return self._cache["L"]

    def gray_array(self) -> np.ndarray:
        """`gray()` as a 2-D uint8 array, computed once."""
        if "gray" not in self._cache:
            self._cache["gray"] = np.asarray(self.gray())
        return self._cache["gray"]

    def rgb_array(self) -> np.ndarray:
        """The working image as a contiguous HxWx3 uint8 array, computed once."""
        if "rgb" not in self._cache:
            self._cache["rgb"] = np.asarray(self.working)
        return self._cache["rgb"]


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    working_size: int = DEFAULT_WORKING_SIZE,
) -> DecodedImage:
    """Decode `data`; raise `UnhashableImage` with a reason if it cannot be hashed."""
    if not data:
        raise UnhashableImage("empty file")
    fmt: str | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            fmt = image.format or "unknown"
            width, height = image.size
            _check_pixels(width, height, max_pixels)
            if fmt == "JPEG":
                image.draft("RGB", _draft_target(width, height, working_size))
            image.load()
            decoded_size = image.size
            image = _upright(image)
            image = _to_rgb(image)
            if max(image.size) > working_size:
                # BILINEAR into 512 reproduces the reference PDQ hashes best (docs/benchmarks.md).
                image.thumbnail((working_size, working_size), Image.Resampling.BILINEAR)
    except UnhashableImage:
        raise
    except UnidentifiedImageError:
        if _looks_like_svg(data):
            raise UnhashableImage("SVG is a vector format; only raster images are hashed") from None
        raise UnhashableImage("not a recognised image format") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - limit disabled above
        raise UnhashableImage(str(exc)) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise UnhashableImage(f"cannot decode {_name(fmt)}image: {exc}") from None
    except MemoryError:
        raise UnhashableImage("image too large to decode in memory") from None
    return DecodedImage(
        format=fmt or "unknown", width=width, height=height, working=image, decoded_size=decoded_size
    )


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head)


def _name(fmt: str | None) -> str:
    return f"{fmt} " if fmt and fmt != "unknown" else ""


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise UnhashableImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise UnhashableImage(
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (possible decompression bomb)"
        )


def _draft_target(width: int, height: int, working_size: int) -> tuple[int, int]:
    """The smallest size JPEG DCT scaling may reach (about the working size, `DRAFT_SLACK`).

    Pillow's `draft` keeps *both* sides >= the request, so the request keeps the aspect
    ratio: a square request would stop a 1024x768 image from being halved.
    """
    longest = max(width, height)
    if longest <= working_size:
        return width, height
    scale = working_size * DRAFT_SLACK / longest
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a malformed EXIF block is ignored, not fatal."""
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return image
    if orientation in (None, 1):
        return image  # the common case: no copy
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent parts are shown on white as a browser would."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _HIGH_BIT_MODES:
        return _scale_to_8bit(image).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """Stretch a 16/32-bit or float image's range to 0-255."""
    values = image.convert("F")
    low, high = values.getextrema()
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return Image.new("L", image.size, 0)
    scale = 255.0 / (high - low)
    return values.point(lambda value: (value - low) * scale).convert("L")
