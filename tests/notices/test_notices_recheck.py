"""Recheck against a real test site: conditional GET, removal, changed content, re-upload."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from aiohttp import web
from PIL import Image, ImageDraw

from matcher.hashing import HashOptions, hash_image
from notices.service import NoticeService
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
