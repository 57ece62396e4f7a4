"""`cropdct`: the central-window hash that finds centred crops global hashes lose."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from spinneret.demo import edits
from spinneret.demo.images import generate
from spinneret.matcher.algorithms._window_kernel import window_samples
from spinneret.matcher.algorithms.cropdct import CROP_GUESSES, CropDct, window_edges
from spinneret.matcher.algorithms.pdq import Pdq
from spinneret.matcher.decode import decode_image
from spinneret.matcher.hashing import HashOptions, hash_image, hash_image_decoded
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.service import hash_for_matching
from spinneret.matcher.store import ListEntry, ListInfo

CROPDCT = CropDct()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def best_distance(query: bytes, stored: str) -> int:
    decoded = decode_image(query)
    values = [CROPDCT.compute(decoded), *CROPDCT.query_variants(decoded)]
    return min(distance(v.hex, stored) for v in values)


def test_window_samples_are_cell_means():
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, size=(150, 211), dtype=np.uint8)
    ys = np.stack([window_edges(150, c) for c in (0.0, 0.1)])
    xs = np.stack([window_edges(211, c) for c in (0.05,)])
    samples, quality = window_samples(gray, ys, xs)
    assert samples.shape == (2, 1, 64, 64) and quality.shape == (2, 1)
    for a in range(2):
        for i, j in [(0, 0), (17, 40), (63, 63)]:
            cell = gray[ys[a, i]:max(ys[a, i + 1], ys[a, i] + 1),
                        xs[0, j]:max(xs[0, j + 1], xs[0, j] + 1)]
            assert samples[a, 0, i, j] == pytest.approx(cell.mean())
    flat = np.full((150, 211), 90, dtype=np.uint8)
    assert window_samples(flat, ys, xs)[1].max() == 0  # no gradient, no quality


def test_stored_window_is_inside_every_guess_range():
    # A crop of c per side leaves the original's central 70% at these edges of the copy:
    # with c = 0 they are 15% and 85% of the width.
    edges = window_edges(1000, 0.0)
    assert edges[0] == 150 and edges[-1] == 850 and len(edges) == 65
    edges = window_edges(800, 0.10)  # 1000 px cut by 100 each side
    assert edges[0] == 50 and edges[-1] == 750  # the same pixels of the original
    assert len(CROP_GUESSES) == 6 and CROP_GUESSES[0] == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.10])
def test_centred_crops_are_found_where_global_hashes_are_not(seed, fraction):
    original = generate(seed, (640, 480))
    stored = CROPDCT.compute(decode_image(png(original)))
    assert stored.quality >= CROPDCT.default_min_quality
    cropped = png(edits.crop(original, fraction))
    assert best_distance(cropped, stored.hex) <= CROPDCT.default_review_distance
    if fraction >= 0.05:  # the point: PDQ of the whole frame is far off by then
        pdq = Pdq()
        far = distance(pdq.compute(decode_image(cropped)).hex,
                       pdq.compute(decode_image(png(original))).hex)
        assert far > pdq.default_review_distance


def test_axis_independent_crop_is_found():
    original = generate(9, (640, 480))
    stored = CROPDCT.compute(decode_image(png(original))).hex
    # 10% off left and right, 2.5% off top and bottom
    cropped = original.crop((64, 12, 576, 468))
    assert best_distance(png(cropped), stored) <= CROPDCT.default_review_distance


def test_distinct_images_stay_far_apart_under_every_guess():
    stored = [CROPDCT.compute(decode_image(png(generate(s, (320, 240))))).hex
              for s in range(20, 30)]
    for seed in range(40, 50):
        query = png(generate(seed, (320, 240)))
        assert min(best_distance(query, s) for s in stored) > CROPDCT.default_review_distance


def test_tiny_images_have_no_usable_hash():
    value = CROPDCT.compute(decode_image(png(generate(1, (20, 20)))))
    assert value.quality == 0


def test_variants_only_when_matching():
    data = png(generate(6, (320, 240)))
    assert hash_image(data).variants == ()  # listing an image's hashes: no guesses
    hashes, _ = hash_image_decoded(data, HashOptions(), variants=True)
    guesses = [v for v in hashes.variants if v.algorithm == "cropdct"]
    assert len(guesses) == len(CROP_GUESSES) ** 2 - 1
    assert len({v.hex for v in guesses}) > 1  # the guesses look at different windows


def test_matcher_finds_a_cropped_copy_through_the_variants():
    original = generate(12, (640, 480))
    stored = CROPDCT.compute(decode_image(png(original)))
    info = ListInfo("originals", "block", "test", "test", "", 1, {}, 0.0, 0.0, "test")
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(info, [ListEntry("cropdct", stored.hex, "photo-12", "12")])
    cropped = png(edits.crop(original, 0.10))
    assert matcher.match(hash_image(cropped)) == []  # the plain hash alone misses it
    hashes = hash_for_matching(cropped, HashOptions(), dihedral=False)
    found = matcher.match(hashes)
    # For review: cropdct alone never decides auto (docs/matching.md, stripe patterns).
    assert [(m.algorithm, m.label, m.decision) for m in found] == [
        ("cropdct", "photo-12", "review")]
    assert found[0].entry_hash == stored.hex and found[0].query_hash != stored.hex
