"""Per-list controls on a real Redis: enable switches for lists and entries, per-list
threshold overrides, and the flood guard quarantining a list version into review (with the
pipeline recording into real SQLite / PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from spinneret.matcher.algorithms import HashValue
from spinneret.matcher.controls import ThresholdOverride
from spinneret.matcher.errors import EntryNotFound, InvalidHash, MatcherError
from spinneret.matcher.flood import FloodGuard
from spinneret.matcher.hash_cache import HashCache
from spinneret.matcher.hashing import HashOptions, ImageHashes
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import FingerprintStore, ListEntry
from spinneret.records.audit import AuditLog
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime import list_controls
from spinneret.runtime.pipeline import ImageJob, ImageProcessor, audit_quarantine

PHASH = "9a3c5e71f0b2d486"  # a hash with enough structure to match on its own


def _flip(hex_: str, bits: int) -> str:
    """`hex_` with its lowest `bits` bits flipped (Hamming distance `bits`)."""
    return f"{int(hex_, 16) ^ ((1 << bits) - 1):0{len(hex_)}x}"


def _query(algorithm: str, hex_: str) -> ImageHashes:
    return ImageHashes((HashValue(algorithm, hex_, 100),), "", 0, 0, 0)


@pytest.fixture
def store(redis_client, key_prefix) -> FingerprintStore:
    return FingerprintStore(redis_client, key_prefix)


def _matcher(store, settings) -> Matcher:
    return Matcher.from_store(store, Thresholds.from_settings(settings))


def test_a_disabled_list_or_entry_matches_nothing_until_enabled(store, settings):
    other = "0" * 63 + "1"
    store.replace_list("bad", [ListEntry("sha256", "a" * 64, "x", "1"),
                               ListEntry("sha256", other, "y", "2")])
    matcher = _matcher(store, settings)
    assert [m.entry_hash for m in matcher.match(_query("sha256", "a" * 64))] == ["a" * 64]

    list_controls.set_enabled(store, "bad", False, by="alice")
    matcher.sync(store)
    assert matcher.match(_query("sha256", "a" * 64)) == []
    assert matcher.match(_query("sha256", other)) == []
    assert not store.get_list("bad").controls.enabled
    list_controls.set_enabled(store, "bad", True, by="alice")
    matcher.sync(store)
    assert len(matcher.match(_query("sha256", other))) == 1

    list_controls.set_entry_enabled(store, "bad", "A" * 64, "sha256", False, by="alice")
    matcher.sync(store)
    assert matcher.match(_query("sha256", "a" * 64)) == []  # the one entry is off
    assert len(matcher.match(_query("sha256", other))) == 1  # the rest still match
    assert store.get_list("bad").controls.disabled_entries == {("sha256", "a" * 64)}
    # A re-import keeps the switches (they are not the list's entries).
    store.replace_list("bad", [ListEntry("sha256", "a" * 64, "x", "1")])
    matcher.sync(store)
    assert matcher.match(_query("sha256", "a" * 64)) == []
    list_controls.set_entry_enabled(store, "bad", "a" * 64, "sha256", True, by="alice")
    matcher.sync(store)
    assert len(matcher.match(_query("sha256", "a" * 64))) == 1
    # Control changes are no list versions.
    assert [c.op for c in store.history("bad")] == ["replace", "replace"]
    # Deleting the list deletes its controls: a new list of that name starts fresh.
    list_controls.set_enabled(store, "bad", False, by="alice")
    store.delete_list("bad")
    store.replace_list("bad", [ListEntry("sha256", "a" * 64, "x", "1")])
    assert store.get_list("bad").controls == store.get_list("bad").controls.__class__()


def test_entry_switches_refuse_what_the_list_does_not_hold(store):
    store.replace_list("l", [ListEntry("sha256", "a" * 64)])
    with pytest.raises(EntryNotFound):
        store.set_entry_enabled("l", "b" * 64, "sha256", False)
    with pytest.raises(InvalidHash):
        store.set_entry_enabled("l", "zz", "sha256", False)
    assert store.get_list("l").controls.disabled_entries == frozenset()


def test_a_per_list_threshold_changes_the_decision(store, settings):
    store.replace_list("strict", [ListEntry("phash", PHASH, "p", "1")])
    store.replace_list("other", [ListEntry("phash", PHASH, "p", "1")])
    matcher = _matcher(store, settings)
    near = _query("phash", _flip(PHASH, 4))  # distance 4: auto under the defaults (6)

    def decisions():
        return {m.list: m.decision for m in matcher.match(near)}

    assert decisions() == {"strict": "auto", "other": "auto"}
    list_controls.set_threshold(store, settings, "strict", "phash", auto=2, review=None,
                                by="alice")
    matcher.sync(store)
    assert decisions() == {"strict": "review", "other": "auto"}  # only that list
    list_controls.set_threshold(store, settings, "strict", "phash", auto=2, review=3,
                                by="alice")
    matcher.sync(store)
    assert decisions() == {"other": "auto"}  # beyond the list's review distance
    assert store.get_list("strict").controls.thresholds == {"phash": ThresholdOverride(2, 3)}
    # Wider review than the deployment's (10) is refused, and so is auto above review.
    with pytest.raises(MatcherError, match="wider"):
        list_controls.set_threshold(store, settings, "strict", "phash", auto=None, review=11,
                                    by="alice")
    with pytest.raises(MatcherError, match="above the review"):
        list_controls.set_threshold(store, settings, "strict", "phash", auto=9, review=8,
                                    by="alice")
    with pytest.raises(MatcherError, match="exact"):
        list_controls.set_threshold(store, settings, "strict", "sha256", auto=1, review=1,
                                    by="alice")
    assert store.get_list("strict").controls.thresholds == {"phash": ThresholdOverride(2, 3)}
    # A trusted list may raise auto up to the deployment's review distance.
    list_controls.set_threshold(store, settings, "strict", "phash", auto=None, review=None,
                                by="alice")
    list_controls.set_threshold(store, settings, "other", "phash", auto=8, review=None,
                                by="alice")
    matcher.sync(store)
    far = _query("phash", _flip(PHASH, 8))
    assert {m.list: m.decision for m in matcher.match(far)} == {
        "strict": "review", "other": "auto"}


def _pipeline(db, redis_client, settings, store, matcher, guard):
    site_id = SiteRepository(db).add(NewSite(
        base_url="http://site.test/", name="site", owner_email="owner@example.invalid")).id
    crawl_id = CrawlRepository(db).create(site_id).id
    processor = ImageProcessor(matcher, ImageRecorder(db), HashOptions.from_settings(settings),
                               HashCache(redis_client, settings.redis_key_prefix, 60), guard)
    jobs = (ImageJob(crawl_id, site_id, "http://site.test/", f"http://site.test/{n}.png")
            for n in range(1000))
    return processor, jobs, crawl_id


def test_a_flooding_list_version_is_quarantined_to_review_and_release_restores(
        db, redis_client, settings, store):
    from spinneret.demo.edits import encode
    from spinneret.demo.images import generate

    listed, unlisted = encode(generate(1, (64, 64))), encode(generate(2, (64, 64)))
    # A bad import: it lists an image every page carries (a logo, a blank).
    store.replace_list("bad-import", [ListEntry("sha256", HashCache.sha256_of(listed), "x", "1")])
    matcher = _matcher(store, settings)
    guard = FloodGuard(store, share=0.5, min_matches=3, window=100,
                       on_trip=lambda tripped: audit_quarantine(db, tripped))
    processor, jobs, crawl_id = _pipeline(db, redis_client, settings, store, matcher, guard)

    assert processor.process(next(jobs), unlisted).matches == []
    decisions = [processor.process(next(jobs), listed).matches[0].decision for _ in range(3)]
    # 2 of 3 images, then 3 of 4: the third match trips the guard, at once.
    assert decisions == ["auto", "auto", "review"]
    held = store.get_list("bad-import").controls.quarantine
    assert (held.version, held.matches, held.images) == (1, 3, 4)
    [event] = AuditLog(db).list(action="list.quarantine")
    assert (event.target, event.details["matches"]) == ("list:bad-import", 3)
    # The matcher, once synced, holds it too (the API's /match, `spinneret match`).
    matcher.sync(store)
    assert [m.decision for m in matcher.match(_query("sha256", HashCache.sha256_of(listed)))
            ] == ["review"]
    assert processor.process(next(jobs), listed).matches[0].decision == "review"
    recorded = [m.decision for m in MatchRepository(db).list(crawl_id=crawl_id)]
    assert recorded == ["auto", "auto", "review", "review"]  # nothing more goes to notices

    list_controls.release(store, "bad-import", by="alice", audit=AuditLog(db))
    [event] = AuditLog(db).list(action="list.release")
    assert (event.actor, event.details["version"]) == ("alice", 1)
    with pytest.raises(MatcherError, match="not quarantined"):
        list_controls.release(store, "bad-import", by="alice")
    assert store.get_list("bad-import").controls.released_version == 1
    matcher.sync(store)
    # Released: this version is not quarantined again, its matches decide auto.
    assert processor.process(next(jobs), listed).matches[0].decision == "auto"
    assert not store.get_list("bad-import").controls.quarantined


def test_an_ordinary_list_is_not_quarantined(db, redis_client, settings, store):
    from spinneret.demo.edits import encode
    from spinneret.demo.images import generate

    listed, unlisted = encode(generate(1, (64, 64))), encode(generate(2, (64, 64)))
    store.replace_list("good", [ListEntry("sha256", HashCache.sha256_of(listed), "x", "1")])
    matcher = _matcher(store, settings)
    guard = FloodGuard.from_settings(store, settings)  # the defaults: 5 %, at least 20
    processor, jobs, _ = _pipeline(db, redis_client, settings, store, matcher, guard)
    for n in range(200):
        processor.process(next(jobs), listed if n % 40 == 0 else unlisted)
    assert not store.get_list("good").controls.quarantined
    assert int(store.client.get(store.images_key)) == 200


def test_the_cli_sets_shows_and_audits_the_controls(cli, store, settings, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    store.replace_list("l", [ListEntry("sha256", "a" * 64, "x", "1"),
                             ListEntry("phash", PHASH, "p", "1")])
    assert cli("lists", "disable", "l")[0] == 0
    code, out, err = cli("lists", "show", "l")
    assert code == 0, err
    assert "no (matches nothing)" in out
    assert cli("lists", "enable", "l")[0] == 0
    code, out, err = cli("lists", "entry-disable", "l", "a" * 64, "--algorithm", "sha256")
    assert code == 0, err
    code, out, err = cli("lists", "set-threshold", "l", "phash", "--auto", "3")
    assert code == 0, err
    code, out, err = cli("lists", "show", "l", "--format", "json")
    controls = json.loads(out)["controls"]
    assert (controls["enabled"], controls["thresholds"], controls["disabled_entries"]) == (
        True, {"phash": {"auto": 3, "review": None}}, [{"algorithm": "sha256", "hash": "a" * 64}])
    # Bad input: one line, status 2, nothing changed.
    code, out, err = cli("lists", "set-threshold", "l", "phash", "--review", "11")
    assert (code, "wider than the deployment's" in err) == (2, True)
    code, out, err = cli("lists", "entry-disable", "l", "b" * 64, "--algorithm", "sha256")
    assert code == 2 and "no sha256 entry" in err
    code, out, err = cli("lists", "release", "l")
    assert code == 2 and "not quarantined" in err
    code, out, err = cli("lists", "disable", "nope")
    assert code == 2
    assert store.get_list("l").controls.thresholds == {"phash": ThresholdOverride(3, None)}
    from spinneret.records.db import Database

    db = Database.from_settings(settings)
    try:
        actions = [e.action for e in AuditLog(db).list()]
    finally:
        db.dispose()
    assert actions == ["list.threshold", "list.entry_disable", "list.enable", "list.disable"]


def test_a_list_imported_before_the_guard_existed_is_not_quarantined(store, redis_client):
    store.replace_list("old", [ListEntry("sha256", "a" * 64)])
    redis_client.hdel(store.list_keys("old").meta, "images_at_import")  # as older versions wrote
    guard = FloodGuard(store, share=0.01, min_matches=1, window=100)
    assert [guard.observe(["old"]) for _ in range(5)] == [set()] * 5
    assert not store.get_list("old").controls.quarantined
