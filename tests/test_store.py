"""FingerprintStore against a real Redis server: atomic replace, counts, retract, delete,
changelog, pub/sub, and the Cluster hash-tag layout."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from spinneret.matcher.algorithms import default_registry
from spinneret.matcher.errors import (
    InvalidHash,
    InvalidHashList,
    InvalidListKind,
    InvalidListName,
    ListNotFound,
)
from spinneret.matcher.hashlist import import_file
from spinneret.matcher.store import FingerprintStore, ListChange, ListEntry, StoreChange
from spinneret.runtime.context import AppContext


def make_entries(n: int, algorithm: str = "pdq", seed: int = 1, label: str = "") -> list[ListEntry]:
    rnd = random.Random(seed)
    digits = default_registry().get(algorithm).hex_length
    return [
        ListEntry(algorithm, f"{rnd.getrandbits(digits * 4):0{digits}x}", label, str(i))
        for i in range(n)
    ]


@pytest.fixture
def store(redis_client, key_prefix) -> FingerprintStore:
    return FingerprintStore(redis_client, key_prefix, batch_size=1000)


def snapshot(client: redis.Redis, prefix: str) -> dict[bytes, bytes | None]:
    """Every key under the prefix with its serialised value: equal snapshots = unchanged store."""
    return {key: client.dump(key) for key in client.scan_iter(match=f"{prefix}*", count=1000)}


def as_set(entries) -> set[ListEntry]:
    return set(entries)


def test_replace_then_read_back(store):
    entries = make_entries(2500) + make_entries(30, "md5", seed=2, label="benign test")
    result = store.replace_list(
        "demo", entries, kind="allow", source="unit", category="policy",
        description="synthetic", by="tester",
    )
    assert (result.list, result.version, result.added, result.removed, result.unchanged) == (
        "demo", 1, 2530, 0, 0
    )
    info = store.get_list("demo")
    assert (info.name, info.kind, info.source, info.category, info.description) == (
        "demo", "allow", "unit", "policy", "synthetic"
    )
    assert info.counts == {"md5": 30, "pdq": 2500}
    assert info.version == 1 and info.updated_by == "tester"
    assert info.created_at <= info.updated_at
    assert as_set(store.entries("demo")) == set(entries)
    assert as_set(store.entries("demo", "MD5")) == set(entries[2500:])
    assert [i.name for i in store.lists()] == ["demo"]


def test_reimport_reports_added_removed_unchanged(store):
    old = make_entries(100)
    store.replace_list("l", old)
    new = old[40:] + make_entries(25, seed=9) + make_entries(5, "dhash")
    result = store.replace_list("l", new)
    assert (result.version, result.added, result.removed, result.unchanged) == (2, 30, 40, 60)
    assert as_set(store.entries("l")) == set(new)
    assert store.get_list("l").counts == {"dhash": 5, "pdq": 85}
    # Old version's entry keys are gone: only the live token's keys remain.
    token = store._r.hget(store.list_keys("l").meta, "token").decode()
    entry_keys = {k.decode() for k in store._r.scan_iter(match=f"{store.list_keys('l').base}:e:*")}
    assert entry_keys == {store.list_keys("l").entries(token, a) for a in ("dhash", "pdq")}


def test_identical_rows_collapse_and_two_images_with_one_hash_keep_both(store):
    entry = make_entries(1)[0]
    other_image = ListEntry(entry.algorithm, entry.hash, "second", "s2")
    result = store.replace_list("dup", [entry, entry, other_image])
    assert result.added == 1
    assert (result.rows, result.shared) == (2, 2)
    info = store.get_list("dup")
    assert info.counts == {"pdq": 1}  # one hash, one index position
    assert (info.rows, info.shared) == ({"pdq": 2}, {"pdq": 2})
    assert list(store.entries("dup")) == [entry, other_image]


def test_a_hash_shared_across_import_batches_keeps_every_row(redis_client, key_prefix):
    store = FingerprintStore(redis_client, prefix=key_prefix, batch_size=3)
    entries = make_entries(7)
    twins = [ListEntry(e.algorithm, e.hash, "twin", f"twin-{i}") for i, e in enumerate(entries[:2])]
    result = store.replace_list("dup", [*entries, *twins, entries[0]])
    assert (result.rows, result.shared, result.added) == (9, 4, 7)
    got = sorted((e.hash, e.source_id) for e in store.entries("dup"))
    assert got == sorted((e.hash, e.source_id) for e in [*entries, *twins])
    columns = store.entry_columns("dup")["pdq"]
    assert len(columns) == 7
    assert sorted(sid for _, _, sid in columns.entries()) == sorted(
        [e.source_id for e in entries] + ["twin-0", "twin-1"])
    store.retract("dup", entries[0].hash, "pdq")
    info = store.get_list("dup")
    assert (info.counts, info.rows, info.shared) == ({"pdq": 6}, {"pdq": 7}, {"pdq": 2})


def test_weak_rows_are_kept_counted_and_uncounted_on_retract(store):
    informative = make_entries(3, "dhash")
    weak = [ListEntry("dhash", h, "flat", f"w{i}") for i, h in enumerate(
        ("0000000000000000", "1009000800000000", "0080244020400010", "e0e0e0e0e0e0e0e0"))]
    low_listed = ListEntry("dhash", informative[0].hash, "listed low", "q", quality=20)
    result = store.replace_list("weak", [*informative, *weak, low_listed])
    assert (result.rows, result.weak) == (8, 6)  # a hash with a low listed quality: both rows
    assert store.get_list("weak").weak == {"dhash": 6}
    assert {e.source_id for e in store.entries("weak")} >= {"w0", "w1", "w2", "w3", "q"}
    store.retract("weak", "e0e0e0e0e0e0e0e0", "dhash")
    assert store.get_list("weak").weak == {"dhash": 5}

def test_failure_midway_through_writing_leaves_old_version_intact(store, redis_client, key_prefix):
    old = make_entries(500)
    store.replace_list("l", old, category="first")
    before = snapshot(redis_client, key_prefix)
    version = store.version()

    def exploding() -> Iterator[ListEntry]:
        yield from make_entries(5500, seed=7)  # several 1000-row batches already written aside
        raise RuntimeError("connection to the authority feed dropped")

    with pytest.raises(RuntimeError):
        store.replace_list("l", exploding(), category="second")
    assert snapshot(redis_client, key_prefix) == before
    assert store.version() == version
    assert store.get_list("l").category == "first"
    assert as_set(store.entries("l")) == set(old)


def test_invalid_file_changes_nothing(store, redis_client, key_prefix, tmp_path: Path):
    store.replace_list("l", make_entries(10))
    before = snapshot(redis_client, key_prefix)
    rows = [f"pdq,{e.hash}" for e in make_entries(3000, seed=5)]
    rows[2500] = "pdq,xyz"
    path = tmp_path / "bad.csv"
    path.write_text("algorithm,hash\n" + "\n".join(rows) + "\n")
    for name in ("l", "new-list"):
        with pytest.raises(InvalidHashList) as info:
            import_file(store, path, name)
        assert info.value.line == 2502
        assert snapshot(redis_client, key_prefix) == before
    with pytest.raises(ListNotFound):
        store.get_list("new-list")


def test_killed_import_leaves_only_aside_keys_that_the_next_import_removes(
    store, redis_client, monkeypatch
):
    old = make_entries(50)
    store.replace_list("l", old)

    def killed() -> Iterator[ListEntry]:
        yield from make_entries(2500, seed=3)
        raise SystemExit  # stands in for SIGKILL: no cleanup runs (see _discard patch)

    monkeypatch.setattr(store, "_discard", lambda *args: None)
    with pytest.raises(SystemExit):
        store.replace_list("l", killed())
    monkeypatch.undo()
    keys = store.list_keys("l")
    orphans = redis_client.hgetall(keys.aside)
    assert len(orphans) == 1
    (token,) = [t.decode() for t in orphans]
    orphan_key = keys.entries(token, "pdq")
    assert redis_client.hlen(orphan_key) == 2000  # the full 1000-row batches
    assert redis_client.ttl(orphan_key) > 0  # expires even if no import follows
    assert as_set(store.entries("l")) == set(old)  # readers never see a half list

    redis_client.hset(keys.aside, token, 0)  # its lease ran out
    store.replace_list("l", make_entries(5, seed=4))
    assert not redis_client.exists(orphan_key)
    assert redis_client.hlen(keys.aside) == 0


def test_swap_refuses_when_aside_data_expired(store, redis_client, monkeypatch):
    from spinneret.matcher.store import StoreConflict

    store.replace_list("l", make_entries(5))
    real_flush = store._flush

    def flush_then_expire(keys, token, pending, written, *tally):
        real_flush(keys, token, pending, written, *tally)
        for alg in written:
            redis_client.delete(keys.entries(token, alg))

    monkeypatch.setattr(store, "_flush", flush_then_expire)
    with pytest.raises(StoreConflict, match="expired"):
        store.replace_list("l", make_entries(9, seed=2))
    assert as_set(store.entries("l")) == set(make_entries(5))


def test_retract(store):
    pdq = make_entries(3)
    md5 = make_entries(2, "md5", seed=8)
    store.replace_list("l", pdq + md5, by="importer")
    version = store.version()
    assert store.retract("l", pdq[0].hash.upper(), by="alice") == 1
    assert store.get_list("l").updated_by == "alice"
    assert store.retract("l", pdq[0].hash, by="bob") == 0
    assert store.get_list("l").updated_by == "alice"  # nothing removed, nothing noted
    assert store.retract("l", "0x" + md5[1].hash, algorithm="md5") == 1
    info = store.get_list("l")
    assert info.counts == {"md5": 1, "pdq": 2}
    assert info.version == 3
    assert as_set(store.entries("l")) == {pdq[1], pdq[2], md5[0]}
    assert store.changes_since(version) == [
        StoreChange(version + 1, "l", "retract", "pdq", pdq[0].hash),
        StoreChange(version + 2, "l", "retract", "md5", md5[1].hash),
    ]
    with pytest.raises(InvalidHash):
        store.retract("l", "nothex")
    with pytest.raises(InvalidHash):
        store.retract("l", pdq[1].hash, algorithm="md5")
    with pytest.raises(ListNotFound):
        store.retract("nope", pdq[1].hash)


def test_delete(store, redis_client, key_prefix):
    store.replace_list("keep", make_entries(3))
    store.replace_list("gone", make_entries(3000, seed=2))
    store.delete_list("gone")
    with pytest.raises(ListNotFound):
        store.get_list("gone")
    with pytest.raises(ListNotFound):
        list(store.entries("gone"))
    with pytest.raises(ListNotFound):
        store.delete_list("gone")
    assert [i.name for i in store.lists()] == ["keep"]
    leftover = [k for k in redis_client.scan_iter(match=f"{key_prefix}:list:{{gone}}*")]
    assert leftover == []
    assert store.changes_since(store.version() - 1) == [
        StoreChange(store.version(), "gone", "delete")
    ]


def test_changes_since_and_resync(store, redis_client):
    assert store.version() == 0 and store.changes_since(0) == []
    store.replace_list("a", make_entries(2))
    store.replace_list("b", make_entries(2, seed=2))
    store.delete_list("a")
    assert store.changes_since(0) == [
        StoreChange(1, "a", "replace"), StoreChange(2, "b", "replace"),
        StoreChange(3, "a", "delete"),
    ]
    assert store.changes_since(2) == [StoreChange(3, "a", "delete")]
    assert store.changes_since(3) == []
    assert store.changes_since(99) == [StoreChange(3, "*", "resync")]  # store was reset
    redis_client.xtrim(store.changelog_key, maxlen=1, approximate=False)
    assert store.changes_since(0) == [StoreChange(3, "*", "resync")]
    assert store.changes_since(2) == [StoreChange(3, "a", "delete")]


def test_history_numbers_a_lists_versions_from_the_changelog(store, redis_client):
    both = "ab" * 32  # 64 hex digits: a pdq and a sha256 hash alike
    store.replace_list("l", [ListEntry("pdq", both), ListEntry("sha256", both)])
    store.replace_list("other", make_entries(2))
    store.delete_list("l")  # what came before this is another list's history
    store.replace_list("l", [ListEntry("pdq", both), ListEntry("sha256", both),
                             *make_entries(2, seed=3)])
    assert store.retract("l", both) == 2  # one call, one version, two changelog entries
    # Many changes of another list in between: history pages through the changelog.
    top = store.version()
    pipe = redis_client.pipeline()
    for i in range(1, 1501):
        pipe.xadd(store.changelog_key, {"list": "other", "op": "replace", "algorithm": "",
                                        "hash": ""}, id=f"{top + i}-0")
    pipe.set(store.version_key, top + 1500)
    pipe.execute()
    store.replace_list("l", make_entries(1, seed=4))
    assert store.get_list("l").version == 3
    assert store.history("l") == [
        ListChange(3, top + 1501, "replace"),
        ListChange(2, top - 1, "retract", ("pdq", "sha256"), both),
        ListChange(1, top - 2, "replace"),
    ]
    assert store.history("l", limit=1) == [ListChange(3, top + 1501, "replace")]
    with pytest.raises(ListNotFound):
        store.history("nope")


def test_changelog_is_capped(redis_client, key_prefix):
    store = FingerprintStore(redis_client, key_prefix, changelog_maxlen=10)
    store.replace_list("l", make_entries(300))
    for entry in make_entries(300)[:250]:
        store.retract("l", entry.hash)
    assert redis_client.xlen(store.changelog_key) < 251
    assert store.changes_since(0) == [StoreChange(251, "*", "resync")]
    assert store.changes_since(250) == [StoreChange(251, "l", "retract", "pdq",
                                                    make_entries(300)[249].hash)]


def test_every_change_is_published(store, redis_client):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(store.channel)
    pubsub.get_message(timeout=1.0)
    store.replace_list("l", make_entries(4))
    store.retract("l", make_entries(4)[0].hash)
    store.delete_list("l")
    published = []
    while len(published) < 3:
        message = pubsub.get_message(timeout=5.0)
        assert message is not None, f"only got {published}"
        published.append(int(message["data"]))
    pubsub.close()
    assert published == [1, 2, 3]


def test_all_keys_of_a_list_share_one_slot(store, redis_client, key_prefix, monkeypatch):
    store.replace_list("alpha", make_entries(20) + make_entries(3, "md5"))
    store.replace_list("beta.v2", make_entries(20, seed=3))
    store.replace_list("alpha", make_entries(10, seed=5))  # replaced: aside keys were used
    monkeypatch.setattr(store, "_discard", lambda *args: None)

    def failing() -> Iterator[ListEntry]:
        yield make_entries(1)[0]
        raise ValueError("stop")

    with pytest.raises(ValueError):
        store.replace_list("alpha", failing())  # leaves aside keys: they must share the slot too
    slots: dict[str, set[int]] = {}
    for raw in redis_client.scan_iter(match=f"{key_prefix}*"):
        key = raw.decode()
        group = key.split(":")[2] if ":list:" in key else "store"
        slots.setdefault(group, set()).add(key_slot(raw))
    assert set(slots) == {"{alpha}", "{beta.v2}", "store"}
    assert all(len(s) == 1 for s in slots.values()), slots
    assert key_slot(b"{alpha}") in slots["{alpha}"]


def test_bad_names_and_kinds_are_refused(store):
    for name in ("", "a b", "x{y}", "a:b", "-lead", "x" * 129):
        with pytest.raises(InvalidListName):
            store.replace_list(name, [])
    with pytest.raises(InvalidListKind, match="kind"):
        store.replace_list("ok", [], kind="maybe")
    with pytest.raises(ListNotFound):
        store.get_list("ok")


def test_bad_entries_from_api_callers_change_nothing(store, redis_client, key_prefix):
    before = snapshot(redis_client, key_prefix)
    with pytest.raises(InvalidHash):
        store.replace_list("l", [ListEntry("md5", "z" * 32)])
    with pytest.raises(InvalidHash):
        store.replace_list("l", [ListEntry("md5", "a" * 31)])
    assert snapshot(redis_client, key_prefix) == before


def test_empty_list_and_context_store(settings):
    context = AppContext(settings)
    try:
        store = context.store
        assert store.prefix == settings.redis_key_prefix
        result = store.replace_list("empty", [])
        assert (result.added, result.removed, result.unchanged) == (0, 0, 0)
        assert store.get_list("empty").counts == {}
        assert list(store.entries("empty")) == []
    finally:
        context.close()


@pytest.mark.parametrize("operation", ["retract", "delete"])
def test_a_change_between_read_and_write_is_retried_then_refused(store, redis_client,
                                                                 key_prefix, monkeypatch,
                                                                 operation):
    """The script refuses a list whose token moved after it was read (a replace by another
    client): the operation reads again and succeeds; a list that never stops changing gets
    StoreConflict and is left as it was."""
    from spinneret.matcher.store import StoreConflict

    entries = make_entries(5)
    store.replace_list("l", entries)
    other = FingerprintStore(redis_client, key_prefix)
    real_meta = store._meta
    replaces = {"left": 1}

    def meta_then_replace(keys):
        meta = real_meta(keys)
        if replaces["left"]:
            replaces["left"] -= 1
            other.replace_list("l", entries)  # same entries, new token
        return meta

    def run():
        if operation == "retract":
            return store.retract("l", entries[0].hash, "pdq")
        return store.delete_list("l")

    monkeypatch.setattr(store, "_meta", meta_then_replace)
    result = run()
    assert replaces["left"] == 0
    if operation == "retract":
        assert result == 1 and as_set(store.entries("l")) == set(entries[1:])
    else:
        with pytest.raises(ListNotFound):
            store.get_list("l")

    store.replace_list("l", entries)
    replaces["left"] = 99
    with pytest.raises(StoreConflict, match=f"kept changing; {operation} not done"):
        run()
    replaces["left"] = 0
    assert as_set(store.entries("l")) == set(entries)
