"""Uniform borders (padding, letterboxing) are found, cut off, and the copy is still matched."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from spinneret.demo import edits
from spinneret.demo.images import generate
from spinneret.matcher.borders import uniform_border, without_border
from spinneret.matcher.decode import decode_image
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.service import hash_for_matching
from spinneret.matcher.store import ListEntry, ListInfo


def test_finds_the_padding_it_was_given():
    original = generate(3, (400, 300))
    padded = edits.pad(original, 0.10, (255, 255, 255))  # 40 px left/right, 30 top/bottom
    border = uniform_border(np.asarray(padded.convert("L")))
    assert border is not None
    top, bottom, left, right = border
    assert 28 <= top <= 31 and 28 <= bottom <= 31 and 38 <= left <= 41 and 38 <= right <= 41


def test_letterbox_in_black_survives_jpeg():
    original = generate(4, (400, 220))
    letterboxed = Image.new("RGB", (400, 300), (0, 0, 0))
    letterboxed.paste(original, (0, 40))
    decoded = decode_image(edits.encode(letterboxed, "JPEG", quality=60))
    inner = without_border(decoded)
    assert inner is not None
    assert abs(inner.working.height - 220) <= 8 and inner.working.width == 400


@pytest.mark.parametrize("image", [
    generate(5, (400, 300)),  # a photo-like scene: no border
    Image.new("RGB", (200, 200), (90, 90, 90)),  # all flat: not content in a frame
    edits.pad(generate(6, (400, 300)), 0.002),  # under 1%: not worth a second lookup
], ids=["scene", "flat", "hairline"])
def test_no_border_to_cut(image):
    assert uniform_border(np.asarray(image.convert("L"))) is None


@pytest.mark.parametrize("fraction", [0.05, 0.10, 0.20])
@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0)])
def test_padded_copy_is_matched_through_the_trimmed_hashes(fraction, colour):
    original = generate(7, (640, 480))
    listed = hash_image(edits.encode(original))
    info = ListInfo("known", "block", "test", "test", "", 1, {}, 0.0, 0.0, "test")
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(info, [ListEntry(a, listed.get(a).hex, "photo 7", "7")
                             for a in ("pdq", "phash", "dhash")])
    padded = edits.encode(edits.pad(original, fraction, colour))
    assert not [m for m in matcher.match(hash_image(padded)) if m.algorithm == "pdq"]
    hashes = hash_for_matching(padded, HashOptions(), False)
    found = {m.algorithm: m.decision for m in matcher.match(hashes)}
    assert found.get("pdq") == "auto" and found.get("phash") == "auto"
