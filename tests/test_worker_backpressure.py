"""Backpressure on the default Redis broker: with no worker consuming, the crawler stops
fetching images once the queue is deeper than `queue_max_depth` (seen in the site's own
request log), and finishes the crawl once a worker drains the queue."""

from __future__ import annotations

import threading
import time

from spinneret.runtime.celery_app import BrokerQueueDepth, configure
from spinneret.runtime.ledger import TaskLedger
from tests.conftest import report
from tests.sites import REQUEST_LOG, Route, build_site, html, png_bytes
from tests.worker_helpers import WorkerProcess, crawl_on_loopback, pipeline_context

IMAGES = 60
MAX_DEPTH = 5
CONCURRENCY = 4
RATE_PER_S = 20.0


def _image_site():
    tags = "".join(f'<img src="/img/{n}.png">' for n in range(IMAGES))
    routes = {"/": Route(html(tags))}
    routes.update({f"/img/{n}.png": Route(png_bytes(n), "image/png") for n in range(IMAGES)})
    return build_site(routes)


def _images_fetched(app) -> int:
    return sum(1 for request in app[REQUEST_LOG] if request.path.startswith("/img/"))


def test_crawler_stops_fetching_images_above_the_queue_bound_and_resumes(settings, tmp_path):
    context = pipeline_context(settings, queue_max_depth=MAX_DEPTH,
                               crawl_concurrency=CONCURRENCY)
    app = _image_site()
    outcome: dict = {}
    crawl = threading.Thread(
        target=lambda: outcome.update(summary=crawl_on_loopback(context, app,
                                                                rate_per_s=RATE_PER_S)),
        daemon=True)
    crawl.start()
    worker = None
    depth = BrokerQueueDepth()
    try:
        # No worker yet: fetching must stall. Wait until no image was fetched for 2 s.
        deadline = time.monotonic() + 60
        fetched, changed_at = _images_fetched(app), time.monotonic()
        while time.monotonic() - changed_at < 2.0:
            assert time.monotonic() < deadline, f"image fetches never stopped ({fetched})"
            time.sleep(0.1)
            now = _images_fetched(app)
            if now != fetched:
                fetched, changed_at = now, time.monotonic()
        queued = depth()
        report(f"no worker: image fetches stalled at {fetched}/{IMAGES}, queue depth {queued}"
               f" (bound {MAX_DEPTH})")
        assert queued > MAX_DEPTH
        # Past the bound by at most the images the crawler had already taken from its
        # frontier: a batch in its buffer plus one in hand per coroutine.
        assert MAX_DEPTH < fetched <= MAX_DEPTH + 1 + 2 * CONCURRENCY

        worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=2)
        worker.wait_ready(configure(context.settings, context.redis_url))
        crawl.join(timeout=180)
        assert not crawl.is_alive(), "the crawl finished once a worker drained the queue"
    finally:
        depth.close()
        if worker is not None:
            worker.stop()
    summary = outcome["summary"]
    assert summary.crawl.status == "finished"
    assert summary.crawl.images_hashed == IMAGES
    assert _images_fetched(app) == IMAGES, "each image fetched once"
    assert TaskLedger(context.transit_redis, context.settings.redis_key_prefix).pending() == 0
    context.close()
