"""Retro-match end to end, on SQLite and PostgreSQL with the real Redis store and a loopback
HTTP site: images a crawl saw, then a list grows; the still-served image is matched and
noticed, the removed one (404) is not; a re-import adding nothing matches nothing new; a
weak entry does not decide alone."""

from __future__ import annotations

import pytest
from aiohttp import web

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hash_cache import HashCache
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import FingerprintStore, ListEntry
from spinneret.notices.service import NoticeService
from spinneret.records.crawls import CrawlRepository
from spinneret.records.image_hashes import ImageHashRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.pipeline import ImageJob, ImageProcessor
from spinneret.runtime.retro_match import RetroMatcher, RetroResults
from tests.sites import serving
from tests.worker_helpers import crawled


@pytest.fixture
async def site():
    """A loopback site serving images by path; a path set to None answers 404."""
    served: dict[str, bytes | None] = {}

    async def image(request: web.Request) -> web.Response:
        body = served.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="image/png")

    app = web.Application()
    app.router.add_get("/img/{name}", image)
    async with serving(app) as base:
        yield base, served


def _pdq(data: bytes) -> str:
    return hash_image(data, HashOptions(("pdq",))).get("pdq").hex


async def test_retro_match_end_to_end(db, redis_client, settings, site):
    base, served = site
    images = {name: encode(generate(seed, (320, 240)))
              for name, seed in (("kept", 11), ("removed", 12), ("other", 13), ("weak", 14))}
    for name, data in images.items():
        served[f"/img/{name}.png"] = data
    store = FingerprintStore(redis_client, settings.redis_key_prefix)
    store.replace_list("X", [ListEntry("pdq", _pdq(encode(generate(99, (320, 240)))), "old")])

    # The crawl: every image goes through the crawl's pipeline (hash, match, record).
    site_id = SiteRepository(db).add(NewSite(
        base_url=f"{base}/", name="site", owner_email="owner@example.invalid")).id
    crawl_id = CrawlRepository(db).create(site_id).id
    matcher = Matcher.from_store(store, Thresholds.from_settings(settings))
    processor = ImageProcessor(matcher, ImageRecorder(db), HashOptions.from_settings(settings),
                               HashCache(redis_client, settings.redis_key_prefix, 60))
    for name, data in images.items():
        outcome = processor.process(
            ImageJob(crawl_id, site_id, f"{base}/", f"{base}/img/{name}.png"), data)
        assert outcome.status == "hashed" and not outcome.matches
    hashes = ImageHashRepository(db)
    assert hashes.count("pdq") == 4  # every content's hashes are kept, once each
    assert not MatchRepository(db).list()

    # The list grows: two seen images are added; one has gone from the site since.
    served["/img/removed.png"] = None
    v2 = store.replace_list("X", [
        ListEntry("pdq", _pdq(encode(generate(99, (320, 240)))), "old"),
        ListEntry("pdq", _pdq(images["kept"]), "kept", "k1"),
        ListEntry("pdq", _pdq(images["removed"]), "removed", "r1"),
    ])
    retro = RetroMatcher(store, db, settings)
    result = await retro.run("X", v2.version)
    assert (result.new_entries, result.matched, result.gone) == (2, 1, 1)
    assert result.summary == f"v{v2.version} of list X matched 1 images seen before"
    assert RetroResults(store).get("X", v2.version) == result
    matches = MatchRepository(db).list()
    assert [(m.image_url, m.crawl_id, m.decision, m.label) for m in matches] == [
        (f"{base}/img/kept.png", None, "auto", "kept")]

    # The auto match becomes a notice through the usual grouping.
    policy = NoticeService(db, settings).apply_policy(now=True)
    assert policy.collected.items_added == 1

    # Re-importing the same entries adds nothing: nothing new is matched.
    v3 = store.replace_list("X", [
        ListEntry("pdq", _pdq(encode(generate(99, (320, 240)))), "old"),
        ListEntry("pdq", _pdq(images["kept"]), "kept", "k1"),
        ListEntry("pdq", _pdq(images["removed"]), "removed", "r1"),
    ])
    again = await retro.run("X", v3.version)
    assert (again.new_entries, again.matched) == (0, 0)
    assert again.summary == f"v{v3.version} of list X matched 0 images seen before"
    assert len(MatchRepository(db).list()) == 1

    # Running a version twice records nothing twice.
    await retro.run("X", v2.version)
    assert len(MatchRepository(db).list()) == 1

    # A weak entry (the list's own quality below the floor) never decides alone.
    v4 = store.replace_list("X", [
        ListEntry("pdq", _pdq(encode(generate(99, (320, 240)))), "old"),
        ListEntry("pdq", _pdq(images["kept"]), "kept", "k1"),
        ListEntry("pdq", _pdq(images["removed"]), "removed", "r1"),
        ListEntry("pdq", _pdq(images["weak"]), "weak", "w1", quality=5),
    ])
    weak = await retro.run("X", v4.version)
    assert (weak.new_entries, weak.candidates, weak.matched, weak.checked) == (1, 1, 0, 0)
    assert len(MatchRepository(db).list()) == 1


