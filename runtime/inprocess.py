"""The in-process pipeline: crawled images hashed, matched and recorded by a local process
pool (no Celery). Each pool process keeps its own following matcher, exactly like a worker.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from spinneret.crawler.types import FoundImage
from spinneret.runtime.pipeline import ImageJob
from spinneret.runtime.pipeline_sink import PendingUrls

log = logging.getLogger(__name__)

_child_state = None


def _init_child(env: dict[str, str]) -> None:
    os.environ.update(env)
    global _child_state
    from spinneret.runtime.context import AppContext
    from spinneret.runtime.worker_state import WorkerState  # noqa: PLC0415 - child-only import

    _child_state = WorkerState(AppContext())


def _process(job: ImageJob, data: bytes) -> str:
    if _child_state is None:
        raise RuntimeError("pool initializer did not run")
    return _child_state.processor.process(job, data).status


class ProcessPoolSink:
    """A `PipelineSink` backed by a process pool; pauses the crawler when too much is pending."""

    def __init__(self, processes: int, max_pending: int, env: dict[str, str]) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=processes or os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(env,),
        )
        self._max_pending = max_pending
        self._pending: set[Future] = set()
        self.sent = 0
        self.sent_urls = PendingUrls()  # each leaves once its image is recorded
        self.done = 0
        self.failed: list[BaseException] = []

    async def submit(self, image: FoundImage) -> None:
        """Returns once the image is recorded: until then the crawler keeps it in flight, so a
        crawl killed meanwhile fetches it again on resume instead of losing it."""
        job = ImageJob(image.crawl_id, image.site_id, image.page_url, image.url, image.via)
        future = self._pool.submit(_process, job, image.data)
        self._pending.add(future)
        future.add_done_callback(self._finished)
        self.sent += 1
        self.sent_urls.add(image.url)
        try:
            await asyncio.wrap_future(future)
        except Exception as exc:  # recorded in self.failed; the crawl goes on
            log.error("image %s was not recorded: %s", image.url, exc)
        else:
            self.sent_urls.discard(image.url)

    def _finished(self, future: Future) -> None:
        self._pending.discard(future)
        self.done += 1
        if not future.cancelled() and future.exception() is not None:
            self.failed.append(future.exception())

    def needs_backout(self) -> bool:
        return len(self._pending) >= self._max_pending

    async def drain(self) -> None:
        """Wait until every submitted image is recorded."""
        while self._pending:
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
