"""Matcher decisions, thresholds, allow-lists, quality gate, dihedral PDQ, and store sync."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image, ImageDraw

from spinneret.config import Settings
from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.errors import MatcherError
from spinneret.matcher.hashing import HashOptions, ImageHashes, hash_image
from spinneret.matcher.matching import AlgorithmThresholds, Matcher, Thresholds
from spinneret.matcher.service import hash_and_match
from spinneret.matcher.store import FingerprintStore, ListEntry

# An informative hash (balanced, varied rows): degenerate ones never decide alone.
BASE = "c3a5f0e11e0f5a3c"


@dataclass(frozen=True)
class Info:  # the fields of matcher.store.ListInfo the matcher reads
    name: str
    kind: str = "block"
    source: str = "authority"
    category: str = "illegal"
    counts: dict = field(default_factory=dict)


def flip(hex_value: str, count: int) -> str:
    value = int(hex_value, 16)
    for bit in range(count):
        value ^= 1 << (bit * 3 % (len(hex_value) * 4))
    return f"{value:0{len(hex_value)}x}"


def image_hashes(*values: HashValue) -> ImageHashes:
    return ImageHashes(values, "PNG", 10, 10, 100)


def synthetic_png(seed: int = 0, size: int = 256) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = (int(v) for v in rng.integers(0, size - 40, 2))
        w, h = (int(v) for v in rng.integers(20, size // 2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_decisions_by_distance():
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(Info("cases"), [
        ListEntry("phash", BASE, "same", "s1"),
        ListEntry("phash", flip(BASE, 6), "auto-edge"),
        ListEntry("phash", flip(BASE, 8), "review"),
        ListEntry("phash", flip(BASE, 10), "review-edge"),
        ListEntry("phash", flip(BASE, 12), "too-far"),
    ])
    matches = matcher.match(image_hashes(HashValue("phash", BASE)))
    got = {(m.label, m.distance, m.decision) for m in matches}
    assert got == {("same", 0, "auto"), ("auto-edge", 6, "auto"), ("review", 8, "review"),
                   ("review-edge", 10, "review")}
    first = matches[0]
    assert (first.list, first.list_kind, first.category, first.source, first.source_id) == (
        "cases", "block", "illegal", "authority", "s1")
    assert first.entry_hash == BASE and first.query_hash == BASE
    assert matcher.size() == {"phash": 5}


def test_exact_hashes_are_auto_and_only_equal():
    digest = "ab" * 32
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(Info("exact"), [ListEntry("sha256", digest, "x")])
    [match] = matcher.match(image_hashes(HashValue("sha256", digest)))
    assert (match.decision, match.distance, match.algorithm) == ("auto", 0, "sha256")
    assert matcher.match(image_hashes(HashValue("sha256", "ab" * 31 + "ac"))) == []


def test_thresholds_from_settings():
    settings = Settings(phash_auto_distance=2, phash_review_distance=4, pdq_min_quality=70)
    thresholds = Thresholds.from_settings(settings)
    matcher = Matcher(thresholds)
    matcher.load_list(Info("l"), [ListEntry("phash", flip(BASE, 3)),
                                   ListEntry("phash", flip(BASE, 5))])
    [match] = matcher.match(image_hashes(HashValue("phash", BASE)))
    assert (match.distance, match.decision) == (3, "review")
    assert thresholds.per_algorithm["pdq"] == AlgorithmThresholds(31, 40, 70)
    with pytest.raises(MatcherError, match="below"):
        Thresholds.from_settings(Settings(dhash_auto_distance=9, dhash_review_distance=3))


def test_pdq_quality_gate():
    pdq = hashlib.sha256(b"listed pdq").hexdigest()  # any informative 256-bit hash
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(Info("l"), [ListEntry("pdq", pdq)])
    assert matcher.match(image_hashes(HashValue("pdq", pdq, quality=49))) == []
    [match] = matcher.match(image_hashes(HashValue("pdq", flip(pdq, 20), quality=50)))
    assert (match.distance, match.decision) == (20, "auto")
    [match] = matcher.match(image_hashes(HashValue("pdq", flip(pdq, 35), quality=90)))
    assert match.decision == "review"


def test_allow_list_suppresses_all_block_matches():
    digest = "cd" * 32
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(Info("block"), [ListEntry("phash", BASE), ListEntry("sha256", digest)])
    query = image_hashes(HashValue("sha256", digest), HashValue("phash", BASE))
    assert len(matcher.match(query)) == 2
    matcher.load_list(Info("ok", kind="allow"), [ListEntry("phash", flip(BASE, 12))])
    assert len(matcher.match(query)) == 2  # allow entry beyond the review distance
    matcher.load_list(Info("ok", kind="allow"), [ListEntry("phash", flip(BASE, 9))])
    assert matcher.match(query) == []
    matcher.remove_list("ok")
    assert len(matcher.match(query)) == 2


def test_dihedral_matches_rotated_image():
    original = synthetic_png(3)
    rotated = io.BytesIO()
    Image.open(io.BytesIO(original)).transpose(Image.Transpose.ROTATE_90).save(rotated, "PNG")
    entry = hash_image(original).get("pdq")
    assert entry.quality >= 50
    options = HashOptions()
    plain = Matcher(Thresholds.defaults())
    plain.load_list(Info("l"), [ListEntry("pdq", entry.hex, "orig")])
    _, none = hash_and_match(rotated.getvalue(), plain, options)
    assert [m for m in none if m.algorithm == "pdq"] == []
    turning = Matcher(Thresholds.defaults(), dihedral=True)
    turning.load_list(Info("l"), [ListEntry("pdq", entry.hex, "orig")])
    hashes, found = hash_and_match(rotated.getvalue(), turning, options)
    [match] = found
    assert match.label == "orig" and match.distance <= 31 and match.decision == "auto"
    assert match.query_hash != hashes.get("pdq").hex  # found through a variant


def test_retract_and_replace_only_touch_one_list():
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(Info("a"), [ListEntry("phash", BASE), ListEntry("dhash", BASE)])
    matcher.load_list(Info("b"), [ListEntry("phash", BASE)])
    assert matcher.retract("a", "phash", BASE) == 1
    assert matcher.retract("a", "phash", BASE) == 0
    assert matcher.retract("missing", None, BASE) == 0
    query = image_hashes(HashValue("phash", BASE), HashValue("dhash", BASE))
    assert sorted((m.list, m.algorithm) for m in matcher.match(query)) == [
        ("a", "dhash"), ("b", "phash")]


# --- against the real store on real Redis --------------------------------------------


@pytest.fixture
def store(redis_client, key_prefix) -> FingerprintStore:
    return FingerprintStore(redis_client, key_prefix)


def _listed(matcher: Matcher, query: ImageHashes) -> set[tuple[str, str]]:
    return {(m.list, m.label) for m in matcher.match(query)}


def test_sync_applies_each_change_kind(store, redis_client):
    query = image_hashes(HashValue("phash", BASE), HashValue("md5", "11" * 16))
    store.replace_list("one", [ListEntry("phash", BASE, "p1")], category="illegal")
    matcher = Matcher.from_store(store, Thresholds.defaults())
    assert matcher.version == store.version()
    assert _listed(matcher, query) == {("one", "p1")}

    store.replace_list("two", [ListEntry("md5", "11" * 16, "m2"), ListEntry("phash", BASE, "p2")])
    assert matcher.sync(store) == 1
    assert _listed(matcher, query) == {("one", "p1"), ("two", "m2"), ("two", "p2")}
    one_index = matcher._lists["one"]

    assert store.retract("two", BASE, "phash") == 1
    assert matcher.sync(store) == 1
    assert _listed(matcher, query) == {("one", "p1"), ("two", "m2")}
    assert matcher._lists["one"] is one_index  # untouched by another list's change

    store.replace_list("one", [ListEntry("phash", flip(BASE, 8), "p1b")])
    store.delete_list("two")
    assert matcher.sync(store) == 2
    assert _listed(matcher, query) == {("one", "p1b")}
    assert matcher.sync(store) == 0
    assert matcher.version == store.version()

    store.replace_list("three", [ListEntry("phash", BASE, "p3")], kind="allow")
    redis_client.delete(store.changelog_key)  # the changelog no longer reaches back
    assert matcher.sync(store) == 1  # one "resync": full rebuild
    assert matcher.lists() == ["one", "three"]
    assert matcher.match(query) == []  # the allow-list suppresses "one"
    assert matcher.version == store.version()


def test_sync_reload_of_deleted_list(store):
    store.replace_list("gone", [ListEntry("phash", BASE)])
    matcher = Matcher(Thresholds.defaults())
    store.delete_list("gone")
    matcher.sync(store)
    assert matcher.lists() == [] and matcher.size() == {}


def _corroboration_matcher(*entries: ListEntry) -> Matcher:
    matcher = Matcher(Thresholds.from_settings(Settings()))
    matcher.load_list(Info("known"), list(entries))
    return matcher


def test_two_weak_algorithms_agreeing_on_one_image_are_a_review():
    dbase = "96c3a5f00f5a3c69"
    query = image_hashes(HashValue("phash", BASE), HashValue("dhash", dbase))
    # 11 bits: beyond review (10), within corroborate (12), for both algorithms.
    alone = _corroboration_matcher(ListEntry("phash", flip(BASE, 11), "photo 7", "case-7"))
    assert alone.match(query) == []  # one weak signal is not enough
    both = _corroboration_matcher(ListEntry("phash", flip(BASE, 11), "photo 7", "case-7"),
                                  ListEntry("dhash", flip(dbase, 11), "photo 7", "case-7"))
    found = both.match(query)
    assert {(m.algorithm, m.distance, m.decision) for m in found} == {
        ("phash", 11, "review"), ("dhash", 11, "review")}
    other_image = _corroboration_matcher(
        ListEntry("phash", flip(BASE, 11), "photo 7", "case-7"),
        ListEntry("dhash", flip(dbase, 11), "photo 8", "case-8"))
    assert other_image.match(query) == []  # they must agree on the same image
    untied = _corroboration_matcher(ListEntry("phash", flip(BASE, 11), "category"),
                                    ListEntry("dhash", flip(dbase, 11), "category"))
    assert untied.match(query) == []  # a shared label without a source id ties nothing
    beyond = _corroboration_matcher(ListEntry("phash", flip(BASE, 13), "photo 7", "case-7"),
                                    ListEntry("dhash", flip(dbase, 13), "photo 7", "case-7"))
    assert beyond.match(query) == []


def test_a_weak_match_is_carried_by_a_strong_one_of_the_same_image():
    matcher = _corroboration_matcher(ListEntry("phash", flip(BASE, 12), "photo 7", "case-7"),
                                     ListEntry("dhash", "96c3a5f00f5a3c69", "photo 7", "case-7"))
    found = matcher.match(image_hashes(HashValue("phash", BASE),
                                       HashValue("dhash", "96c3a5f00f5a3c69")))
    assert [(m.algorithm, m.decision) for m in found] == [("dhash", "auto"), ("phash", "review")]


def test_allow_list_beyond_review_does_not_suppress():
    matcher = Matcher(Thresholds.from_settings(Settings()))
    matcher.load_list(Info("known"), [ListEntry("phash", BASE, "photo", "1")])
    matcher.load_list(Info("ok", kind="allow"), [ListEntry("phash", flip(BASE, 11), "fine", "2")])
    assert [m.list for m in matcher.match(image_hashes(HashValue("phash", BASE)))] == ["known"]


def test_corroborate_distance_below_review_is_rejected():
    with pytest.raises(MatcherError, match="phash_corroborate_distance"):
        Thresholds.from_settings(Settings(phash_corroborate_distance=8))
    off = Thresholds.from_settings(Settings(phash_corroborate_distance=0))
    assert off.per_algorithm["phash"].radius == 10


def test_two_listed_images_with_one_hash_both_survive_import_and_both_match(store):
    """Issue 13: two variants of one design share a pHash; the import keeps both rows and a
    match names both listed images (here 71 rows, 2 pairs sharing a hash, stay 71)."""
    rows = [ListEntry("phash", flip(BASE, 20 + i), f"other {i}", f"o{i}") for i in range(67)]
    twins = [ListEntry("phash", BASE, "design, light", "light"),
             ListEntry("phash", BASE, "design, dark", "dark"),
             ListEntry("dhash", "96c3a5f00f5a3c69", "design, light", "light"),
             ListEntry("dhash", "96c3a5f00f5a3c69", "design, dark", "dark")]
    result = store.replace_list("designs", [*rows[:30], *twins, *rows[30:]])
    assert (result.rows, result.shared) == (71, 4)
    assert len(list(store.entries("designs"))) == 71
    matcher = Matcher.from_store(store, Thresholds.defaults())
    found = matcher.match(image_hashes(HashValue("phash", BASE, 100),
                                       HashValue("dhash", "96c3a5f00f5a3c69", 100)))
    assert sorted((m.algorithm, m.source_id, m.decision) for m in found) == [
        ("dhash", "dark", "auto"), ("dhash", "light", "auto"),
        ("phash", "dark", "auto"), ("phash", "light", "auto")]
