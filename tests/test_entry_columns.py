"""The warm-start read path: `FingerprintStore.entry_columns` against a real Redis, the packed
columns, `Matcher.load_columns`, and the counting-sort index build."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import redis

from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.columns import EntryColumns, Payloads
from spinneret.matcher.errors import InvalidHash, ListNotFound
from spinneret.matcher.following import FollowingMatcher
from spinneret.matcher.hashing import ImageHashes
from spinneret.matcher.index import ExactIndex, HammingIndex, bytes_to_words
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import FingerprintStore, ListEntry, StoreConflict, StoreCorrupt

DIGITS = {"md5": 32, "sha256": 64, "phash": 16, "dhash": 16, "pdq": 64}


def make_entries(n: int, algorithm: str, seed: int) -> list[ListEntry]:
    rnd = random.Random(seed)
    digits = DIGITS[algorithm]
    labels = ["", "benign", "étiquette ✓", "comma, \"quoted\"\nnewline"]
    return [
        ListEntry(algorithm, f"{rnd.getrandbits(digits * 4):0{digits}x}", labels[i % 4],
                  f"src-{i}" if i % 3 else "")
        for i in range(n)
    ]


@pytest.fixture
def store(redis_client, key_prefix) -> FingerprintStore:
    # Small pages: a 2,500-entry list is read in several HSCAN round trips.
    return FingerprintStore(redis_client, key_prefix, batch_size=500)


def as_triples(columns: EntryColumns) -> set[tuple[str, str, str]]:
    return set(columns.entries())


def test_columns_equal_entries(store):
    entries = make_entries(2500, "pdq", 1) + make_entries(40, "md5", 2) + make_entries(
        300, "phash", 3)
    store.replace_list("mixed", entries)
    columns = store.entry_columns("mixed")
    assert sorted(columns) == ["md5", "pdq", "phash"]
    for algorithm, part in columns.items():
        expected = {(e.hash, e.label, e.source_id) for e in entries if e.algorithm == algorithm}
        assert len(part) == len(expected)
        assert part.digest_size == DIGITS[algorithm] // 2
        assert as_triples(part) == expected
    # words() is the index layout: row i is hash i, most significant word first
    pdq = columns["pdq"]
    first = pdq.hexes()[0]
    assert pdq.words()[0].tolist() == [int(first[i:i + 16], 16) for i in range(0, 64, 16)]
    only = store.entry_columns("mixed", "PHASH")
    assert list(only) == ["phash"] and as_triples(only["phash"]) == as_triples(columns["phash"])


def test_columns_empty_and_missing(store):
    store.replace_list("empty", [])
    assert store.entry_columns("empty") == {}
    with pytest.raises(ListNotFound):
        store.entry_columns("nope")


def test_columns_with_decoding_client(redis_server_url, key_prefix, redis_client):
    FingerprintStore(redis_client, key_prefix).replace_list("l", make_entries(50, "dhash", 4))
    decoding = redis.Redis.from_url(redis_server_url, decode_responses=True)
    try:
        part = FingerprintStore(decoding, key_prefix).entry_columns("l")["dhash"]
    finally:
        decoding.close()
    assert as_triples(part) == {(e.hash, e.label, e.source_id)
                                for e in make_entries(50, "dhash", 4)}


@pytest.mark.parametrize("field", ["ab" * 31, "zz" * 32], ids=["short", "not-hex"])
def test_foreign_entry_is_a_clear_error(store, redis_client, field):
    store.replace_list("l", make_entries(10, "pdq", 5))
    token = redis_client.hget(store.list_keys("l").meta, "token").decode()
    redis_client.hset(store.list_keys("l").entries(token, "pdq"), field, "x")
    with pytest.raises(StoreCorrupt, match="list 'l': a stored pdq hash is not"):
        store.entry_columns("l")


def test_replace_during_read_is_read_again(store, monkeypatch):
    store.replace_list("l", make_entries(100, "pdq", 6))
    newer = make_entries(80, "pdq", 7)
    real = FingerprintStore._read_columns
    calls = []

    def replacing_first(self, name, key, algorithm):
        calls.append(key)
        part = real(self, name, key, algorithm)
        if len(calls) == 1:
            self.replace_list("l", newer)  # the key just read is now gone
        return part

    monkeypatch.setattr(FingerprintStore, "_read_columns", replacing_first)
    part = store.entry_columns("l")["pdq"]
    assert len(calls) == 2 and calls[0] != calls[1]
    assert as_triples(part) == {(e.hash, e.label, e.source_id) for e in newer}


def test_list_that_never_settles_is_a_conflict(store, monkeypatch):
    store.replace_list("l", make_entries(5, "pdq", 8))
    real = FingerprintStore._read_columns

    def always_replacing(self, name, key, algorithm):
        part = real(self, name, key, algorithm)
        self.replace_list("l", make_entries(5, "pdq", 9))
        return part

    monkeypatch.setattr(FingerprintStore, "_read_columns", always_replacing)
    with pytest.raises(StoreConflict, match="kept changing"):
        store.entry_columns("l")


def test_unique_keeps_payloads_aligned():
    values = [b"a", b"b\x1fs2", b"", b"d"]
    digests = bytes.fromhex("01" * 8 + "02" * 8 + "01" * 8 + "03" * 8)
    part = EntryColumns("phash", 8, digests, Payloads.from_values(values)).unique()
    assert list(part.entries()) == [("01" * 8, "a", ""), ("02" * 8, "b", "s2"),
                                    ("03" * 8, "d", "")]
    assert Payloads.from_pairs(["x", ""], ["", "y"]).get(1) == ("", "y")


def test_matcher_from_columns_equals_from_entries(store):
    entries = make_entries(3000, "pdq", 10) + make_entries(20, "sha256", 11)
    store.replace_list("l", entries, category="policy")
    from_store = Matcher.from_store(store, Thresholds.defaults())
    by_entries = Matcher(Thresholds.defaults())
    by_entries.load_list(store.get_list("l"), entries)
    assert from_store.size() == by_entries.size() == {"pdq": 3000, "sha256": 20}
    for entry in entries[::97] + entries[-20:]:
        near = entry.hash if entry.algorithm == "sha256" else (
            f"{int(entry.hash, 16) ^ 0b1011:064x}")  # 3 bits away
        query = ImageHashes((HashValue(entry.algorithm, near, 100),), "PNG", 1, 1, 0)
        got = from_store.match(query)
        assert got == by_entries.match(query)
        assert [(m.label, m.source_id, m.entry_hash) for m in got] == [
            (entry.label, entry.source_id, entry.hash)]


def test_counting_sort_build_equals_argsort():
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**63, size=(20_000, 4), dtype=np.uint64)
    words[5000:5100] = words[0]  # a crowded bucket
    compiled = HammingIndex(256, 31, substrings=16)
    plain = HammingIndex(256, 31, substrings=16, compiled=False)
    compiled.add(words)
    plain.add(words)
    assert np.array_equal(compiled._perm, plain._perm)
    assert np.array_equal(compiled._offsets, plain._offsets)
    query = words[0] ^ np.array([7, 0, 1, 0], dtype=np.uint64)
    ids, found = compiled.search(query, 31)
    assert ids.tolist()[:2] == [0, 5000] and len(ids) == 101 and set(found.tolist()) == {4}


def test_matching_is_not_blocked_while_a_list_reloads(store, monkeypatch):
    base = "f0e1d2c3b4a59687"
    query = ImageHashes((HashValue("phash", base),), "PNG", 1, 1, 0)
    store.replace_list("l", [ListEntry("phash", base, "old")])
    follower = FollowingMatcher(store, Thresholds.defaults())  # not started: synced by hand
    reading, release = threading.Event(), threading.Event()
    real = FingerprintStore.entry_columns

    def slow_read(self, name, algorithm=None):
        reading.set()
        release.wait(30)
        return real(self, name, algorithm)

    monkeypatch.setattr(FingerprintStore, "entry_columns", slow_read)
    store.replace_list("l", [ListEntry("phash", base, "new")])
    syncing = threading.Thread(target=follower.sync_now)
    syncing.start()
    try:
        assert reading.wait(30)
        # The reload is under way (reading the list): lookups still answer, from the old list.
        assert [m.label for m in follower.match(query)] == ["old"]
    finally:
        release.set()
        syncing.join(30)
    assert [m.label for m in follower.match(query)] == ["new"]
    assert follower.version == store.version()


def test_exact_index_on_padded_words():
    index = ExactIndex()
    sha1 = ["ab" * 20, "AB" * 19 + "cd", "00" * 20]  # 160 bits: padded to 3 words
    ids = index.add(sha1)
    assert index.search("ab" * 20)[0].tolist() == [ids[0]]
    assert index.search("ab" * 19 + "cd")[0].tolist() == [ids[1]]
    assert index.search("ab" * 19 + "ce")[0].tolist() == []
    assert index.search("zz" * 20)[0].tolist() == [] and index.search("ab")[0].tolist() == []
    more = index.add(bytes_to_words(bytes.fromhex("ab" * 20), 20), 40)
    assert index.search("ab" * 20)[0].tolist() == [ids[0], more[0]]
    assert index.remove_hashes(["AB" * 20]).tolist() == [ids[0], more[0]] and len(index) == 2
    with pytest.raises(InvalidHash, match="expected 40-digit hashes"):
        index.add(["ab" * 16])
    assert index.memory_bytes() < 200
