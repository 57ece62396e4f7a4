"""Deterministic, benign, photo-like synthetic images for demos, tests and benchmarks.

Each seed gives a different scene (a smooth colour field, soft low-frequency texture,
shapes, a little grain and some text) so that perceptual hashes of different seeds are
far apart while every image has plenty of structure (PDQ quality well above 50).
The same seed always gives the same pixels (numpy's PCG64 and Pillow drawing only).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEFAULT_SIZE = (640, 480)
_WORDS = (
    "harbour", "meadow", "lantern", "orchard", "granite", "willow", "summit", "canal",
    "pebble", "marble", "thistle", "juniper", "harvest", "cobalt", "saffron", "violet",
)


def generate(seed: int, size: tuple[int, int] = DEFAULT_SIZE) -> Image.Image:
    """The RGB image for `seed` at `size` (width, height)."""
    rng = np.random.default_rng([seed, 0x5EED])
    width, height = size
    canvas = _texture(rng, width, height)
    image = Image.fromarray(canvas, "RGB")
    _draw_shapes(rng, image)
    _draw_text(rng, image)
    image = image.filter(ImageFilter.BoxBlur(1))
    grain = rng.integers(-6, 7, (height, width, 1), dtype=np.int16)
    pixels = np.asarray(image).astype(np.int16) + grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def generate_bytes(seed: int, format: str = "PNG", size: tuple[int, int] = DEFAULT_SIZE,
                   **save_options) -> bytes:
    """`generate(seed, size)` encoded; PNG by default (the demo list hashes this encoding)."""
    buffer = io.BytesIO()
    generate(seed, size).save(buffer, format=format, **save_options)
    return buffer.getvalue()


def _noise(rng: np.random.Generator, width: int, height: int, low: int, high: int) -> np.ndarray:
    """Random colours on a coarse grid, smoothly upscaled: a soft texture."""
    grid = (int(rng.integers(low, high)), int(rng.integers(low, high)), 3)
    coarse = Image.fromarray(rng.integers(0, 256, grid, dtype=np.uint8), "RGB")
    return np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.float32)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Low- and mid-frequency colour texture over a gradient: the scene's large structure."""
    low = _noise(rng, width, height, 3, 7)
    mid = _noise(rng, width, height, 8, 15)
    angle = rng.uniform(0, 2 * np.pi)
    xs = np.linspace(0, np.cos(angle), width, dtype=np.float32)[None, :]
    ys = np.linspace(0, np.sin(angle), height, dtype=np.float32)[:, None]
    ramp = xs + ys
    ramp = ((ramp - ramp.min()) / (np.ptp(ramp) or 1.0))[..., None]
    colour_a, colour_b = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    gradient = colour_a + (colour_b - colour_a) * ramp
    pixels = 0.25 * low + 0.5 * mid + 0.25 * gradient
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _draw_shapes(rng: np.random.Generator, image: Image.Image) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    scale = min(width, height)
    for _ in range(int(rng.integers(5, 11))):
        kind = int(rng.integers(0, 3))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.08, 0.3) * scale
        box = (cx - radius, cy - radius * rng.uniform(0.5, 1.5), cx + radius, cy + radius)
        fill = _colour(rng)
        if kind == 0:
            draw.ellipse(box, fill=fill)
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        else:
            corners = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
            points = [(cx + radius * np.cos(a), cy + radius * np.sin(a)) for a in angles]
            draw.polygon(points, fill=fill)


def _draw_text(rng: np.random.Generator, image: Image.Image) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    font = ImageFont.load_default(size=max(10, int(min(width, height) * rng.uniform(0.06, 0.12))))
    for _ in range(int(rng.integers(1, 3))):
        word = " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), 2))
        position = (rng.uniform(0, width * 0.6), rng.uniform(0, height * 0.85))
        draw.text(position, word, fill=_colour(rng), font=font)
