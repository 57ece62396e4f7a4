"""The 0-100 quality of every perceptual hash (issue 13): low for hashes that say little."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from spinneret.demo.images import generate
from spinneret.matcher.algorithms import default_registry
from spinneret.matcher.algorithms.quality import shape_qualities, shape_quality
from spinneret.matcher.hashing import HashOptions, hash_image

PERCEPTUAL = [a.name for a in default_registry() if not a.exact]

#: List entries from issue 13 that the importer accepted and that match any smooth image.
DEGENERATE = [
    ("dhash", "0000000000000000"),
    ("dhash", "1009000800000000"),
    ("dhash", "0080244020400010"),
    ("dhash", "e0e0e0e0e0e0e0e0"),
    ("phash", "8000000000000000"),
    ("dhash", "ffffffffffffffff"),
    ("pdq", "0" * 64),
    ("pdq", "ab" * 32),
    ("cropdct", "f" * 64),
]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def smooth_images() -> list[tuple[str, bytes]]:
    """Gradients, flat fields and a heavily blurred picture: low-detail images."""
    rng = np.random.default_rng(7)
    x = np.linspace(0, 1, 320)[None, :]
    y = np.linspace(0, 1, 240)[:, None]
    fields = {
        "horizontal": x + 0 * y,
        "vertical": y + 0 * x,
        "diagonal": (x + y) / 2,
        "radial": np.hypot(x - 0.5, y - 0.5),
        "flat": 0 * x + 0 * y + 0.5,
    }
    images = []
    for name, field in fields.items():
        for noise in (0, 3):
            gray = np.clip(40 + 180 * field + rng.normal(0, noise, field.shape), 0, 255)
            images.append((f"{name}-noise{noise}", _png(Image.fromarray(gray.astype(np.uint8)))))
    blurred = generate(3, (320, 240)).filter(ImageFilter.GaussianBlur(60))
    images.append(("blurred", _png(blurred)))
    return images


@pytest.mark.parametrize(("algorithm", "value"), DEGENERATE)
def test_degenerate_hashes_score_below_the_floor(algorithm, value):
    plugin = default_registry().get(algorithm)
    assert plugin.hash_quality(value) < plugin.default_min_quality


def test_shape_quality_is_high_for_a_balanced_hash_with_varied_rows():
    assert shape_quality("c3a5f0e11e0f5a3c") == 100
    assert default_registry().get("sha256").hash_quality("0" * 64) == 100  # exact: no notion


def test_the_vectorised_and_scalar_shape_quality_agree():
    rng = np.random.default_rng(3)
    digests = rng.integers(0, 256, (50, 8), dtype=np.uint8)
    digests[:5] = 0
    digests[5:10, :] = 0xE0
    expected = [shape_quality(row.tobytes().hex()) for row in digests]
    assert shape_qualities(digests).tolist() == expected


@pytest.mark.parametrize("seed", range(6))
def test_every_perceptual_algorithm_rates_a_detailed_image_as_usable(seed):
    hashes = hash_image(_png(generate(seed, (320, 240))))
    for name in PERCEPTUAL:
        value = hashes.get(name)
        assert value.quality is not None, name
        assert value.quality >= default_registry().get(name).default_min_quality, name


@pytest.mark.parametrize(("name", "data"), smooth_images(), ids=lambda v: v if isinstance(
    v, str) else "")
def test_phash_and_dhash_rate_a_smooth_image_below_the_floor(name, data):
    hashes = hash_image(data, HashOptions(algorithms=("phash", "dhash")))
    for value in hashes.values:
        floor = default_registry().get(value.algorithm).default_min_quality
        assert value.quality < floor, (name, value)
