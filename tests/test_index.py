"""The Hamming index returns exactly the brute-force result set, whatever the data and radius."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinneret.matcher.errors import InvalidHash
from spinneret.matcher.index import (
    ExactIndex,
    HammingIndex,
    brute_force,
    hex_to_words,
    plan_substrings,
    split_bits,
    thresholds,
    words_to_hex,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _flip(rng: np.random.Generator, words: np.ndarray, count: int) -> np.ndarray:
    out = words.copy()
    bits = out.shape[-1] * 64
    for bit in rng.choice(bits, size=min(count, bits), replace=False):
        out[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return out


def _dataset(seed: int, bits: int, n: int, clustered: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width = bits // 64
    if not clustered:
        return rng.integers(0, 2**64, size=(n, width), dtype=np.uint64)
    centres = rng.integers(0, 2**64, size=(max(1, n // 20), width), dtype=np.uint64)
    rows = [_flip(rng, centres[rng.integers(len(centres))], int(rng.integers(0, bits // 8)))
            for _ in range(n)]
    return np.array(rows, dtype=np.uint64).reshape(n, width)


def _queries(seed: int, data: np.ndarray, radius: int, count: int) -> np.ndarray:
    """Half near existing rows (within and just beyond the radius), half random."""
    rng = np.random.default_rng(seed + 1)
    width = data.shape[1]
    near = [_flip(rng, data[rng.integers(len(data))], int(rng.integers(0, radius + 3)))
            for _ in range(count // 2)]
    far = rng.integers(0, 2**64, size=(count - len(near), width), dtype=np.uint64)
    return np.vstack([np.array(near, dtype=np.uint64).reshape(-1, width), far])


def _assert_exact(index: HammingIndex, data: np.ndarray, ids: np.ndarray, alive: np.ndarray,
                  queries: np.ndarray, radius: int) -> None:
    results = index.search_many(queries, radius)
    for query, (got_ids, got_dist) in zip(queries, results, strict=True):
        positions, dist = brute_force(data, query, radius, alive)
        expected = dict(zip(ids[positions].tolist(), dist.tolist(), strict=True))
        assert dict(zip(got_ids.tolist(), got_dist.tolist(), strict=True)) == expected
        assert len(got_ids) == len(expected)  # no duplicates
        single_ids, _ = index.search(query, radius)
        assert sorted(single_ids.tolist()) == sorted(expected)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([64, 256]),
    n=st.integers(1, 400),
    clustered=st.booleans(),
    radius=st.integers(0, 12),
    m=st.sampled_from([None, 0, 1, 2, 3]),
    compiled=st.booleans(),
)
def test_search_equals_brute_force(seed, bits, n, clustered, radius, m, compiled):
    data = _dataset(seed, bits, n, clustered)
    if m:  # a few substrings narrow enough for a dense directory
        m = {64: [4, 6, 8], 256: [16, 21, 32]}[bits][m - 1]
    index = HammingIndex(bits, radius, substrings=m, compiled=compiled)
    ids = index.add(data)
    index.rebuild()  # index everything, even below the rebuild threshold
    _assert_exact(index, data, ids, np.ones(n, dtype=bool), _queries(seed, data, radius, 12),
                  radius)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([64, 256]),
    clustered=st.booleans(),
    radius=st.integers(0, 10),
    search_radius=st.integers(0, 14),
    compiled=st.booleans(),
)
def test_radius_other_than_planned_and_removals(seed, bits, clustered, radius, search_radius,
                                               compiled):
    rng = np.random.default_rng(seed)
    data = _dataset(seed, bits, 300, clustered)
    index = HammingIndex(bits, radius, substrings=4 if bits == 64 else 16, compiled=compiled)
    ids = np.concatenate([index.add(data[:200]), index.add(np.zeros((0, bits // 64), np.uint64))])
    index.rebuild()
    ids = np.concatenate([ids, index.add(data[200:])])  # stays in the scanned tail
    alive = np.ones(len(data), dtype=bool)
    gone = rng.choice(len(data), size=int(rng.integers(0, 60)), replace=False)
    assert index.remove(ids[gone]) == len(gone)
    assert index.remove(ids[gone]) == 0  # already removed
    alive[gone] = False
    victim = data[int(rng.integers(len(data)))]
    removed = index.remove_hashes(victim.reshape(1, -1))
    equal = np.flatnonzero((data == victim).all(axis=1) & alive)
    assert sorted(removed.tolist()) == sorted(ids[equal].tolist())
    alive[equal] = False
    assert len(index) == int(alive.sum())
    _assert_exact(index, data, ids, alive, _queries(seed, data, search_radius, 10), search_radius)


def test_compaction_keeps_ids_and_results():
    data = _dataset(7, 64, 2000, clustered=True)
    index = HammingIndex(64, 6, substrings=4)
    ids = index.add(data)
    alive = np.ones(len(data), dtype=bool)
    alive[: 1500] = False
    index.remove(ids[:1500])  # > 1/4 dead: compacts
    assert index.memory_bytes() > 0 and len(index) == 500
    _assert_exact(index, data, ids, alive, _queries(7, data, 6, 20), 6)


def test_large_uniform_set_uses_tables():
    data = _dataset(3, 64, 60_000, clustered=False)
    index = HammingIndex(64, 8)
    ids = index.add(data)
    assert index.substrings >= 2
    _assert_exact(index, data, ids, np.ones(len(data), bool), _queries(3, data, 8, 40), 8)


def test_planner_choices():
    assert plan_substrings(64, 10_000_000, 8).substrings == 3
    assert plan_substrings(256, 10_000_000, 31).substrings == 11
    assert plan_substrings(64, 500, 8).substrings == 0  # a scan is cheapest for small sets
    assert thresholds(8, 3) == [2, 2, 2]
    assert thresholds(31, 11) == [2] * 10 + [1]
    assert thresholds(0, 3) == [0, -1, -1]
    assert sum(p.width for p in split_bits(256, 11)) == 256
    with pytest.raises(ValueError):
        HammingIndex(64, 8, substrings=2)  # 32-bit substrings: directory too large


def test_hex_round_trip_and_errors():
    hexes = ["0123456789abcdef" * 4, "f" * 64]
    assert words_to_hex(hex_to_words(hexes, 256)) == hexes
    with pytest.raises(InvalidHash):
        hex_to_words(["abc"], 64)
    with pytest.raises(InvalidHash):
        hex_to_words(["zz" * 8], 64)
    index = HammingIndex(64, 4)
    [entry] = index.add(["00000000000000ff"])
    ids, dist = index.search("00000000000000fe", 4)
    assert ids.tolist() == [entry] and dist.tolist() == [1]


def test_exact_index():
    index = ExactIndex()
    ids = index.add(["AA" * 16, "bb" * 16, "aa" * 16])
    assert sorted(index.search("aa" * 16)[0].tolist()) == [ids[0], ids[2]]
    assert index.remove([ids[0]]) == 1 and index.search("aa" * 16)[0].tolist() == [ids[2]]
    assert index.remove_hashes(["bb" * 16]).tolist() == [ids[1]]
    assert len(index) == 1 and index.memory_bytes() > 0
    assert index.search("cc" * 16)[0].tolist() == []


@pytest.mark.parametrize("compiled", [True, False])
def test_buckets_larger_than_the_kernel_candidate_list(compiled):
    """Many entries sharing substrings overflow the compiled kernel's candidate list (one
    bucket alone bigger than it, and many mid-sized ones): every hit is still returned once."""
    from spinneret.matcher.index import hamming as index_module

    rng = np.random.default_rng(11)
    chunk = index_module._KERNEL_CHUNK
    base = rng.integers(0, 2**64, size=1, dtype=np.uint64)
    # 1.5 chunks of copies of one hash (one huge bucket per table), plus near copies of it
    # with a few low bits flipped (many buckets), plus unrelated hashes.
    copies = np.repeat(base, chunk + chunk // 2)
    near = base ^ rng.integers(0, 1 << 6, size=chunk, dtype=np.uint64)
    other = rng.integers(0, 2**64, size=5000, dtype=np.uint64)
    data = np.concatenate([copies, near, other]).reshape(-1, 1)
    index = HammingIndex(64, 8, substrings=4, compiled=compiled)
    ids = index.add(data)
    index.rebuild()
    queries = np.vstack([base.reshape(1, 1), _flip(rng, base, 3).reshape(1, 1),
                         other[:3].reshape(-1, 1)])
    _assert_exact(index, data, ids, np.ones(len(data), bool), queries, 8)


@pytest.mark.parametrize("index", [HammingIndex(64, 4), ExactIndex(64)],
                         ids=["hamming", "exact"])
def test_both_indexes_speak_the_hash_index_protocol(index):
    """What `Matcher` relies on, the same on both kinds: add as hex or as the store's raw
    bytes, search a batch, read hashes back by id, remove by hash, reject bad bytes."""
    from spinneret.matcher.index import HashIndex

    assert isinstance(index, HashIndex)
    first = index.add(["00000000000000ff", "ffffffffffffffff"])
    second = index.add_digests(bytes.fromhex("0123456789abcdef"))
    assert first.tolist() == [0, 1] and second.tolist() == [2] and len(index) == 3
    assert index.hashes_of([2, 0]) == ["0123456789abcdef", "00000000000000ff"]
    hits = index.search_many(["0123456789abcdef", "00000000000000fe"], 4)
    assert [ids.tolist() for ids, _ in hits][0] == [2]
    # One bit off: within the Hamming radius, not equal for the exact index.
    expected_near = [0] if isinstance(index, HammingIndex) else []
    assert hits[1][0].tolist() == expected_near
    assert index.remove_hashes(["ffffffffffffffff"]).tolist() == [1] and len(index) == 2
    with pytest.raises(ValueError, match="not whole"):
        index.add_digests(b"\x01\x02\x03")
    assert len(index) == 2  # nothing added by the bad call


def test_exact_index_reads_back_digests_shorter_than_whole_words():
    index = ExactIndex(160)  # sha1: 20 bytes, padded to three words
    digest = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    index.add_digests(bytes.fromhex(digest) * 2)
    assert index.hashes_of([1]) == [digest]
    assert index.search_many([digest, "00" * 20], 0)[1][0].tolist() == []
    assert index.search_many([digest], 0)[0][0].tolist() == [0, 1]
    with pytest.raises(KeyError):
        index.hashes_of([2])
