"""Hashes that say little never decide `auto` on their own (issue 13): degenerate list
entries, low-quality image hashes and their query variants may only corroborate."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from spinneret.config import Settings
from spinneret.matcher.algorithms import HashValue, default_registry
from spinneret.matcher.hashing import HashOptions, ImageHashes, hash_image
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.service import hash_and_match
from spinneret.matcher.store import ListEntry
from tests.test_hash_quality import DEGENERATE, smooth_images
from tests.test_matching import BASE, Info, flip, image_hashes

DBASE = "96c3a5f00f5a3c69"  # an informative dHash


def matcher_with(*entries: ListEntry, kind: str = "block") -> Matcher:
    matcher = Matcher(Thresholds.from_settings(Settings()))
    matcher.load_list(Info("authority", kind=kind), list(entries))
    return matcher


@pytest.mark.parametrize(("algorithm", "value"), DEGENERATE)
def test_a_degenerate_entry_alone_matches_nothing_even_at_distance_0(algorithm, value):
    matcher = matcher_with(ListEntry(algorithm, value, "weak", "case-1"))
    assert matcher.match(image_hashes(HashValue(algorithm, value, 100))) == []


@pytest.mark.parametrize(("algorithm", "value"), [d for d in DEGENERATE if d[0] == "dhash"])
def test_a_degenerate_entry_corroborates_a_strong_match_of_the_same_image(algorithm, value):
    matcher = matcher_with(ListEntry("phash", BASE, "photo", "case-1"),
                           ListEntry(algorithm, value, "photo", "case-1"))
    found = matcher.match(image_hashes(HashValue("phash", BASE, 100),
                                       HashValue(algorithm, value, 100)))
    assert [(m.algorithm, m.decision) for m in found] == [("phash", "auto"),
                                                          (algorithm, "review")]


def test_a_degenerate_entry_does_not_lift_a_far_match_into_review():
    # pHash 11 bits away is only a corroborate-band hit; a weak dHash is no second signal.
    matcher = matcher_with(ListEntry("phash", flip(BASE, 11), "photo", "case-1"),
                           ListEntry("dhash", "e0e0e0e0e0e0e0e0", "photo", "case-1"))
    found = matcher.match(image_hashes(HashValue("phash", BASE, 100),
                                       HashValue("dhash", "e0e0e0e0e0e0e0e0", 100)))
    assert found == []


def test_a_low_quality_query_hash_never_decides_alone():
    matcher = matcher_with(ListEntry("dhash", DBASE, "photo", "case-1"))
    floor = default_registry().get("dhash").default_min_quality
    assert matcher.match(image_hashes(HashValue("dhash", DBASE, floor - 1))) == []
    [match] = matcher.match(image_hashes(HashValue("dhash", DBASE, floor)))
    assert match.decision == "auto"


def test_a_low_quality_query_variant_never_decides_alone():
    matcher = matcher_with(ListEntry("dhash", DBASE, "photo", "case-1"))
    weak_variant = ImageHashes((HashValue("dhash", flip(DBASE, 30), 90),), "PNG", 10, 10, 100,
                               variants=(HashValue("dhash", DBASE, 20),))
    assert matcher.match(weak_variant) == []
    good_variant = ImageHashes((HashValue("dhash", flip(DBASE, 30), 90),), "PNG", 10, 10, 100,
                               variants=(HashValue("dhash", DBASE, 90),))
    assert [m.decision for m in matcher.match(good_variant)] == ["auto"]


def test_a_list_quality_below_the_floor_makes_an_entry_weak():
    query = image_hashes(HashValue("phash", BASE, 100))
    assert matcher_with(ListEntry("phash", BASE, "photo", "case-1", quality=49)
                        ).match(query) == []
    [match] = matcher_with(ListEntry("phash", BASE, "photo", "case-1", quality=50)
                           ).match(query)
    assert match.decision == "auto"


def test_a_degenerate_allow_entry_does_not_suppress_block_matches():
    matcher = matcher_with(ListEntry("phash", BASE, "photo", "case-1"))
    matcher.load_list(Info("ok", kind="allow"), [ListEntry("dhash", "0" * 16, "blank")])
    query = image_hashes(HashValue("phash", BASE, 100), HashValue("dhash", "0" * 16, 100))
    assert [m.algorithm for m in matcher.match(query)] == ["phash"]


def _png(gray: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gray.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


PERCEPTUAL = HashOptions(algorithms=("phash", "dhash", "pdq", "cropdct"))


@pytest.mark.parametrize("listed", range(len(smooth_images())))
def test_smooth_images_never_match_each_other_alone(listed):
    """Every smooth image listed by all its perceptual hashes (one source id); every other
    smooth image, and re-encoded copies of the listed one, match nothing: their hashes say
    too little to decide anything, and nothing informative corroborates them."""
    images = smooth_images()
    name, data = images[listed]
    hashes = hash_image(data, PERCEPTUAL)
    matcher = matcher_with(*(ListEntry(v.algorithm, v.hex, name, f"smooth-{listed}")
                             for v in hashes.values))
    for other_name, other in images:
        _, found = hash_and_match(other, matcher, PERCEPTUAL)
        assert [m for m in found if m.decision == "auto"] == [], (name, other_name)
        assert found == [], (name, other_name)


def test_a_detailed_image_still_matches_itself_auto():
    from spinneret.demo.images import generate_bytes

    data = generate_bytes(4)
    hashes = hash_image(data, PERCEPTUAL)
    matcher = matcher_with(*(ListEntry(v.algorithm, v.hex, "photo", "case-4")
                             for v in hashes.values))
    _, found = hash_and_match(data, matcher, PERCEPTUAL)
    assert {m.algorithm for m in found if m.decision == "auto"} == {
        "phash", "dhash", "pdq", "cropdct"}


def test_a_rotation_or_mirror_of_a_smooth_image_never_matches_alone():
    """Dihedral variants go through the same floor: the mirror of a listed smooth design (or
    an unrelated smooth image, turned) finds nothing with dihedral matching on."""
    ramp = Image.linear_gradient("L").resize((320, 240))
    listed = hash_image(_png(np.asarray(ramp)), PERCEPTUAL)
    matcher = Matcher(Thresholds.from_settings(Settings(match_dihedral=True)))
    matcher.load_list(Info("authority"), [ListEntry(v.algorithm, v.hex, "ramp", "r1")
                                          for v in listed.values])
    for turned in (ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                   ramp.transpose(Image.Transpose.ROTATE_90),
                   ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM)):
        hashes, found = hash_and_match(_png(np.asarray(turned)), matcher, PERCEPTUAL)
        assert any(v.algorithm == "pdq" for v in hashes.variants)  # the turns were looked up
        assert found == []
