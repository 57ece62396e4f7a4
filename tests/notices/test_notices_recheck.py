"""Recheck against a real test site: conditional GET, removal, changed content, re-upload."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from aiohttp import web
from PIL import Image, ImageDraw
from sqlalchemy import select

from matcher.hashing import HashOptions, hash_image
from notices.review import ALREADY_REMOVED
from notices.service import NoticeService
from records.models import AuditEvent, Match
from tests.notices.conftest import image_of
from tests.notices.smtp_server import free_port


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
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.url = f"http://127.0.0.1:{port}/img/a.png"
    yield state
    await runner.cleanup()


async def test_removed_with_time_to_removal_then_reappeared(db, settings, clock, make_site,
                                                            record_match, test_site):
    settings.notice_batch_window_s = 0
    settings.recheck_interval_s = 3600
    settings.removed_recheck_interval_s = 7 * 86400
    service = NoticeService(db, settings, clock=clock)
    phash = hash_image(test_site.body, HashOptions(algorithms=("phash",))).get("phash").hex
    site = make_site()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash)
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
    assert item.status == "removed"
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


async def test_changed_content_counts_as_removed(db, settings, clock, make_site, record_match,
                                                 test_site):
    settings.notice_batch_window_s = 0
    service = NoticeService(db, settings, clock=clock)
    phash = hash_image(test_site.body, HashOptions(algorithms=("phash",))).get("phash").hex
    site = make_site()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash)
    service.apply_policy()
    test_site.body, test_site.etag = _image(9), '"other"'  # a different picture, same URL
    checked, _ = await service.recheck_once()
    assert len(checked.removed) == 1


async def test_private_address_refused_without_permission(db, settings, clock, make_site,
                                                          record_match, test_site):
    settings.notice_batch_window_s = 0
    settings.allow_private_networks = False
    service = NoticeService(db, settings, clock=clock)
    site = make_site()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash="0" * 16)
    service.apply_policy()
    checked, _ = await service.recheck_once()
    assert len(checked.unknown) == 1 and test_site.requests == []
    assert service.list()[0].items[0].status == "open"


def _hex_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_still_matches_compares_the_variant_that_was_found():
    """A crop found through a cropdct guess, or a rotation found through a PDQ dihedral hash,
    stores that variant as the query hash; the recheck must compare against the variants too
    or every such item would look removed on its first recheck."""
    from config import Settings
    from matcher.decode import decode_image
    from matcher.hashing import hash_image_decoded
    from notices.recheck import still_matches
    from spinneret.demo import edits
    from spinneret.demo.images import generate

    settings = Settings()
    original = generate(21, (640, 480))
    listed = hash_image(edits.encode(original))

    cropped = edits.encode(edits.crop(original, 0.10))
    hashes, _ = hash_image_decoded(cropped, variants=True)
    guesses = [v.hex for v in hashes.variants if v.algorithm == "cropdct"]
    found = min(guesses, key=lambda h: _hex_distance(h, listed.get("cropdct").hex))
    assert _hex_distance(found, hashes.get("cropdct").hex) > settings.cropdct_review_distance
    assert still_matches(cropped, "cropdct", found, settings)

    turned = edits.encode(original.rotate(90, expand=True))
    from matcher.algorithms.pdq import Pdq

    dihedral = [v.hex for v in Pdq().compute_dihedral(decode_image(turned))]
    found = min(dihedral, key=lambda h: _hex_distance(h, listed.get("pdq").hex))
    assert still_matches(turned, "pdq", found, settings)

    other = edits.encode(generate(22, (640, 480)))
    assert not still_matches(other, "cropdct", guesses[0], settings)
    assert not still_matches(other, "pdq", found, settings)


async def test_match_found_before_the_removal_is_not_notified_after_it(
        db, settings, clock, make_site, record_match, test_site):
    """The demo's case: a crop in a notice through dhash also waits for review through phash.
    Once the image is removed, confirming that review (or a late auto match found before the
    removal) must not send a fresh notice; a sighting after the removal must."""
    settings.notice_batch_window_s = 0
    service = NoticeService(db, settings, clock=clock)
    phash = hash_image(test_site.body, HashOptions(algorithms=("phash",))).get("phash").hex
    site = make_site()
    found = clock.now()
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 found_at=found)
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
                 found_at=clock.now() - timedelta(seconds=60))  # a crawl that ran before
    result = service.apply_policy()
    assert (result.collected.already_removed, result.collected.items_added) == (1, 0)
    [notice] = service.list()
    assert notice.status == "removed" and len(notice.deliveries) == 1

    test_site.body = _image(1)  # re-uploaded, and a crawl finds it after the removal
    clock.advance(60)
    record_match(site, test_site.url, algorithm="phash", distance=2, query_hash=phash,
                 found_at=clock.now())
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
