"""The image task's message (runtime.task_payload): one format for producer and worker, read
tolerantly so workers and producers of neighbouring versions interoperate; and the bounded
set of URLs a sink still waits on (runtime.pipeline_sink)."""

from __future__ import annotations

import pytest

from spinneret.records.images import ImageRecorder
from spinneret.runtime.pipeline_sink import PRUNE_AT, PendingUrls
from spinneret.runtime.sink import build_payload
from spinneret.runtime.task_payload import PAYLOAD_VERSION, ImageTaskPayload, InvalidPayload
from spinneret.runtime.worker_state import WorkerState
from spinneret.worker.tasks import _hash_and_match
from tests.sites import png_bytes
from tests.worker_helpers import found_image, new_crawl, pipeline_context


@pytest.fixture
def context(settings):
    ctx = pipeline_context(settings)
    yield ctx
    ctx.close()


def test_payload_round_trip_inline_and_by_key():
    inline = ImageTaskPayload(crawl_id=3, site_id=2, page_url="http://s/", image_url="http://s/a.png",
                              via="img", sha256="ab" * 32, data=b"\x89PNG")
    message = inline.to_message()
    assert message["v"] == PAYLOAD_VERSION and "data_key" not in message
    assert ImageTaskPayload.from_message(message) == inline
    by_key = ImageTaskPayload(crawl_id=3, site_id=2, page_url="", image_url="http://s/b.png",
                              data_key="p:imgbytes:1")
    message = by_key.to_message()
    assert "data" not in message and message["data_key"] == "p:imgbytes:1"
    assert ImageTaskPayload.from_message(message) == by_key


def test_old_and_newer_messages_are_read():
    # The format before the type existed: no "v", "via"/"sha256" optional.
    old = {"crawl_id": "4", "site_id": 1, "page_url": "http://s/", "image_url": "http://s/x.png",
           "data": bytearray(b"abc")}
    read = ImageTaskPayload.from_message(old)
    assert (read.version, read.crawl_id, read.via, read.sha256, read.data) == (1, 4, "", "", b"abc")
    # A newer producer's extra keys are ignored, not an error.
    newer = {**ImageTaskPayload(1, 1, "", "http://s/y.png", data=b"y").to_message(),
             "v": PAYLOAD_VERSION + 1, "priority": 5, "hints": {"dpi": 72}}
    assert ImageTaskPayload.from_message(newer).image_url == "http://s/y.png"


@pytest.mark.parametrize(("message", "says"), [
    ({"site_id": 1, "page_url": "", "image_url": "u"}, "crawl_id"),
    ({"crawl_id": "x", "site_id": 1, "page_url": "", "image_url": "u"}, "malformed"),
    ({"crawl_id": 1, "site_id": 1, "page_url": "", "image_url": 7}, "image_url"),
    ({"crawl_id": 1, "site_id": 1, "page_url": "", "image_url": "u", "data": "text"}, "data"),
    (["not", "a", "mapping"], "mapping"),
])
def test_a_malformed_message_is_one_clear_error(message, says):
    with pytest.raises(InvalidPayload, match=says):
        ImageTaskPayload.from_message(message)


def test_the_worker_records_an_old_format_message(context):
    crawl = new_crawl(context)
    state = WorkerState(context)
    try:
        message = build_payload(found_image(crawl, "old.png", png_bytes(3, (32, 32))),
                                context.settings, context.redis)
        old = {key: message[key] for key in ("crawl_id", "site_id", "page_url", "image_url", "data")}
        result = _hash_and_match(state, old)
    finally:
        state.close()
    assert result["status"] == "hashed" and result["recorded"]
    [event] = ImageRecorder(context.db).events(crawl.id)
    assert event.url == "http://images.example.invalid/old.png"


def test_pending_urls_forget_what_the_records_hold(context):
    crawl = new_crawl(context)
    recorder = ImageRecorder(context.db)
    pending = PendingUrls()
    urls = [f"http://images.example.invalid/{n}.png" for n in range(PRUNE_AT + 5)]
    for url in urls:
        pending.add(url)
    recorder.record_skipped(crawl.id, crawl.site_id, "http://images.example.invalid/", urls[0],
                            "test")
    assert pending.due_for_pruning()
    pending.forget(recorder.recorded_among(crawl.id, set(pending)))
    assert len(pending) == PRUNE_AT + 4 and urls[0] not in pending
    # What was kept is not queried again until it has doubled.
    pending.add("http://images.example.invalid/new.png")
    assert not pending.due_for_pruning()
    pending.discard(urls[1])
    assert urls[1] not in pending
