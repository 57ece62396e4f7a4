"""The SHA-256 -> hashes cache in a real Redis: what comes back is what a fresh hash gives."""

from __future__ import annotations

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hash_cache import HashCache
from spinneret.matcher.hashing import HashOptions, hash_image_decoded
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.service import hash_for_matching, variant_algorithms
from spinneret.matcher.store import ListEntry, ListInfo

ALGORITHMS = HashOptions().algorithms


def test_round_trip_keeps_values_and_query_variants(redis_client, key_prefix):
    cache = HashCache(redis_client, key_prefix, ttl_s=60)
    data = encode(generate(4, (320, 240)))
    hashes, _ = hash_image_decoded(data, variants=True)
    assert hashes.variants  # cropdct's guesses
    cache.put(hashes, ALGORITHMS, {"cropdct"})
    assert cache.get(hashes.sha256, ALGORITHMS, {"cropdct"}) == hashes
    # Asked for with another variant set (or none), the entry is not reused: an entry
    # without guesses must never stand in for one that needs them.
    assert cache.get(hashes.sha256, ALGORITHMS) is None
    assert cache.get(hashes.sha256, ("sha256", "pdq"), {"cropdct"}) is None


def test_guesses_are_computed_only_for_loaded_algorithms_that_have_them():
    info = ListInfo("l", "block", "test", "test", "", 1, {}, 0.0, 0.0, "test")
    data = encode(generate(5, (320, 240)))
    plain = hash_image_decoded(data)[0]
    matcher = Matcher(Thresholds.defaults())
    matcher.load_list(info, [ListEntry("pdq", plain.get("pdq").hex, "x", "1")])
    # PDQ's variants are its rotations/flips: none without dihedral matching.
    assert variant_algorithms(matcher) == {"pdq"}
    hashes = hash_for_matching(data, HashOptions(), False, variant_algorithms(matcher))
    assert hashes.variants == () and hashes.values == plain.values
    matcher.load_list(info, [ListEntry("cropdct", plain.get("cropdct").hex, "x", "1")])
    assert variant_algorithms(matcher) == {"cropdct"}
    hashes = hash_for_matching(data, HashOptions(), False, variant_algorithms(matcher))
    assert {v.algorithm for v in hashes.variants} == {"cropdct"} and len(hashes.variants) == 35
