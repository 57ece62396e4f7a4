"""The vectorised PDQ (matcher.algorithms._pdq_kernel) against pdqhash, Meta's C++ PDQ.

pdqhash stays the reference: every image here is hashed by both, on the same RGB pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from spinneret.demo.images import generate
from spinneret.matcher.algorithms import _pdq_kernel
from spinneret.matcher.algorithms.base import bits_to_hex
from spinneret.matcher.algorithms.pdq import Pdq
from spinneret.matcher.decode import decode_image
from tests.conftest import DATA_DIR, reference_dir, report


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _reference_photos() -> list[Path]:
    roots = [DATA_DIR / "pdq"]
    full = reference_dir()
    if full is not None:
        roots.append(full)
    return sorted({p for root in roots for p in root.rglob("*.jpg")})


def _images() -> list[tuple[str, np.ndarray]]:
    """>= 200 images: demo photos of many sizes and aspect ratios (portrait too), their
    re-encodes and crops, noise, the PDQ reference photos through our decoder."""
    rng = np.random.default_rng(7)
    images = []
    for seed in range(150):
        width = int(rng.integers(40, 1100))
        height = int(rng.integers(40, 900))
        rgb = np.asarray(generate(seed, (width, height)))
        if seed % 3 == 0:
            rgb = rgb[: height // 2 + 7, width // 5:]
        images.append((f"demo-{seed}-{rgb.shape[1]}x{rgb.shape[0]}", rgb))
    for n in range(40):
        shape = (int(rng.integers(5, 700)), int(rng.integers(5, 700)), 3)
        images.append((f"noise-{n}-{shape[1]}x{shape[0]}", rng.integers(0, 256, shape, np.uint8)))
    for path in _reference_photos():
        images.append((path.name, decode_image(path.read_bytes()).rgb_array()))
    return images


def test_equals_pdqhash_on_hundreds_of_images():
    images = _images()
    assert len(images) >= 200
    distances, quality_gaps = [], []
    for name, rgb in images:
        vector, quality = pdqhash.compute(rgb)
        ours, our_quality = _pdq_kernel.pdq_hash(rgb)
        distances.append(distance(ours, bits_to_hex(vector)))
        quality_gaps.append(abs(our_quality - int(quality)))
        assert distances[-1] <= 4, name
    identical = sum(d == 0 for d in distances) / len(distances)
    report(
        f"vectorised PDQ vs pdqhash: {len(images)} images, {identical:.1%} identical, "
        f"max {max(distances)}, mean {np.mean(distances):.3f} bits; quality max gap "
        f"{max(quality_gaps)}"
    )
    assert np.mean(distances) < 0.1 and identical >= 0.98
    assert max(quality_gaps) <= 1


def test_dihedral_variants_equal_pdqhash_of_the_turned_pixels():
    # Not pdqhash.compute_dihedral: it derives mirrorings from one DCT, which is off by
    # 8-100 bits because PDQ's sampling grid is not mirror-symmetric; we hash them for real.
    for seed in range(12):
        rgb = np.asarray(generate(seed, (200 + 40 * seed, 520 - 30 * seed)))
        hexes, our_quality = _pdq_kernel.pdq_dihedral(rgb)
        expected = [pdqhash.compute(np.ascontiguousarray(turn(rgb)))
                    for turn in _pdq_kernel._DIHEDRAL_PIXELS]
        distances = [distance(h, bits_to_hex(v)) for h, (v, _) in zip(hexes, expected, strict=True)]
        assert distances == [0] * 8, seed
        assert abs(our_quality - expected[0][1]) <= 1
        # The transpositions are exact in the DCT, so those agree with pdqhash's own variants.
        vectors, _ = pdqhash.compute_dihedral(rgb)
        assert hexes[0] == bits_to_hex(vectors[0]) and hexes[6] == bits_to_hex(vectors[6])


def test_dihedral_variants_are_the_hashes_of_the_turned_images():
    image = generate(3, (384, 256))
    variants, _ = _pdq_kernel.pdq_dihedral(np.asarray(image))
    turned = {
        1: image.transpose(Image.Transpose.ROTATE_90),
        2: image.transpose(Image.Transpose.ROTATE_180),
        3: image.transpose(Image.Transpose.ROTATE_270),
    }
    for index, picture in turned.items():
        own, _ = _pdq_kernel.pdq_hash(np.asarray(picture))
        assert distance(own, variants[index]) == 0, index


@pytest.mark.parametrize(
    "rgb",
    [
        np.full((100, 100, 3), 128, np.uint8),  # flat: the C++ bits are its rounding noise
        np.zeros((80, 60, 3), np.uint8),
        np.tile(np.arange(96, dtype=np.uint8)[None, :, None], (64, 1, 3)),  # exact ramp
    ],
    ids=["flat", "black", "ramp"],
)
def test_degenerate_images_fall_back_to_pdqhash_exactly(rgb):
    vector, quality = pdqhash.compute(rgb)
    assert _pdq_kernel.pdq_hash(rgb) == (bits_to_hex(vector), quality)


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (4, 300), (300, 3), (5, 5), (6, 40)])
def test_tiny_images_as_pdqhash(shape):
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), np.uint8)
    vector, quality = pdqhash.compute(rgb)
    hex_, our_quality = _pdq_kernel.pdq_hash(rgb)
    assert distance(hex_, bits_to_hex(vector)) <= 2 and abs(our_quality - quality) <= 1
    if min(shape) < _pdq_kernel.MIN_SIDE:
        assert (hex_, our_quality) == ("0" * 64, 0)


def test_tent_weights_sum_to_one_and_cover_the_reference_window():
    for length in (1, 5, 64, 127, 128, 129, 384, 512, 4000):
        index, weight = _pdq_kernel.axis_taps(length)
        assert np.allclose(weight.sum(axis=1), 1.0)
        assert index.max() < length
        window = (length + 127) // 128
        assert (weight > 0).sum(axis=1).max() <= 2 * window - 1


def test_plugin_uses_the_vectorised_path():
    decoded = decode_image((DATA_DIR / "pdq" / "bridge-mods" / "aaa-orig.jpg").read_bytes())
    value = Pdq().compute(decoded)
    vector, quality = pdqhash.compute(decoded.rgb_array())
    assert (value.hex, value.quality) == (bits_to_hex(vector), quality)
    assert Pdq().compute_dihedral(decoded)[0] == value


def test_dihedral_after_hash_reuses_the_dct():
    decoded = decode_image((DATA_DIR / "pdq" / "bridge-mods" / "aaa-orig.jpg").read_bytes())
    value = Pdq().compute(decoded)
    assert "pdq_dct" in decoded._cache
    variants = Pdq().compute_dihedral(decoded)
    rgb = decoded.rgb_array()
    expected = [pdqhash.compute(np.ascontiguousarray(turn(rgb)))
                for turn in _pdq_kernel._DIHEDRAL_PIXELS]
    assert [v.hex for v in variants] == [bits_to_hex(v) for v, _ in expected]
    assert variants[0] == value and value.quality == expected[0][1]
