"""The crawl -> record -> notice path sends no notice for an image whose only evidence is a
weak hash (issue 13): a real loopback site, the in-process pipeline, real Redis and records."""

from __future__ import annotations

import io

import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hashing import hash_image
from spinneret.matcher.store import ListEntry
from spinneret.notices.service import NoticeService
from spinneret.records.matches import MatchRepository
from spinneret.runtime.context import AppContext
from tests.test_hash_quality import DEGENERATE
from tests.worker_helpers import crawl_on_loopback


def _smooth(kind: str) -> Image.Image:
    x = np.linspace(0, 1, 480)[None, :]
    y = np.linspace(0, 1, 360)[:, None]
    field = {"ramp": x + 0 * y, "sky": 0.3 * y + 0.1 * x, "dusk": 1 - (x + y) / 2,
             "glow": np.hypot(x - 0.4, y - 0.6)}[kind]
    return Image.fromarray(np.clip(30 + 200 * field, 0, 255).astype(np.uint8)).convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def context(settings):
    ctx = AppContext(settings.model_copy(update={
        "pipeline": "inprocess", "allow_private_networks": True,
        "notice_batch_window_s": 0}))
    _ = ctx.db
    yield ctx
    ctx.close()


def test_no_notice_for_an_image_whose_only_evidence_is_a_weak_hash(context):
    listed_smooth = _smooth("ramp")
    informative = generate(41, (480, 360))
    entries = [ListEntry(algorithm, value, "weak entry", f"weak-{i}")
               for i, (algorithm, value) in enumerate(DEGENERATE)]
    # A listed low-detail design (every hash, one source id) and a detailed photo.
    entries += [ListEntry(v.algorithm, v.hex, "smooth design", "design-1")
                for v in hash_image(encode(listed_smooth)).values]
    entries += [ListEntry(v.algorithm, v.hex, "photo", "photo-41")
                for v in hash_image(encode(informative)).values if v.algorithm != "sha256"
                and v.algorithm != "md5"]
    context.store.replace_list("authority", entries, source="test", category="illegal")

    images = {f"/img/{kind}.jpg": _jpeg(_smooth(kind)) for kind in ("ramp", "sky", "dusk",
                                                                     "glow")}
    images["/img/mirrored-ramp.jpg"] = _jpeg(listed_smooth.transpose(
        Image.Transpose.FLIP_TOP_BOTTOM))
    images["/img/photo.jpg"] = _jpeg(informative)  # the positive control

    async def page(request: web.Request) -> web.Response:
        tags = "".join(f'<img src="{path}">' for path in images)
        return web.Response(text=f"<html><body>{tags}</body></html>", content_type="text/html")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=images[request.path], content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/", page)
    for path in images:
        app.router.add_get(path, image)
    summary = crawl_on_loopback(context, app)
    assert summary.crawl.status == "finished"
    assert summary.crawl.images_hashed == len(images)

    matches = MatchRepository(context.db).list(crawl_id=summary.crawl.id, limit=1000)
    flagged = {m.image_url.rsplit("/", 1)[1] for m in matches}
    assert flagged == {"photo.jpg"}, [(m.image_url, m.algorithm, m.distance) for m in matches]
    assert {m.source_id for m in matches} == {"photo-41"}

    NoticeService(context.db, context.settings).apply_policy()
    notices = NoticeService(context.db, context.settings).list()
    urls = [item.image_url for notice in notices for item in notice.items]
    assert [u.rsplit("/", 1)[1] for u in urls] == ["photo.jpg"]
