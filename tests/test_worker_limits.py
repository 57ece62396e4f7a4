"""Worker children are recycled above their hash index plus the per-task allowance."""

from __future__ import annotations

import time

import numpy as np

from spinneret.cli.worker_cmd import child_memory_limit_kb
from spinneret.matcher.matching import Matcher, Thresholds, estimate_index_bytes
from spinneret.matcher.store import ListEntry
from spinneret.records.images import ImageRecorder
from spinneret.runtime.context import AppContext


def test_estimate_covers_the_real_index():
    rng = np.random.default_rng(3)
    entries = [ListEntry("pdq", rng.bytes(32).hex()) for _ in range(20_000)]
    entries += [ListEntry("phash", rng.bytes(8).hex()) for _ in range(20_000)]
    entries += [ListEntry("md5", rng.bytes(16).hex()) for _ in range(20_000)]
    entries += [ListEntry("sha256", rng.bytes(32).hex()) for _ in range(20_000)]
    matcher = Matcher(Thresholds.defaults())
    from spinneret.matcher.store import ListInfo

    counts = {"pdq": 20_000, "phash": 20_000, "md5": 20_000, "sha256": 20_000}
    info = ListInfo("big", "block", "", "", "", 1, counts, 0, 0, "")
    matcher.load_list(info, entries)
    assert estimate_index_bytes(info.counts) >= matcher.memory_bytes()
    for name, count in counts.items():  # per algorithm too
        alone = Matcher(Thresholds.defaults())
        alone.load_list(ListInfo(name, "block", "", "", "", 1, {name: count}, 0, 0, ""),
                        [e for e in entries if e.algorithm == name])
        assert alone.memory_bytes() <= estimate_index_bytes({name: count}), name


def test_limit_grows_with_the_lists_in_the_store(settings):
    context = AppContext(settings)
    empty = child_memory_limit_kb(context)
    assert empty == settings.worker_max_memory_kb
    rng = np.random.default_rng(4)
    context.store.replace_list("big", [ListEntry("pdq", rng.bytes(32).hex()) for _ in range(5000)])
    grown = child_memory_limit_kb(context)
    assert grown >= empty + 2 * estimate_index_bytes({"pdq": 5000}) // 1024 > empty
    context.close()


def test_worker_child_over_its_memory_limit_is_replaced_and_the_work_goes_on(settings, tmp_path):
    from spinneret.runtime.celery_app import configure
    from spinneret.runtime.sink import build_payload
    from spinneret.worker.tasks import hash_and_match
    from tests.sites import png_bytes
    from tests.worker_helpers import (
        WorkerProcess,
        found_image,
        new_crawl,
        pipeline_context,
        pool_children,
    )

    context = pipeline_context(settings)
    # 1 KiB: any child is over it after its first task (the store holds no lists, so this
    # is the whole limit `spinneret worker` gives its children).
    worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=1,
                                 SPINNERET_WORKER_MAX_MEMORY_KB="1")
    try:
        worker.wait_ready(configure(context.settings, context.redis_url))
        crawl = new_crawl(context)
        children = [pool_children(worker.process.pid)]
        for n in range(2):
            payload = build_payload(found_image(crawl, f"{n}.png", png_bytes(n, (32, 32))),
                                    context.settings, context.transit_redis)
            result = hash_and_match.apply_async(args=[payload], ignore_result=False).get(60)
            assert result["status"] == "hashed"
            deadline = time.monotonic() + 30
            while pool_children(worker.process.pid) in ([], children[-1]):
                assert time.monotonic() < deadline, "the child was not replaced"
                time.sleep(0.05)
            children.append(pool_children(worker.process.pid))
    finally:
        worker.stop()
        context.close()
    assert len({tuple(pids) for pids in children}) == 3, f"a new child after each task: {children}"
    assert "exited prematurely" not in worker.log_path.read_text(), "recycled, not lost"
    events = ImageRecorder(context.db).events(crawl.id)
    assert sorted((e.url.rsplit("/", 1)[1], e.status) for e in events) == [
        ("0.png", "hashed"), ("1.png", "hashed")]
