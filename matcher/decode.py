"""Decode image bytes once into a small working image every perceptual hash reads.

Format is sniffed from the bytes (Pillow's own detection), never from a name.
EXIF orientation is applied; large JPEGs are decoded reduced (`draft`) since
perceptual hashes need few pixels; a pixel limit guards against decompression bombs.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps, UnidentifiedImageError

from matcher.errors import UnhashableImage

# We enforce our own, configurable limit before decoding.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_WORKING_SIZE = 512
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded once: its original geometry and an RGB working copy."""

    format: str
    width: int
    height: int
    working: Image.Image = field(repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def gray(self) -> Image.Image:
        """The working image in 8-bit luminance, computed once."""
        if "L" not in self._cache:
            self._cache["L"] = self.working.convert("L")
        return self._cache["L"]


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    working_size: int = DEFAULT_WORKING_SIZE,
) -> DecodedImage:
    """Decode `data`; raise `UnhashableImage` with a reason if it cannot be hashed."""
    if not data:
        raise UnhashableImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            fmt = image.format or "unknown"
            width, height = image.size
            if width <= 0 or height <= 0:
                raise UnhashableImage(f"image has no pixels ({width}x{height})")
            if width * height > max_pixels:
                raise UnhashableImage(
                    f"image is {width}x{height} = {width * height} pixels, "
                    f"over the limit of {max_pixels}"
                )
            if fmt == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale while still >= the working size.
                image.draft("RGB", (working_size, working_size))
            image.load()
            image = _upright(image)
            image = _to_rgb(image)
            if max(image.size) > working_size:
                image.thumbnail((working_size, working_size), Image.Resampling.BILINEAR)
    except UnhashableImage:
        raise
    except UnidentifiedImageError:
        raise UnhashableImage("not a recognised image format") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        raise UnhashableImage(f"cannot decode image: {exc}") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - limit disabled above
        raise UnhashableImage(str(exc)) from None
    return DecodedImage(format=fmt, width=width, height=height, working=image)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a malformed EXIF block is ignored, not fatal."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent parts are shown on white as a browser would."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        image = _scale_to_8bit(image)
        return image.convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """Stretch a 16/32-bit or float image's range to 0-255."""
    low, high = image.convert("F").getextrema()
    if high <= low:
        return Image.new("L", image.size, 0)
    scale = 255.0 / (high - low)
    return image.convert("F").point(lambda value: (value - low) * scale).convert("L")