async def test_review_distance_match_becomes_a_review_item(db, redis_client, settings, site):
    """An entry near (not equal to) a seen image: decided "review" exactly as live."""
    base, served = site
    data = encode(generate(21, (320, 240)))
    served["/img/a.png"] = data
    store = FingerprintStore(redis_client, settings.redis_key_prefix)
    crawled(db, settings, base, {"/img/a.png": data})
    limits = Thresholds.from_settings(settings).per_algorithm["pdq"]
    near = _flip_bits(_pdq(data), limits.auto + 2)  # beyond auto, within review
    assert limits.auto + 2 <= limits.review
    v1 = store.replace_list("Y", [ListEntry("pdq", near, "near", "n1")])
    result = await RetroMatcher(store, db, settings).run("Y", v1.version)
    assert result.matched == 1
    assert [m.decision for m in MatchRepository(db).list()] == ["review"]
    assert len(NoticeService(db, settings).review_queue()) == 1


def _flip_bits(hex_hash: str, count: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(count):
        value ^= 1 << (bit * 7)
    return f"{value:0{len(hex_hash)}x}"


async def test_cli_import_prints_the_retro_match_line(cli, settings, redis_client, site,
                                                      tmp_path):
    """`spinneret lists import` keeps its lines and adds the retro-match one (in-process
    pipeline: the retro-match runs in the command)."""
    import asyncio

    from spinneret.records.db import Database

    base, served = site
    data = encode(generate(31, (320, 240)))
    served["/img/a.png"] = data
    db = Database.from_settings(settings)
    db.upgrade()
    crawled(db, settings, base, {"/img/a.png": data})
    path = tmp_path / "x.csv"
    path.write_text(f"algorithm,hash,label,source_id\npdq,{_pdq(data)},a,a1\n")
    # The command runs its own event loop (the site is served by this one): in a thread.
    code, out, err = await asyncio.to_thread(cli, "lists", "import", str(path), "--list", "X")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("imported list X (block) version 1: added 1, removed 0")
    assert lines[-1] == "v1 of list X matched 1 images seen before"
    code, out, _ = await asyncio.to_thread(cli, "lists", "show", "X")
    assert "retro-match" in out and "matched 1" in out  # the table may fold the line
    code, out, _ = await asyncio.to_thread(cli, "lists", "import", str(path), "--list", "X")
    assert out.splitlines()[-1] == "v2 of list X matched 0 images seen before"
    assert [m.image_url for m in MatchRepository(db).list()] == [f"{base}/img/a.png"]
    db.dispose()


async def test_recheck_goes_through_the_ssrf_guard(db, redis_client, settings, site):
    """A deployment that may not reach private addresses does not fetch a loopback image
    for retro-match either: it cannot tell, records nothing and says why."""
    base, served = site
    data = encode(generate(61, (320, 240)))
    served["/img/a.png"] = data
    store = FingerprintStore(redis_client, settings.redis_key_prefix)
    crawled(db, settings, base, {"/img/a.png": data})
    v1 = store.replace_list("Z", [ListEntry("pdq", _pdq(data), "a", "1")])
    guarded = settings.model_copy(update={"allow_private_networks": False})
    result = await RetroMatcher(store, db, guarded).run("Z", v1.version)
    assert (result.checked, result.matched, result.unknown) == (1, 0, 1)
    assert "could not check" in result.notes[0]
    assert not MatchRepository(db).list()


async def test_exact_entries_md5_and_sha256_are_retro_matched(db, redis_client, settings,
                                                              site):
    import hashlib

    base, served = site
    first, second = encode(generate(71, (320, 240))), encode(generate(72, (320, 240)))
    served["/img/a.png"], served["/img/b.png"] = first, second
    store = FingerprintStore(redis_client, settings.redis_key_prefix)
    crawled(db, settings, base, {"/img/a.png": first, "/img/b.png": second})
    v1 = store.replace_list("E", [
        ListEntry("md5", hashlib.md5(first).hexdigest(), "by md5", "m"),
        ListEntry("sha256", hashlib.sha256(second).hexdigest(), "by sha256", "s"),
    ])
    result = await RetroMatcher(store, db, settings).run("E", v1.version)
    assert (result.candidates, result.matched) == (2, 2)
    assert sorted((m.algorithm, m.decision, m.image_url) for m in MatchRepository(db).list()) == [
        ("md5", "auto", f"{base}/img/a.png"), ("sha256", "auto", f"{base}/img/b.png")]


def test_a_retro_match_is_recorded_once_even_when_two_runs_race(db):
    """Both runs passed the "already matched?" check: the partial UNIQUE index on matches
    without a crawl (migration 0005) still keeps one row."""
    from spinneret.records.images import _insert_matches
    from spinneret.records.sqltypes import url_key
    from spinneret.records.types import MatchRecordInput

    site_id = SiteRepository(db).add(NewSite(
        base_url="http://site.test/", name="site", owner_email="owner@example.invalid")).id
    match = MatchRecordInput("L", "pdq", "a" * 64, "b" * 64, 3, "auto")
    url = "http://site.test/a.png"
    for _run in range(2):
        with db.session() as session:
            _insert_matches(session, None, site_id, url, url_key(url), None, "c" * 64, [match])
    assert len(MatchRepository(db).list()) == 1
