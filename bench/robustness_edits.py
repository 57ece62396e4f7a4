"""The edits `bench/robustness.py` applies, each at several strengths: image -> served bytes.

Built on `spinneret.demo.edits`; what that module lacks (sharpen, contrast, logo watermark,
chains of re-encodes) is added here. Geometric and colour edits are saved as PNG so that only
the edit itself is measured; the encoder rows measure the encoders.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from spinneret.demo import edits as demo

Edit = Callable[[Image.Image], bytes]


@dataclass(frozen=True)
class EditCase:
    name: str
    family: str  # groups the goals are stated for
    apply: Edit


def sharpen(image: Image.Image, percent: int = 150) -> Image.Image:
    return image.filter(ImageFilter.UnsharpMask(radius=2, percent=percent, threshold=2))


def contrast(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(factor)


def logo(image: Image.Image, fraction: float = 0.2, opacity: int = 190) -> Image.Image:
    """A semi-opaque badge (disc, bar and a word) covering `fraction` of the width,
    in the upper-left corner as stock-photo and social-media logos often are."""
    base = image.convert("RGBA")
    side = max(8, round(image.width * fraction))
    badge = Image.new("RGBA", (side, side // 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    draw.rounded_rectangle((0, 0, side - 1, side // 2 - 1), radius=side // 10,
                           fill=(20, 60, 160, opacity))
    draw.ellipse((side // 20, side // 20, side // 2 - side // 20, side // 2 - side // 20),
                 fill=(250, 200, 40, opacity))
    draw.text((side // 2, side // 6), "LOGO", fill=(255, 255, 255, 255))
    margin = max(1, image.width // 40)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    layer.paste(badge, (margin, margin))
    return Image.alpha_composite(base, layer).convert("RGB")


def reencode(data: bytes, format: str, quality: int = 85) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return demo.encode(image.convert("RGB"), format, quality)


def screenshot(image: Image.Image) -> bytes:
    """A screenshot of the image shown at 80% in a browser, saved as PNG, posted as JPEG 75."""
    shown = demo.resize(image, 0.8)
    return reencode(demo.encode(shown, "PNG"), "JPEG", 75)


def social_chain(image: Image.Image) -> bytes:
    """Upscaled 1.25x, saved as JPEG 80, downscaled to half, re-posted as WebP 75."""
    first = demo.encode(demo.resize(image, 1.25), "JPEG", 80)
    with Image.open(io.BytesIO(first)) as again:
        smaller = demo.resize(again.convert("RGB"), 0.5)
    return demo.encode(smaller, "WEBP", 75)


def messenger_chain(image: Image.Image) -> bytes:
    """Three generations of JPEG 70 at 90% size each (forwarded copies)."""
    data = demo.encode(image, "JPEG", 70)
    for _ in range(2):
        with Image.open(io.BytesIO(data)) as again:
            data = demo.encode(demo.resize(again.convert("RGB"), 0.9), "JPEG", 70)
    return data


def _png(fn: Callable[[Image.Image], Image.Image]) -> Edit:
    return lambda image: demo.encode(fn(image), "PNG")


def all_edits() -> list[EditCase]:
    cases: list[EditCase] = []

    def add(name: str, family: str, apply: Edit) -> None:
        cases.append(EditCase(name, family, apply))

    for q in (90, 70, 50, 30):
        add(f"jpeg q{q}", "jpeg", lambda im, q=q: demo.encode(im, "JPEG", q))
    for s in (0.25, 0.5, 0.75, 1.5, 2.0):
        add(f"resize {s:g}x", "resize", _png(lambda im, s=s: demo.resize(im, s)))
    for f in (0.02, 0.05, 0.10, 0.20):
        family = "crop<=10%" if f <= 0.10 else "crop 20%"
        add(f"crop {f:.0%}", family, _png(lambda im, f=f: demo.crop(im, f)))
    for d in (1, 3, 5):
        add(f"rotate {d} deg", "rotate small", _png(lambda im, d=d: demo.rotate(im, d)))
    for d in (90, 180, 270):
        add(f"rotate {d}", "dihedral", _png(lambda im, d=d: demo.rotate(im, d)))
    add("flip horizontal", "dihedral", _png(demo.flip))
    add("grayscale", "grayscale", _png(demo.grayscale))
    for r in (1.0, 2.0, 4.0):
        add(f"blur r{r:g}", "blur/sharpen", _png(lambda im, r=r: demo.blur(im, r)))
    for p in (100, 250):
        add(f"sharpen {p}%", "blur/sharpen", _png(lambda im, p=p: sharpen(im, p)))
    for b in (0.8, 1.2):
        add(f"brightness {b - 1:+.0%}", "brightness/contrast",
            _png(lambda im, b=b: demo.brightness(im, b)))
    for c in (0.8, 1.2):
        add(f"contrast {c - 1:+.0%}", "brightness/contrast",
            _png(lambda im, c=c: contrast(im, c)))
    add("watermark text", "watermark", _png(demo.watermark))
    add("watermark logo", "watermark", _png(logo))
    for f in (0.05, 0.10, 0.20):
        add(f"pad {f:.0%}", "pad", _png(lambda im, f=f: demo.pad(im, f)))
    add("format PNG", "format", lambda im: demo.encode(im, "PNG"))
    add("format JPEG q85", "format", lambda im: demo.encode(im, "JPEG", 85))
    add("format WebP q80", "format", lambda im: demo.encode(im, "WEBP", 80))
    add("format JPEG->WebP", "format",
        lambda im: reencode(demo.encode(im, "JPEG", 85), "WEBP", 80))
    add("format WebP->PNG", "format", lambda im: reencode(demo.encode(im, "WEBP", 80), "PNG"))
    add("format GIF (256 colours)", "gif", lambda im: demo.encode(im, "GIF"))
    add("chain: screenshot 80% PNG->JPEG75", "chain", screenshot)
    add("chain: 1.25x JPEG80, 0.5x WebP75", "chain", social_chain)
    add("chain: 3x forwarded JPEG70 at 90%", "chain", messenger_chain)
    return cases


#: The goals of issue #7 part 4 at the shipped defaults, per family (recall found at
#: auto or review, any algorithm; dihedral edits with dihedral matching on).
GOALS: dict[str, float] = {
    "jpeg": 0.99, "resize": 0.99, "grayscale": 0.99, "blur/sharpen": 0.99,
    "brightness/contrast": 0.99, "format": 0.99, "crop<=10%": 0.9, "watermark": 0.9,
    "dihedral": 0.99,
}
