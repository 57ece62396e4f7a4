"""Edits a re-uploaded copy of an image typically went through, for demos and tests.

Each takes an RGB `PIL.Image` and returns a new image, except the encoders
(`recompress`, `convert_format`, `encode`) which return bytes as a web server would serve.
`DEFAULT_EDITS` names one moderate instance of each; perceptual hashes still match them:
PDQ within its auto distance for all but crops and pads (PDQ is crop/pad-sensitive; pHash
and dHash catch those), rotations and flips only through PDQ's dihedral variants.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")


def encode(image: Image.Image, format: str = "PNG", quality: int = 85) -> bytes:
    """The image in `format` (PNG, JPEG, WEBP or GIF)."""
    format = format.upper()
    if format not in FORMATS:
        raise ValueError(f"unsupported format {format!r} (use one of {', '.join(FORMATS)})")
    buffer = io.BytesIO()
    if format == "GIF":
        image.convert("RGB").quantize(256).save(buffer, format="GIF")
    elif format in ("JPEG", "WEBP"):
        image.convert("RGB").save(buffer, format=format, quality=quality)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def recompress(image: Image.Image, quality: int = 40) -> bytes:
    """A lower-quality JPEG."""
    return encode(image, "JPEG", quality=quality)


def convert_format(image: Image.Image, format: str) -> bytes:
    return encode(image, format)


def resize(image: Image.Image, scale: float = 0.5) -> Image.Image:
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def crop(image: Image.Image, fraction: float = 0.03) -> Image.Image:
    """Cut `fraction` of the width/height off every side."""
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def pad(image: Image.Image, fraction: float = 0.05, colour=(255, 255, 255)) -> Image.Image:
    """Add a border of `fraction` of the width/height on every side."""
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return ImageOps.expand(image, border=(dx, dy, dx, dy), fill=colour)


def watermark(image: Image.Image, text: str = "(c) demo.example", opacity: int = 160) -> Image.Image:
    """Semi-transparent text in the lower right corner."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    font = ImageFont.load_default(size=max(10, image.height // 16))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    position = (image.width - (right - left) - image.width // 40,
                image.height - (bottom - top) - image.height // 20)
    draw.text(position, text, font=font, fill=(255, 255, 255, opacity))
    return Image.alpha_composite(base, layer).convert("RGB")


def grayscale(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def blur(image: Image.Image, radius: float = 2.0) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def brightness(image: Image.Image, factor: float = 1.25) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def rotate(image: Image.Image, degrees: float = 90) -> Image.Image:
    """Counter-clockwise; multiples of 90 are exact, other angles keep the size."""
    exact = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_270}
    turn = degrees % 360
    if turn in exact:
        return image.transpose(exact[turn])
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))


def flip(image: Image.Image, horizontal: bool = True) -> Image.Image:
    return ImageOps.mirror(image) if horizontal else ImageOps.flip(image)


#: One moderate instance of each edit, image -> served bytes.
DEFAULT_EDITS: dict[str, Callable[[Image.Image], bytes]] = {
    "resize": lambda image: encode(resize(image, 0.5)),
    "recompress": lambda image: recompress(image, 40),
    "crop": lambda image: encode(crop(image, 0.02)),
    "watermark": lambda image: encode(watermark(image)),
    "grayscale": lambda image: encode(grayscale(image)),
    "png": lambda image: convert_format(image, "PNG"),
    "jpeg": lambda image: convert_format(image, "JPEG"),
    "webp": lambda image: convert_format(image, "WEBP"),
    "gif": lambda image: convert_format(image, "GIF"),
    "blur": lambda image: encode(blur(image, 2.0)),
    "brightness": lambda image: encode(brightness(image, 1.25)),
    "pad": lambda image: encode(pad(image, 0.01)),
    "rotate": lambda image: encode(rotate(image, 90)),
    "flip": lambda image: encode(flip(image)),
}
#: Edits a plain (non-dihedral) match cannot see.
DIHEDRAL_EDITS = frozenset({"rotate", "flip"})
#: Edits PDQ is too sensitive to; pHash/dHash match them.
GEOMETRY_EDITS = frozenset({"crop", "pad"})
