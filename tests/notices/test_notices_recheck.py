"""Recheck against a real test site: conditional GET, removal, changed content, re-upload."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from aiohttp import web
from PIL import Image, ImageDraw
from sqlalchemy import select

from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.notices.review import ALREADY_REMOVED
from spinneret.records.models import AuditEvent, Match
from spinneret.runtime.recheck import notice_service
from tests.notices.conftest import image_of
from tests.sites import serving


def _image(seed: int) -> bytes:
    img = Image.new("RGB", (128, 128), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for n in range(8):
        x = (seed * 37 + n * 29) % 100
        y = (seed * 53 + n * 17) % 100
        draw.rectangle([x, y, x + 20 + n, y + 12], fill=((seed * 80 + n * 30) % 256, 40, 120))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def test_site():
    state = SimpleNamespace(body=_image(1), etag='"v1"', requests=[])

    async def image(request: web.Request) -> web.Response:
        state.requests.append(dict(request.headers))
        if state.body is None:
            return web.Response(status=404)
        if request.headers.get("If-None-Match") == state.etag:
            return web.Response(status=304, headers={"ETag": state.etag})
        return web.Response(body=state.body, content_type="image/png",
                            headers={"ETag": state.etag})

    app = web.Application()
    app.router.add_get("/img/a.png", image)
    async with serving(app) as base:
        state.url = f"{base}/img/a.png"
        yield state


async def test_removed_with_time_to_removal_then_reappeared(db, settings, clock, make_site,
                                                            record_match, test_site):
    settings.notice_batch_window_s = 0
    settings.recheck_interval_s = 3600
    settings.removed_recheck_interval_s = 7 * 86400
    service = notice_service(db, settings, clock=clock)
    phash = hash_image(test_site.body, HashOptions(algorithms=("phash",))).get("phash").hex
    site = make_site()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 entry_hash=phash)
    service.apply_policy()
    sealed_at = clock.now()

    checked, _ = await service.recheck_once()
    assert len(checked.present) == 1
    checked, _ = await service.recheck_once()
    assert checked.checked == 0  # not due again before the recheck interval
    clock.advance(3600)
    checked, _ = await service.recheck_once()
    assert len(checked.present) == 1
    assert test_site.requests[-1].get("If-None-Match") == '"v1"'  # conditional GET, got 304

    test_site.body = None  # the owner removes the image
    clock.advance(7200)
    checked, _ = await service.recheck_once()
    assert len(checked.removed) == 1
    [notice] = service.list()
    assert notice.status == "removed"
    [item] = notice.items
    assert item.status == "removed" and item.closed_reason == "HTTP 404"
    assert _closed_reasons(db) == ["HTTP 404"]
    assert item.time_to_removal_s == (clock.now() - sealed_at).total_seconds() == 10800
    assert service.stats()[0].median_time_to_removal_s == 10800

    clock.advance(3600)
    assert (await service.recheck_once())[0].checked == 0  # removed: lower rate
    test_site.body, test_site.etag = _image(1), '"v2"'  # re-uploaded
    clock.advance(7 * 86400)
    checked, _ = await service.recheck_once()
    assert len(checked.reappeared) == 1
    [notice] = service.list()
    assert notice.status == "sent" and notice.items[0].status == "reappeared"
    assert notice.items[0].closed_reason is None  # open again


async def test_changed_content_counts_as_removed(db, settings, clock, make_site, record_match,
                                                 test_site):
    settings.notice_batch_window_s = 0
    service = notice_service(db, settings, clock=clock)
    phash = hash_image(test_site.body, HashOptions(algorithms=("phash",))).get("phash").hex
    site = make_site()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 entry_hash=phash)
    service.apply_policy()
    test_site.body, test_site.etag = _image(9), '"other"'  # a different picture, same URL
    checked, _ = await service.recheck_once()
    assert len(checked.removed) == 1
    [reason] = _closed_reasons(db)
    assert reason.startswith("no longer matches")


def _closed_reasons(db) -> list[str | None]:
    from spinneret.records.models import NoticeItem

    with db.session() as session:
        return list(session.scalars(select(NoticeItem.closed_reason).where(
            NoticeItem.status == "removed")))


async def test_private_address_refused_without_permission(db, settings, clock, make_site,
                                                          record_match, test_site):
    settings.notice_batch_window_s = 0
    settings.allow_private_networks = False
    service = notice_service(db, settings, clock=clock)
    site = make_site()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash="0" * 16)
    service.apply_policy()
    checked, _ = await service.recheck_once()
    assert len(checked.unknown) == 1 and test_site.requests == []
    assert service.list()[0].items[0].status == "open"


def _hex_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_still_matches_compares_every_variant_the_crawl_looks_up():
    """A crop found through a cropdct guess, or a rotation found through a PDQ dihedral hash:
    the recheck matches the served image against the listed entries exactly as the crawl
    does (every variant), or every such item would look removed on its first recheck."""
    from spinneret.config import Settings
    from spinneret.demo import edits
    from spinneret.demo.images import generate
    from spinneret.matcher.store import ListEntry
    from spinneret.runtime.recheck import still_matches

    settings = Settings(match_dihedral=True)
    original = generate(21, (640, 480))
    listed = hash_image(edits.encode(original))
    cropdct = [ListEntry("cropdct", listed.get("cropdct").hex, "photo", "21")]
    pdq = [ListEntry("pdq", listed.get("pdq").hex, "photo", "21")]

    cropped = edits.encode(edits.crop(original, 0.10))
    assert _hex_distance(hash_image(cropped).get("cropdct").hex, cropdct[0].hash) > 31
    assert still_matches(cropped, cropdct, settings)
    turned = edits.encode(original.rotate(90, expand=True))
    assert still_matches(turned, pdq, settings)
    assert not still_matches(turned, pdq, Settings(match_dihedral=False))

    other = edits.encode(generate(22, (640, 480)))
    assert not still_matches(other, cropdct, settings)
    assert not still_matches(other, pdq, settings)
    assert not still_matches(b"not an image any more", pdq, settings)


async def test_match_found_before_the_removal_is_not_notified_after_it(
        db, settings, clock, make_site, record_match, test_site):
    """The demo's case: a crop in a notice through dhash also waits for review through phash.
    Once the image is removed, confirming that review (or a late auto match found before the
    removal) must not send a fresh notice; a sighting after the removal must."""
    settings.notice_batch_window_s = 0
    service = notice_service(db, settings, clock=clock)
    phash = hash_image(test_site.body, HashOptions(algorithms=("phash",))).get("phash").hex
    site = make_site()
    found = clock.now()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 entry_hash=phash, found_at=found)
    record_match(site, test_site.url, algorithm="dhash", distance=14, decision="review",
                 found_at=found)
    service.apply_policy()
    assert service.review_queue() == []  # in a live notice: nothing to decide

    test_site.body = None
    clock.advance(3600)
    assert len((await service.recheck_once())[0].removed) == 1
    assert service.review_queue() == []  # removed after it was found: still nothing
    with db.session() as session:
        review_id = session.scalar(select(Match.id).where(Match.decision == "review"))
    assert service.confirm(image_of(db, review_id), by="analyst") == ALREADY_REMOVED
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 entry_hash=phash, found_at=clock.now() - timedelta(seconds=60))  # ran before
    result = service.apply_policy()
    assert (result.collected.already_removed, result.collected.items_added) == (1, 0)
    [notice] = service.list()
    assert notice.status == "removed" and len(notice.deliveries) == 1

    test_site.body = _image(1)  # re-uploaded, and a crawl finds it after the removal
    clock.advance(60)
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 entry_hash=phash, found_at=clock.now())
    assert service.apply_policy().collected.items_added == 1
    old, new = service.list()
    assert [i.image_url for i in new.items] == [test_site.url] and new.status == "sent"

    # The weekly recheck of the removed item then finds the re-upload too: the new notice
    # already follows the URL, so the old item stays closed (one reminder stream per URL).
    clock.advance(settings.removed_recheck_interval_s)
    result, follow_up = await service.recheck_once()
    assert len(result.reappeared) == 1
    old, new = service.list()
    assert follow_up.reminders == [new.id]  # the owner is reminded once, by the new notice
    assert old.status == "removed" and [i.status for i in old.items] == ["removed"]
    assert [i.status for i in new.items] == ["open"]
    with db.session() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "notice_item.reappeared")).all()
    assert [e.details["followed_by_notice"] for e in events] == [new.id]


async def test_a_bordered_image_the_crawl_matched_by_its_trimmed_variant_stays_open(
        db, settings, clock, make_site, test_site):
    """Issue 19: a bordered copy still served 200 that the crawl matched through the
    border-trimmed variant is not closed as removed by the recheck."""
    from spinneret.demo import edits
    from spinneret.demo.images import generate
    from spinneret.matcher.matching import Matcher, Thresholds
    from spinneret.matcher.store import ListEntry
    from spinneret.records.crawls import CrawlRepository
    from spinneret.records.images import ImageRecorder
    from spinneret.records.models import NoticeItem
    from spinneret.runtime.pipeline import ImageJob, ImageProcessor
    from tests.test_matching import Info

    settings.notice_batch_window_s = 0
    original = generate(31, (480, 360))
    listed = hash_image(edits.encode(original))
    matcher = Matcher(Thresholds.from_settings(settings))
    matcher.load_list(Info("demo-list"), [ListEntry(v.algorithm, v.hex, "design", "orig-31")
                                          for v in listed.values])
    test_site.body = edits.encode(edits.pad(original, 0.08))
    site = make_site()
    crawl = CrawlRepository(db).create(site.id).id
    processor = ImageProcessor(matcher, ImageRecorder(db), HashOptions.from_settings(settings))
    outcome = processor.process(ImageJob(crawl, site.id, f"{site.base_url}page.html",
                                         test_site.url), test_site.body)
    plain = {v.hex for v in hash_image(test_site.body).values}
    auto = [m for m in outcome.matches if m.decision == "auto"]
    assert auto and all(m.query_hash not in plain for m in auto)  # found by the trimmed hashes

    service = notice_service(db, settings, clock=clock)
    service.apply_policy()
    checked, _ = await service.recheck_once()
    assert checked.removed == [] and len(checked.present) >= 1
    with db.session() as session:
        items = session.scalars(select(NoticeItem)).all()
        assert items and {(i.status, i.closed_reason) for i in items} == {("open", None)}

    test_site.body = None  # now the owner removes it: closed, and why
    clock.advance(settings.recheck_interval_s + 1)
    checked, _ = await service.recheck_once()
    assert checked.removed
    assert set(_closed_reasons(db)) == {"HTTP 404"}


def test_only_a_host_name_that_does_not_exist_closes_an_item():
    import socket
    from types import SimpleNamespace

    import aiohttp

    from spinneret.crawler.conditional import host_unknown
    from spinneret.notices.recheck import GONE, UNKNOWN, FetchResult, verdict

    key = SimpleNamespace(host="gone.example", port=80, ssl=False)
    missing = aiohttp.ClientConnectorDNSError(
        key, socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    flaky = aiohttp.ClientConnectorDNSError(
        key, socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))
    assert host_unknown(missing) and not host_unknown(flaky) and not host_unknown(refused)
    gone = FetchResult(status=None, error="dns", host_unknown=True)
    assert verdict(gone, previous="open", evidence=None, still_matches=_not_asked) == (
        GONE, "host name no longer resolves")
    assert verdict(FetchResult(status=None, error="dns"), previous="open", evidence=None,
                   still_matches=_not_asked) == (UNKNOWN, None)
    assert verdict(FetchResult(status=410), previous="open", evidence=None,
                   still_matches=_not_asked) == (GONE, "HTTP 410")


def _not_asked(body, evidence) -> bool:
    raise AssertionError("no evidence: nothing to compare")
