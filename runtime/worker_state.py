"""Per-process worker state: settings, Redis, the following matcher, the image processor.

Built once per worker process (the index is loaded from the store at start) and reused by
every task that process runs.
"""

from __future__ import annotations

import functools
import logging
import threading

from spinneret.matcher.flood import FloodGuard
from spinneret.matcher.hash_cache import HashCache
from spinneret.matcher.hashing import HashOptions
from spinneret.notices.service import NoticeService
from spinneret.records.images import ImageRecorder
from spinneret.runtime.context import AppContext
from spinneret.runtime.ledger import TaskLedger, redeliver_stale
from spinneret.runtime.pipeline import ImageProcessor, audit_quarantine
from spinneret.runtime.recheck import notice_service

log = logging.getLogger(__name__)


class WorkerState:
    def __init__(self, context: AppContext) -> None:
        settings = context.settings
        self.context = context
        self.matcher = context.following_matcher()
        self.recorder = ImageRecorder(context.db)
        self.processor = ImageProcessor(
            self.matcher,
            self.recorder,
            HashOptions.from_settings(settings),
            HashCache(context.redis, settings.redis_key_prefix, settings.hash_cache_ttl_s),
            FloodGuard.from_settings(context.store, settings,
                                     on_trip=functools.partial(audit_quarantine, context.db)),
        )
        # Where image bytes wait for a worker: the task ledger and the imgbytes keys.
        self.transit = context.transit_redis
        self.ledger = TaskLedger(self.transit, settings.redis_key_prefix)
        self._sweeper = _Sweeper(self.ledger, self.transit, settings.redeliver_after_s)
        log.info("worker index loaded: %s", self.matcher.size())
        _warm_up_hashing()

    @functools.cached_property
    def notices(self) -> NoticeService:
        return notice_service(self.context.db, self.context.settings)

    def close(self) -> None:
        self._sweeper.stop()
        self.matcher.stop()
        self.context.close()


class _Sweeper:
    """Re-sends image tasks the broker lost, from every worker process (one at a time)."""

    def __init__(self, ledger: TaskLedger, client, older_than_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ledger, client, older_than_s), daemon=True,
            name="spinneret-redeliver",
        )
        self._thread.start()

    def _run(self, ledger: TaskLedger, client, older_than_s: float) -> None:
        interval = min(60.0, max(1.0, older_than_s / 4))
        while not self._stop.wait(interval):
            try:
                sent = redeliver_stale(ledger, client, older_than_s)
                if sent:
                    log.warning("re-sent %d image task(s) the broker lost", sent)
            except Exception:
                log.exception("redelivery sweep failed; retrying")

    def stop(self) -> None:
        self._stop.set()


def _warm_up_hashing() -> None:
    """Load (or compile, on a fresh install) the numba hashing kernels before the first task,
    so it is not the one that pays for it. A worker hashes many images: numba's per-image
    speed outweighs its ~0.5 s start (`spinneret hash` runs the numpy kernels instead)."""
    import io

    from PIL import Image

    from spinneret.matcher.hashing import hash_image_decoded
    from spinneret.matcher.kernels import prefer_compiled

    prefer_compiled(True)

    buffer = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(buffer, "PNG")
    hash_image_decoded(buffer.getvalue(), variants=True)  # cropdct's guesses have a kernel too


_state: WorkerState | None = None
_lock = threading.Lock()


def current_worker_state() -> WorkerState | None:
    """This process's state if it has been built (never builds it)."""
    return _state


def worker_state() -> WorkerState:
    global _state
    with _lock:
        if _state is None:
            _state = WorkerState(AppContext())
        return _state


def reset_worker_state() -> None:
    global _state
    with _lock:
        if _state is not None:
            _state.close()
        _state = None
