"""The crawled-image pipeline (hash, match, record) with a real Redis hash cache and a real
records database (SQLite and PostgreSQL): bytes already hashed under one URL are not hashed
again under another."""

from __future__ import annotations

import pytest

import spinneret.runtime.pipeline
from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hash_cache import HashCache
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import ListEntry, ListInfo
from spinneret.records.crawls import CrawlRepository
from spinneret.records.db import Database
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.pipeline import ImageJob, ImageProcessor

PAGE = "http://site.test/gallery"


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real hashing runs: the pipeline's hashing function, wrapped, still runs."""
    calls: list[int] = []
    real = spinneret.runtime.pipeline.hash_for_matching

    def counting(data, *args, **kwargs):
        calls.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(spinneret.runtime.pipeline, "hash_for_matching", counting)
    return calls


def _processor(db: Database, redis_client, settings, matcher: Matcher) -> ImageProcessor:
    """A processor as each worker process builds its own, with the cache on the shared Redis."""
    return ImageProcessor(matcher, ImageRecorder(db), HashOptions.from_settings(settings),
                          HashCache(redis_client, settings.redis_key_prefix,
                                    settings.hash_cache_ttl_s))


def test_same_bytes_under_another_url_reuse_the_hashes(db, redis_client, settings, hash_calls):
    listed, other = encode(generate(4, (320, 240))), encode(generate(5, (320, 240)))
    matcher = Matcher(Thresholds.from_settings(settings))
    info = ListInfo("block", "block", "test", "policy", "", 1, {}, 0.0, 0.0, "test")
    matcher.load_list(info, [ListEntry("sha256", HashCache.sha256_of(listed), "listed", "1")])
    site_id = SiteRepository(db).add(NewSite(
        base_url="http://site.test/", name="site", owner_email="owner@example.invalid")).id
    crawl_id = CrawlRepository(db).create(site_id).id

    def job(url: str) -> ImageJob:
        return ImageJob(crawl_id, site_id, PAGE, url, "img")

    first = _processor(db, redis_client, settings, matcher).process(job("http://site.test/a.png"), listed)
    assert (first.status, first.reused_hashes, len(hash_calls)) == ("hashed", False, 1)
    # The same bytes under another URL, in another processor (another worker process):
    # the hashes come from Redis, not from hashing again.
    second = _processor(db, redis_client, settings, matcher).process(job("http://cdn.test/copy.png"), listed)
    assert (second.status, second.reused_hashes, len(hash_calls)) == ("hashed", True, 1)
    assert second.sha256 == first.sha256
    assert [(m.list, m.algorithm, m.distance) for m in second.matches] == [
        (m.list, m.algorithm, m.distance) for m in first.matches] == [("block", "sha256", 0)]
    # Other bytes are hashed.
    third = _processor(db, redis_client, settings, matcher).process(job("http://site.test/b.png"), other)
    assert (third.reused_hashes, third.matches, len(hash_calls)) == (False, [], 2)

    events = {e.url: e for e in ImageRecorder(db).events(crawl_id)}
    assert set(events) == {"http://site.test/a.png", "http://cdn.test/copy.png",
                           "http://site.test/b.png"}
    assert events["http://cdn.test/copy.png"].sha256 == first.sha256
    assert {e.status for e in events.values()} == {"hashed"}
    matched = {m.image_url for m in MatchRepository(db).list(crawl_id=crawl_id)}
    assert matched == {"http://site.test/a.png", "http://cdn.test/copy.png"}
